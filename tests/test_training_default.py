"""training.train_default's stages on the drawn data set with the tiny preset: all stages, then a cheap re-run."""
from __future__ import annotations

import json

from model import load_checkpoint
from training.synthetic import make_synthetic_dataset
from training.train_default import main


def test_rebuild_runs_every_stage_once_and_reruns_cheaply(tmp_path, capsys):
    make_synthetic_dataset(tmp_path / "pool", per_source=6)
    out = tmp_path / "models" / "convitx_default.safetensors"
    argv = ["--data", str(tmp_path / "pool"), "--preset", "convitx_test", "--pretrained", "none",
            "--work", str(tmp_path / "work"), "--out", str(out), "--epochs", "2", "--batch-size", "8",
            "--loso-folds", "2", "--loso-epochs", "1", "--threads", "1", "--workers", "0", "--quiet"]
    assert main(argv) == 0
    work = tmp_path / "work"
    for path in ("train/best.safetensors", "calibrated.safetensors", "eval/report.json", "loso/summary.json",
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
