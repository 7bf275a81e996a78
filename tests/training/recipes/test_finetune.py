"""The full fine-tune on a tiny drawn data set: train -> evaluate -> calibrate -> export -> app."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

from model import create_model, load_checkpoint, read_info
from model.cli import main as convitx
from model.results import read_csv
from training.data import datasets as ds
from training.data.synthetic import make_synthetic_dataset
from training.evaluation.calibrate import calibrate
from training.evaluation.evaluate import evaluate, read_scores
from training.evaluation.export import export
from training.recipes.finetune.cli import build_parser
from training.recipes.finetune.config import TrainConfig
from training.recipes.finetune.loop import train
from training.recipes.finetune.schedule import Plan

TINY = dict(preset="convitx_test", max_short_side=64, batch_size=8, augment="light", lr=1e-2, warmup_epochs=0.5,
            threads=1, workers=0, quiet=True, plots=False)


@pytest.fixture(scope="module")
def trained(pool, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = train(TrainConfig(data=[str(pool)], out=str(out), epochs=12, **{**TINY, "plots": True}))
    return result


def test_schedule_warms_up_then_decays_to_the_floor():
    plan = Plan(epochs=4, steps_per_epoch=10, warmup_epochs=1, min_lr_ratio=0.1)
    values = [plan(step) for step in range(40)]
    assert values[0] < values[5] < values[9] <= 1.0
    assert max(values) == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(values[10:], values[11:]))
    assert values[-1] == pytest.approx(0.1, abs=0.01)


def test_help_explains_the_data_and_the_run(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for words in ("--pretrained", "--freeze-stages", "--resume", "--minutes", "torchrun", "Kaggle", "--accum-steps"):
        assert words in text


def test_train_evaluate_calibrate_export_and_scan(trained, pool, tmp_path):
    out = trained.out
    assert trained.finished and len(trained.history) == 12
    for name in ("best.safetensors", "last.safetensors", "state.pt", "metrics.csv", "metrics.json", "split.json",
                 "config.json", "done.json", "val_scores.csv"):
        assert (out / name).is_file(), name
    if importlib.util.find_spec("matplotlib"):  # plots are optional; the numbers are always written
        assert (out / "plots" / "loss.png").is_file() and (out / "plots" / "roc.png").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["best"]["val_auc"] >= 0.7  # the drawn pattern is learnable
    split = ds.load_samples(out / "split.json")
    ds.check_disjoint(split["train"], split["val"])

    report = evaluate(trained.best, split["val"], tmp_path / "eval", device="cpu", log=lambda m: None)
    assert report["overall"]["auc"] >= 0.7
    assert {row["condition"] for row in report["robustness"]} == {"jpeg_q90", "jpeg_q75", "resize_0.5", "crop_256"}
    assert {tuple(row["group"]) for row in report["per_source"]} == {(s.label_name, s.source) for s in split["val"]}
    assert (tmp_path / "eval" / "report.md").read_text().count("| ai |") >= 1
    assert (tmp_path / "eval" / "roc.png").is_file() or not importlib.util.find_spec("matplotlib")

    samples, scores = read_scores(tmp_path / "eval" / "scores.csv")
    details = calibrate(trained.best, tmp_path / "calibrated.safetensors", [s.label for s in samples], scores)
    calibrated = read_info(tmp_path / "calibrated.safetensors")
    assert calibrated.thresholds.human_below <= details["decision_threshold"] <= calibrated.thresholds.ai_above
    assert calibrated.metrics["calibration"]["rule"] == "precision"

    final = export(tmp_path / "calibrated.safetensors", tmp_path / "final" / "model.safetensors", name="tiny detector",
                   run_dir=out, report_path=tmp_path / "eval" / "report.json")
    loaded = load_checkpoint(final)
    info = loaded.info
    assert info.name == "tiny detector" and info.preset == "convitx_test"
    assert info.preprocess.mode == "multicrop" and info.preprocess.crop_size == 32
    assert info.thresholds == calibrated.thresholds
    assert info.training["train"]["images"] == len(split["train"]) and info.training["epochs_done"] == 12
    assert info.metrics["validation"]["auc"] == pytest.approx(report["overall"]["auc"])
    assert "## Training data" in info.card and "generator-" in info.card
    assert (tmp_path / "final" / "model.md").read_text() == info.card

    csv_path = tmp_path / "scan.csv"
    assert convitx(["scan", str(pool / "ai"), "--csv", str(csv_path), "--model", str(final), "--quiet"]) == 0
    rows = read_csv(csv_path)
    assert len(rows) == 24 and {r["model"] for r in rows} == {"tiny detector"}
    assert np.mean([r["verdict"] == "ai" for r in rows]) > 0.5


def test_resume_continues_from_the_saved_epoch_and_matches_a_straight_run(pool, tmp_path):
    settings = dict(data=[str(pool)], epochs=3, limit=16, val_limit=8, **TINY)
    straight = train(TrainConfig(out=str(tmp_path / "straight"), **settings))
    first = train(TrainConfig(out=str(tmp_path / "resumed"), stop_after=1, **settings))
    assert not first.finished and first.reason == "stop-after" and len(first.history) == 1
    state = torch.load(tmp_path / "resumed" / "state.pt", weights_only=True)
    assert state["epoch"] == 1
    resumed = train(TrainConfig(out=str(tmp_path / "resumed"), threads=1, workers=0, quiet=True, plots=False),
                    resume=True)  # data and the rest come from the run's config.json
    assert resumed.finished and [row["epoch"] for row in resumed.history] == [1, 2, 3]
    a = load_checkpoint(straight.last).network.state_dict()
    b = load_checkpoint(resumed.last).network.state_dict()
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6), key
    assert resumed.history[-1]["train_loss"] == pytest.approx(straight.history[-1]["train_loss"], rel=1e-5)


def test_time_budget_stops_cleanly_with_a_checkpoint(pool, tmp_path):
    result = train(TrainConfig(data=[str(pool)], out=str(tmp_path / "run"), epochs=50, minutes=0.0005,
                               limit=16, val_limit=8, **TINY))
    assert result.reason == "time budget" and not result.finished and len(result.history) == 1
    assert load_checkpoint(result.best).info.preset == "convitx_test"
    assert json.loads((tmp_path / "run" / "done.json").read_text())["reason"] == "time budget"


def test_frozen_stages_ema_accumulation_and_unreadable_files(tmp_path):
    root = tmp_path / "pool"
    manifest = make_synthetic_dataset(root, per_source=3)
    (root / "ai" / "generator-0" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with open(manifest, "a", encoding="utf-8") as handle:
        handle.write("ai\tgenerated\tgenerator-0\tsynthetic\t\tbroken.png\t1\t1\t10\tai/generator-0/broken.png\n")
    result = train(TrainConfig(data=[str(root)], out=str(tmp_path / "run"), epochs=2, split="none", freeze_stages=1,
                               ema=0.9, accum_steps=2, **{**TINY, "batch_size": 4}))
    assert result.finished and sum(row["replaced_unreadable"] for row in result.history) >= 1
    assert all(row["train_images"] == 16 for row in result.history)  # 19 images, full batches of 4
    torch.manual_seed(0)
    initial = create_model("convitx_test").state_dict()
    trained_weights = load_checkpoint(result.last).network.state_dict()
    assert torch.equal(trained_weights["cnn.stem.0.weight"], initial["cnn.stem.0.weight"])  # frozen
    assert torch.equal(trained_weights["swin.layers.0.blocks.0.attn.qkv.weight"],
                       initial["swin.layers.0.blocks.0.attn.qkv.weight"])
    assert not torch.equal(trained_weights["cnn.stages.1.blocks.0.gamma"], initial["cnn.stages.1.blocks.0.gamma"])
    ema_weights = load_checkpoint(result.best).network.state_dict()  # no validation: best = the latest EMA weights
    assert not torch.equal(ema_weights["head.1.weight"], trained_weights["head.1.weight"])
