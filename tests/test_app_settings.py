"""Settings file: round trip, and every broken file gives the defaults instead of an error."""
import json
import logging

import pytest

from convitx_desktop.settings import SETTINGS_FILE, SETTINGS_VERSION, Settings


def test_round_trip_and_atomic_write(tmp_path):
    settings = Settings(model_path="/models/a.safetensors", device="cpu", sensitivity=0.1, heatmap_opacity=0.3,
                        view_mode="side-by-side", last_image_folder="/photos")
    settings.save(tmp_path)
    assert Settings.load(tmp_path) == settings
    document = json.loads((tmp_path / SETTINGS_FILE).read_text())
    assert document["version"] == SETTINGS_VERSION
    assert [p.name for p in tmp_path.iterdir()] == [SETTINGS_FILE]  # no temporary file left behind


def test_the_env_var_moves_the_config_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVITX_CONFIG_DIR", str(tmp_path / "cfg"))
    Settings(device="cpu").save()
    assert Settings.load().device == "cpu"
    assert (tmp_path / "cfg" / SETTINGS_FILE).is_file()


@pytest.mark.parametrize("content", [
    b"{ not json",
    b"\xff\xfe\x00garbage",
    b"[1, 2, 3]",
    json.dumps({"version": 0, "device": "cpu"}).encode(),  # an old format
    json.dumps({"device": "cpu"}).encode(),  # no version at all
])
def test_corrupt_or_old_files_give_defaults_and_a_log_line(tmp_path, caplog, content):
    (tmp_path / SETTINGS_FILE).write_bytes(content)
    with caplog.at_level(logging.WARNING):
        assert Settings.load(tmp_path) == Settings()
    assert "using defaults" in caplog.text


def test_bad_values_fall_back_one_by_one(tmp_path):
    document = {"version": SETTINGS_VERSION, "device": "quantum", "sensitivity": 5, "heatmap_opacity": "lots",
                "view_mode": "3d", "model_path": 42, "last_export_folder": "/out"}
    (tmp_path / SETTINGS_FILE).write_text(json.dumps(document))
    settings = Settings.load(tmp_path)
    assert settings.device == "auto" and settings.view_mode == "overlay" and settings.model_path is None
    assert settings.sensitivity == 0.2 and settings.heatmap_opacity == 0.5  # clamped / default
    assert settings.last_export_folder == "/out"


@pytest.mark.parametrize("value", [0, -5, "slow", float("nan")])
def test_decode_timeout_is_seconds_above_zero_else_the_engine_default(tmp_path, value):
    from model.decoding import DEFAULT_DECODE_TIMEOUT

    assert Settings().decode_timeout == DEFAULT_DECODE_TIMEOUT
    (tmp_path / SETTINGS_FILE).write_text(json.dumps({"version": SETTINGS_VERSION, "decode_timeout": 90}))
    assert Settings.load(tmp_path).decode_timeout == 90.0
    (tmp_path / SETTINGS_FILE).write_text(json.dumps({"version": SETTINGS_VERSION, "decode_timeout": value}))
    assert Settings.load(tmp_path).decode_timeout == DEFAULT_DECODE_TIMEOUT


def test_missing_file_gives_defaults_silently(tmp_path, caplog):
    assert Settings.load(tmp_path / "nowhere") == Settings()
    assert not caplog.text


def test_an_unwritable_folder_is_logged_not_raised(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with caplog.at_level(logging.WARNING):
        Settings().save(blocker / "sub")
    assert "could not be saved" in caplog.text
