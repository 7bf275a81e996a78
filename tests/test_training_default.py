"""training.train_default's stages on the drawn data set with the tiny preset: all stages, then a cheap re-run."""
from __future__ import annotations

import json

from pathlib import Path

from model import load_checkpoint
from training.exclusion import image_hashes
from training.synthetic import make_synthetic_dataset
from training.train_default import main


def _exclusion_lists(folder: Path, hashes: list[int]) -> Path:
    folder.mkdir()
    (folder / "EXCLUDE_REPOS.txt").write_text("someone/evaluation-set\n")
    (folder / "EXCLUDE_HASHES.txt").write_text("".join(f"{h:016x}\n" for h in hashes))
    return folder


def test_rebuild_runs_every_stage_once_and_reruns_cheaply(tmp_path, capsys):
    make_synthetic_dataset(tmp_path / "pool", per_source=6)
    held_out = sorted((tmp_path / "pool").rglob("*.png"))[0]  # as if this image were in the evaluation set
    lists = _exclusion_lists(tmp_path / "exclude", list(image_hashes(held_out)))
    unseen = make_synthetic_dataset(tmp_path / "unseen", per_source=2, seed=7)  # from elsewhere:
    unseen.write_text(unseen.read_text().replace("\tsynthetic\t", "\tanother-repository\t"))
    out = tmp_path / "models" / "convitx_default.safetensors"
    argv = ["--data", str(tmp_path / "pool"), "--preset", "convitx_test", "--pretrained", "none",
            "--exclusions", str(lists), "--unseen", str(tmp_path / "unseen" / "MANIFEST.tsv"),
            "--work", str(tmp_path / "work"), "--out", str(out), "--epochs", "2", "--batch-size", "8",
            "--loso-folds", "2", "--loso-epochs", "1", "--threads", "1", "--workers", "0", "--quiet"]
    assert main(argv) == 0
    work = tmp_path / "work"
    split = json.loads((work / "train" / "split.json").read_text())
    used = {row["path"] for rows in split.values() for row in rows}
    assert str(held_out) not in used and len(used) == 35  # the near-duplicate of an evaluation image is dropped
    assert any((work / "cache" / "crops").glob("*.png"))  # native regions cut once
    for path in ("train/best.safetensors", "calibrated.safetensors", "eval/report.json", "unseen/report.json",
                 "loso/summary.json",
                 "loso/summary.md", "loso/fold0/eval/report.json", "loso/fold1/eval/report.json"):
        assert (work / path).is_file(), path
    loso = json.loads((work / "loso" / "summary.json").read_text())
    assert loso["folds"] == 2 and len(loso["per_fold"]) == 2
    held_out = {(row["label"], row["source"]) for row in loso["per_source"]}
    assert len(held_out) == 6  # every source held out exactly once
    info = load_checkpoint(out).info
    assert info.metrics["calibration"]["decision_threshold"] is not None
    assert info.metrics["leave_source_out"]["folds"] == 2
    assert "Unseen generators" in info.card and out.with_suffix(".md").read_text() == info.card
    assert "never seen in training" in info.card and info.metrics["unseen_sources"]["images"] == 12
    assert {row["family"] for row in loso["per_family"]} >= {"human photo"}
    capsys.readouterr()

    stamp = (work / "train" / "best.safetensors").stat().st_mtime
    assert main(argv) == 0  # everything is there: only the export runs again
    log = capsys.readouterr().err
    assert "train: " in log and "is done" in log and "calibrate: " in log and "up to date" in log
    assert "fold 1/2 already done" in log
    assert (work / "train" / "best.safetensors").stat().st_mtime == stamp

    assert main([*argv, "--epochs", "3", "--stages", "export"]) == 0  # more epochs fit the same work folder ...
    assert main([*argv, "--data", str(tmp_path / "pool" / "MANIFEST.tsv")]) == 2  # ... other data does not
    assert "other settings" in capsys.readouterr().err
    assert main([*argv, "--exclusions", str(tmp_path / "nowhere"), "--work", str(tmp_path / "w2")]) == 2
    assert "refuses to start" in capsys.readouterr().err
