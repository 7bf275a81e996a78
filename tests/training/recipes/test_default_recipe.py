"""training.recipes.default on drawn data with the tiny hybrid preset: every stage, then a cheap re-run."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from model import load_checkpoint
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


def test_rebuild_runs_every_stage_once_and_reruns_cheaply(tmp_path, capsys):
    manifest = make_synthetic_dataset(tmp_path / "pool", per_source=6)
    _named_generators(manifest)
    held_out = sorted((tmp_path / "pool").rglob("*.png"))[0]  # as if this image were in the evaluation set
    lists = _exclusion_lists(tmp_path / "exclude", list(image_hashes(held_out)))
    pool2 = make_synthetic_dataset(tmp_path / "pool2", per_source=4, seed=7)
    out = tmp_path / "models" / "convitx_default.safetensors"
    work = tmp_path / "work"
    argv = ["--data", str(manifest), "--pool2", str(pool2), "--pool2-limit", "12", "--preset", "convitx_hybrid_test",
            "--pretrained", "none", "--exclusions", str(lists), "--work", str(work), "--out", str(out),
            "--epochs", "2", "--folds", "2", "--check-images", "4", "--workers", "1"]
    assert main(argv) == 0

    images = json.loads((work / "samples.json").read_text())["images"]
    used = {row["path"] for row in images}
    assert str(held_out) not in used and len(used) == 35 + 12  # the near-duplicate is dropped; pool 2 capped
    assert len(list((work / "outputs").glob("*.npz"))) == len(used)  # the CNN ran once per image
    with open(work / "loso" / "scores.csv", newline="") as handle:
        scored = [row["path"] for row in csv.DictReader(handle)]
    assert sorted(scored) == sorted(used)  # every image held out exactly once
    loso = json.loads((work / "loso" / "summary.json").read_text())
    assert loso["folds"] == 2 and len(loso["per_fold"]) == 2
    families = {row["family"] for row in loso["per_family"]}
    assert {"SDXL and fine-tunes", "FLUX", "Midjourney", "human photo"} <= families
    for fold in loso["per_source"]:  # a family never sits on both sides: each is held out in one fold only
        assert sum(r["source"] == fold["source"] for r in loso["per_source"]) == 1
    check = loso["app_path_check"]
    assert check["images"] == 8 and check["mean_abs_difference"] < 0.01  # the app scores as the cache says

    info = load_checkpoint(out).info
    assert info.preset == "convitx_hybrid_test" and info.preprocess.mode == "native"
    assert info.metrics["calibration"]["validation_images"] == len(used)
    assert info.metrics["leave_source_out"]["folds"] == 2
    card = out.with_suffix(".md").read_text()
    assert card == info.card and "Unseen generators" in card and "without its generator family" in card
    assert "JPEG quality 90, app path" in card and "| human photo |" in card
    capsys.readouterr()

    stamp = (work / "train" / "model.safetensors").stat().st_mtime
    assert main(argv) == 0  # everything is there: nothing is trained or scored again
    log = capsys.readouterr().err
    assert "(47 cached)" not in log and "computing outputs" not in log
    assert "loso: " in log and "up to date" in log and "is done" in log
    assert (work / "train" / "model.safetensors").stat().st_mtime == stamp

    assert main([*argv, "--pool2-limit", "4"]) == 2  # other data does not fit the same work folder
    assert "other settings" in capsys.readouterr().err
    assert main([*argv, "--exclusions", str(tmp_path / "nowhere"), "--work", str(tmp_path / "w2")]) == 2
    assert "refuses to start" in capsys.readouterr().err
