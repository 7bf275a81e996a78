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
    assert "not proof" in done.stdout and "--csv" in done.stdout


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
