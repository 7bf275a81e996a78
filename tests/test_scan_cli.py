"""`convitx scan` end to end, in-process: the CSV a user gets, row for row."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import save_image
from corpus import make_mixed_folder
from model.cli import main
from model.results import CSV_COLUMNS, read_csv


def scan(*args) -> int:
    return main(["scan", *map(str, args), "--quiet"])


def test_mixed_folder_gives_one_row_per_file_and_exit_1(tmp_path, tiny_model_path):
    expected = make_mixed_folder(tmp_path / "in")
    out = tmp_path / "out.csv"
    assert scan(tmp_path / "in", "--csv", out, "--model", tiny_model_path) == 1
    rows = read_csv(out)
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    by_path = {str(Path(r["path"]).relative_to(tmp_path / "in")): r for r in rows}
    assert len(rows) == len(by_path) == len(expected)
    assert set(by_path) == set(expected)
    for name, should_score in expected.items():
        row = by_path[name]
        if should_score:
            assert row["verdict"] in ("ai", "human", "uncertain"), (name, row)
            assert 0.0 <= float(row["p_ai"]) <= 1.0 and int(row["width"]) > 0 and row["error"] == ""
        else:
            assert row["verdict"] == "error" and row["p_ai"] == "" and row["error"], (name, row)
    for name in ("rotated.jpg", "rotated.heic"):
        assert (by_path[name]["width"], by_path[name]["height"]) == ("40", "60"), name
    assert (by_path["phone.heic"]["width"], by_path["phone.heic"]["height"]) == ("120", "90")
    assert (by_path["web.avif"]["width"], by_path["web.avif"]["height"]) == ("100", "70")
    assert "too large" in by_path["bomb.png"]["error"] and "too large" in by_path["bomb.heic"]["error"]
    assert "truncated" in by_path["truncated.jpg"]["error"] and "truncated" in by_path["truncated.heic"]["error"]
    assert not (tmp_path / "out.csv.partial").exists()


def test_all_good_exits_0_and_scores_are_deterministic(tmp_path, tiny_model_path):
    for i in range(5):
        save_image(tmp_path / "in" / f"{i}.png", seed=i)
    assert scan(tmp_path / "in", "--csv", tmp_path / "a.csv", "--model", tiny_model_path) == 0
    assert scan(tmp_path / "in", "--csv", tmp_path / "b.csv", "--model", tiny_model_path, "--batch-size", 2) == 0
    first, second = read_csv(tmp_path / "a.csv"), read_csv(tmp_path / "b.csv")
    assert [r["p_ai"] for r in first] == [r["p_ai"] for r in second]
    assert len({r["p_ai"] for r in first}) > 1  # different images, different scores


def test_file_deleted_between_listing_and_reading(tmp_path, detector):
    from model import expand_paths

    for i in range(3):
        save_image(tmp_path / f"{i}.png", seed=i)
    items = list(expand_paths([tmp_path]))
    (tmp_path / "1.png").unlink()
    results = list(detector.scan(items))
    assert [r.verdict == "error" for r in results] == [False, True, False]
    assert "not found" in results[1].error


def test_no_recursive_stays_in_the_folder(tmp_path, tiny_model_path):
    save_image(tmp_path / "in" / "top.png")
    save_image(tmp_path / "in" / "sub" / "below.png")
    assert scan(tmp_path / "in", "--no-recursive", "--csv", tmp_path / "o.csv", "--model", tiny_model_path) == 0
    assert [Path(r["path"]).name for r in read_csv(tmp_path / "o.csv")] == ["top.png"]


def test_spreadsheet_formulas_in_file_names_are_neutralised(tmp_path, tiny_model_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative path, so the cell really starts with '='
    save_image(tmp_path / "=HYPERLINK(1).png")
    assert scan("=HYPERLINK(1).png", "--csv", "o.csv", "--model", tiny_model_path) == 0
    assert read_csv(tmp_path / "o.csv")[0]["path"] == "'=HYPERLINK(1).png"


def test_json_and_heatmaps_are_written(tmp_path, tiny_model_path):
    save_image(tmp_path / "a.png", width=80, height=64)
    code = scan(tmp_path / "a.png", "--csv", tmp_path / "o.csv", "--json", tmp_path / "o.json",
                "--heatmaps", tmp_path / "maps", "--model", tiny_model_path)
    assert code == 0
    import json

    document = json.loads((tmp_path / "o.json").read_text())
    assert document["results"][0]["path"].endswith("a.png") and document["model"]["name"] == "tiny-test-model"
    maps = list((tmp_path / "maps").glob("*.png"))
    assert len(maps) == 1


def test_copy_history_columns_and_the_provenance_summary_are_written(tmp_path, tiny_model_path):
    import json

    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from conftest import noise_image
    from model.results import read_results_csv

    folder = tmp_path / "in"
    folder.mkdir()
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS 250D"
    exif.get_ifd(0x8769).update({0xA002: 6000, 0xA003: 4000})
    noise_image(800, 533).save(folder / "web.jpg", quality=60, exif=exif)
    Image.new("RGB", (1920, 1080), (235, 235, 235)).save(folder / "screen.png")
    generated = PngInfo()
    generated.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 96x64")
    noise_image(96, 64).save(folder / "made.png", pnginfo=generated)
    out = tmp_path / "o.csv"
    assert scan(folder, "--csv", out, "--json", tmp_path / "o.json", "--model", tiny_model_path) == 0
    rows = {Path(r["path"]).name: r for r in read_csv(out)}
    web, screen, made = rows["web.jpg"], rows["screen.png"], rows["made.png"]
    assert (web["jpeg_quality"], web["resized"]) == ("60", "yes")
    assert "EXIF records 6000×4000" in web["copy_note"] and "JPEG quality about 60" in web["copy_note"]
    assert "only 0.4 MP, JPEG quality about 60" in web["reliability_note"]
    assert (screen["jpeg_quality"], screen["resized"]) == ("", "")
    assert "looks like a screenshot" in screen["copy_note"] and "screenshot" in screen["reliability_note"]
    percent = int(float(made["p_ai"]) * 100)
    assert made["provenance"] == "ai-declared" and made["summary"].startswith("Unsigned metadata (PNG text: ")
    assert made["summary"].endswith(f"declares this image AI-generated; the pixels alone score {percent}%")
    assert web["summary"] == screen["summary"] == ""
    document = json.loads((tmp_path / "o.json").read_text())
    assert {r["summary"] for r in document["results"]} == {r["summary"] for r in rows.values()}
    read_back = {Path(r.path).name: r for r in read_results_csv(out)[0]}
    assert read_back["web.jpg"].jpeg_quality == 60 and read_back["screen.png"].jpeg_quality is None


def test_usage_errors_exit_2(tmp_path, tiny_model_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["scan", str(tmp_path)])  # --csv missing
    assert exc.value.code == 2
    bad_model = tmp_path / "weights.pth"
    bad_model.write_bytes(b"not really")
    assert scan(tmp_path, "--csv", tmp_path / "o.csv", "--model", bad_model) == 2
    assert "training.convert_checkpoint" in capsys.readouterr().err


def test_console_script_help_is_plain(tmp_path):
    env = dict(os.environ)
    done = subprocess.run([sys.executable, "-m", "model.cli", "scan", "--help"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0
    assert "not proof" in done.stdout and "--csv" in done.stdout and "--resume" in done.stdout


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_and_folder_become_error_rows(tmp_path, detector):
    from model import expand_paths

    save_image(tmp_path / "locked.png")
    save_image(tmp_path / "closed" / "inside.png")
    (tmp_path / "locked.png").chmod(0)
    (tmp_path / "closed").chmod(0)
    try:
        results = {Path(r.path).name: r for r in detector.scan(expand_paths([tmp_path]))}
    finally:
        (tmp_path / "locked.png").chmod(0o644)
        (tmp_path / "closed").chmod(0o755)
    assert "permission denied" in results["locked.png"].error
    assert "folder could not be read" in results["closed"].error


# --- streaming and --resume ----------------------------------------------------------------------


def complete_rows(partial: Path) -> int:
    """Rows written so far (header and a torn last line not counted)."""
    try:
        return max(0, partial.read_bytes().count(b"\n") - 1)
    except FileNotFoundError:
        return 0


def test_killed_scan_resumes_without_rescoring_and_repairs_a_torn_line(tmp_path, tiny_model_path, capsys):
    import json
    import signal
    import time

    from model.results import read_results_csv

    folder = tmp_path / "in"
    for i in range(60):
        save_image(folder / f"{i:02d}.png", width=48, height=32, seed=i)
    out, out_json = tmp_path / "out.csv", tmp_path / "out.json"
    partial = tmp_path / "out.csv.partial"
    args = [folder, "--csv", out, "--json", out_json, "--model", tiny_model_path]
    proc = subprocess.Popen([sys.executable, "-m", "model.cli", "scan", *map(str, args), "--quiet",
                             "--batch-size", "1", "--device", "cpu"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while proc.poll() is None and complete_rows(partial) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    stderr = proc.communicate()[1].decode(errors="replace")
    assert proc.returncode == -signal.SIGKILL, f"the scan ended before it could be killed:\n{stderr}"
    assert not out.exists() and not out_json.exists()  # a finished file is complete or absent
    before, torn = read_results_csv(partial)
    assert 3 <= len(before) < 60 and (tmp_path / "out.json.partial").is_file()
    raw_before = read_csv(partial)[: len(before)]
    with open(partial, "a", encoding="utf-8") as handle:  # a kill in the middle of a row
        handle.write(f"{folder / '59.png'},ai,0.97")

    assert scan(*args, "--resume") == 0
    log = capsys.readouterr().err
    assert f"{len(before)} already scored, {60 - len(before)} to go" in log and "torn last line" in log
    rows = read_csv(out)
    assert [Path(r["path"]).name for r in rows] == [f"{i:02d}.png" for i in range(60)]  # each once, in order
    assert rows[: len(before)] == raw_before  # the rows written before the kill, kept as they were
    assert all(r["verdict"] in ("ai", "human", "uncertain") and int(r["file_size"]) > 0 for r in rows)
    document = json.loads(out_json.read_text())
    assert [Path(r["path"]).name for r in document["results"]] == [r["path"].rsplit("/", 1)[-1] for r in rows]
    assert not partial.exists() and not (tmp_path / "out.json.partial").exists()


def test_resume_retries_errors_rescores_changed_files_and_other_models(tmp_path, tiny_model_path, capsys):
    from conftest import make_tiny_checkpoint

    folder, out = tmp_path / "in", tmp_path / "out.csv"
    for name in ("a.png", "b.png", "c.png"):
        save_image(folder / name, seed=ord(name[0]))
    (folder / "d.png").write_bytes(b"not yet")  # an error row, fixed before the resume
    assert scan(folder, "--csv", out, "--model", tiny_model_path, "--resume") == 1
    assert "nothing to resume" in capsys.readouterr().err
    first = {Path(r["path"]).name: r for r in read_csv(out)}
    assert first["d.png"]["verdict"] == "error"

    save_image(folder / "b.png", width=120, seed=99)  # edited: new size, new time
    save_image(folder / "d.png", seed=4)
    assert scan(folder, "--csv", out, "--model", tiny_model_path, "--resume") == 0
    log = capsys.readouterr().err
    assert "2 already scored, 2 to go (1 error rows retried, 1 changed files rescored)" in log
    second = {Path(r["path"]).name: r for r in read_csv(out)}
    assert [Path(r["path"]).name for r in read_csv(out)] == ["a.png", "b.png", "c.png", "d.png"]
    assert second["a.png"] == first["a.png"] and second["c.png"] == first["c.png"]
    assert second["b.png"]["width"] == "120" and second["d.png"]["verdict"] != "error"

    other = make_tiny_checkpoint(tmp_path / "other.safetensors", seed=1, name="other-model")
    assert scan(folder, "--csv", out, "--model", other, "--resume") == 0
    assert "0 already scored, 4 to go (4 rows of another model rescored)" in capsys.readouterr().err
    assert {r["model"] for r in read_csv(out)} == {"other-model"}


def test_ctrl_c_keeps_the_partial_and_resume_finishes(tmp_path, tiny_model_path, capsys, monkeypatch):
    import model.cli

    for i in range(3):
        save_image(tmp_path / "in" / f"{i}.png", seed=i)
    out = tmp_path / "out.csv"
    args = [tmp_path / "in", "--csv", out, "--heatmaps", tmp_path / "maps", "--model", tiny_model_path]
    real_save = model.cli.save_heatmap

    def ctrl_c_on_second(detector, path, folder, index):
        if index == 2:
            raise KeyboardInterrupt
        real_save(detector, path, folder, index)

    monkeypatch.setattr(model.cli, "save_heatmap", ctrl_c_on_second)
    assert scan(*args) == 130
    assert "--resume" in capsys.readouterr().err
    assert not out.exists() and len(read_csv(tmp_path / "out.csv.partial")) == 2
    monkeypatch.setattr(model.cli, "save_heatmap", real_save)
    assert scan(*args, "--resume") == 0
    assert "2 already scored, 1 to go" in capsys.readouterr().err
    assert len(read_csv(out)) == 3
    assert len(list((tmp_path / "maps").glob("*.png"))) == 3  # the second row's heatmap, lost to Ctrl+C, made


def test_resume_refuses_a_file_that_is_not_a_results_csv(tmp_path, tiny_model_path, capsys):
    save_image(tmp_path / "a.png")
    (tmp_path / "budget.csv").write_text("month,amount\njan,3\n")
    assert scan(tmp_path / "a.png", "--csv", tmp_path / "budget.csv", "--model", tiny_model_path, "--resume") == 2
    assert "not a convitx results CSV" in capsys.readouterr().err
    assert (tmp_path / "budget.csv").read_text() == "month,amount\njan,3\n"
