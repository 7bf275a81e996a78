"""Entry points: the command line, and a frozen windowed app without stdout/stderr."""
import sys

from convitx_desktop import app


def test_command_line_takes_a_model_and_paths():
    args = app.build_parser().parse_args(["--model", "m.safetensors", "a.jpg", "folder"])
    assert args.model == "m.safetensors" and args.paths == ["a.jpg", "folder"] and args.theme == "auto"


def test_missing_stdio_goes_to_a_log_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVITX_LOG_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    app.redirect_missing_stdio()
    print("hello from a windowed app")
    sys.stdout.flush()
    assert "hello from a windowed app" in (tmp_path / "console.log").read_text()
    sys.stdout.close()


def test_python_dash_m_entry_exists():
    import importlib.util

    assert importlib.util.find_spec("convitx_desktop.__main__") is not None
