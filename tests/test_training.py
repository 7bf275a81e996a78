"""The training pipeline on a tiny drawn data set: train -> evaluate -> calibrate -> export -> app."""
from __future__ import annotations

import importlib.util
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model import Thresholds, create_model, load_checkpoint, read_info
from model.cli import main as convitx
from model.config import PreprocessConfig
from model.preprocess import crops_to_tensor, working_image
from model.results import read_csv
from training.data import datasets as ds
from training.data.datasets import sample_weights
from training.recipes.augment import NO_AUGMENT, AugmentConfig, augment_image, train_view, view_rng
from training.evaluation.calibrate import calibrate, choose_thresholds
from training.evaluation.evaluate import evaluate, read_scores
from training.evaluation.export import export
from training.evaluation.metrics import band_metrics, binary_metrics, roc_auc, roc_curve
from training.data.synthetic import make_synthetic_dataset
from training.recipes.finetune.cli import build_parser
from training.recipes.finetune.config import TrainConfig
from training.recipes.finetune.loop import train
from training.recipes.finetune.schedule import Plan

TINY = dict(preset="convitx_test", max_short_side=64, batch_size=8, augment="light", lr=1e-2, warmup_epochs=0.5,
            threads=1, workers=0, quiet=True, plots=False)


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> Path:
    """48 drawn images (3 AI and 3 human sources of 8) with a MANIFEST.tsv."""
    root = tmp_path_factory.mktemp("pool")
    make_synthetic_dataset(root, per_source=8)
    return root


@pytest.fixture(scope="module")
def trained(pool, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = train(TrainConfig(data=[str(pool)], out=str(out), epochs=12, **{**TINY, "plots": True}))
    return result


# --- metrics against hand-computed values ---------------------------------------------------------

def test_auc_counts_ties_as_half():
    # positives .9 .5 .5, negatives .5 .1 .7: wins 3 + (1 + 0.5) + (1 + 0.5) = 6 of 9 pairs
    assert roc_auc([1, 1, 0, 0, 1, 0], [0.9, 0.5, 0.5, 0.1, 0.5, 0.7]) == pytest.approx(6 / 9)
    assert roc_auc([1, 0, 1, 0], [0.3, 0.3, 0.3, 0.3]) == 0.5
    assert roc_auc([1, 1, 0], [0.9, 0.8, 0.1]) == 1.0
    assert roc_auc([0, 0, 1], [0.9, 0.8, 0.1]) == 0.0
    assert math.isnan(roc_auc([1, 1], [0.2, 0.3]))


def test_roc_curve_groups_tied_scores():
    fpr, tpr, thresholds = roc_curve([1, 1, 0, 0, 1, 0], [0.9, 0.5, 0.5, 0.1, 0.5, 0.7])
    assert fpr.tolist() == pytest.approx([0, 0, 1 / 3, 2 / 3, 1])
    assert tpr.tolist() == pytest.approx([0, 1 / 3, 1 / 3, 1, 1])
    assert thresholds[1:].tolist() == [0.9, 0.7, 0.5, 0.1]
    assert np.trapezoid(tpr, fpr) == pytest.approx(6 / 9)  # the curve's area is the AUC, ties included


def test_accuracy_balanced_accuracy_and_f1():
    labels = [1, 1, 1, 1, 0, 0]
    scores = [0.9, 0.8, 0.7, 0.2, 0.6, 0.1]  # tp 3, fn 1, fp 1, tn 1 at 0.5
    m = binary_metrics(labels, scores, 0.5)
    assert m["confusion"] == {"tp": 3, "fp": 1, "tn": 1, "fn": 1}
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert m["f1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    assert m["f1_human"] == pytest.approx(2 * 1 / (2 * 1 + 1 + 1))
    assert m["f1_macro"] == pytest.approx((0.75 + 0.5) / 2)
    assert m["auc"] == pytest.approx(7 / 8)
    assert binary_metrics(labels, scores, 0.65)["confusion"] == {"tp": 3, "fp": 0, "tn": 2, "fn": 1}


def test_band_metrics_count_the_uncertain_middle():
    b = band_metrics([1, 1, 0, 0], [0.9, 0.5, 0.45, 0.1], Thresholds(0.4, 0.6))
    assert b["coverage"] == 0.5 and b["decided_accuracy"] == 1.0
    assert b["ai_images"] == {"called_ai": 0.5, "uncertain": 0.5, "called_human": 0.0}


# --- data sets and splits -------------------------------------------------------------------------

def _samples(spec: dict[tuple[int, str], int]) -> list[ds.Sample]:
    return [ds.Sample(f"/x/{label}/{source}/{i}.png", label, source, group=f"source:{source}")
            for (label, source), n in spec.items() for i in range(n)]


POOL_LIKE = {(1, "sd-thumbs"): 90, (1, "faces"): 30, (1, "kolors"): 4, (1, "sdxl"): 3, (1, "flux"): 3,
             (1, "mj"): 2, (1, "misc"): 5, (0, "coco"): 14, (0, "exif"): 12, (0, "dreambooth"): 9, (0, "art"): 4,
             (0, "stock"): 4, (0, "ade"): 6}


@pytest.mark.parametrize("seed", range(5))
def test_group_split_never_straddles_and_keeps_dominant_sources_in_training(seed):
    samples = _samples(POOL_LIKE)
    train_s, val_s = ds.group_split(samples, 0.2, seed=seed, log=lambda m: None)
    ds.check_disjoint(train_s, val_s)
    assert len(train_s) + len(val_s) == len(samples)
    assert {s.label for s in val_s} == {0, 1} and {s.label for s in train_s} == {0, 1}
    assert "sd-thumbs" not in {s.source for s in val_s}  # 69% of its class: never drained into validation
    n_human_val = sum(s.label == 0 for s in val_s)
    assert 3 <= n_human_val <= 17  # about 20% of the 49 human images, in whole sources


def test_ungrouped_images_split_per_image_and_single_source_classes_still_split():
    samples = [ds.Sample(f"/k/{i}.jpg", i % 2, "kaggle") for i in range(40)]
    train_s, val_s = ds.group_split(samples, 0.25, seed=1, log=lambda m: None)
    assert len(val_s) == 10 and sum(s.label for s in val_s) == 5
    one_each = _samples({(1, "gen"): 10, (0, "cam"): 10})
    notes = []
    train_s, val_s = ds.group_split(one_each, 0.2, log=notes.append)
    assert len(val_s) == 4 and len(notes) == 2 and "one source" in notes[0]


def test_source_folds_hold_every_source_out_exactly_once():
    samples = _samples(POOL_LIKE)
    folds = ds.source_folds(samples, 3, seed=0)
    groups = {s.split_group for s in samples}
    assert set().union(*folds) == groups and sum(len(f) for f in folds) == len(groups)
    for k in range(3):
        train_s, val_s = ds.fold_split(samples, 3, k)
        ds.check_disjoint(train_s, val_s)
        assert {s.label for s in val_s} == {0, 1}
    with pytest.raises(ds.DataError, match="at least 8 sources per class"):
        ds.source_folds(samples, 8)
    train_s, val_s = ds.leave_sources_out(samples, ["kolors", "coco"])
    assert {s.source for s in val_s} == {"kolors", "coco"} and len(val_s) == 18
    with pytest.raises(ds.DataError, match="unknown source"):
        ds.leave_sources_out(samples, ["dalle"])


def test_check_disjoint_catches_a_shared_group():
    a, b = _samples({(1, "gen"): 2}), _samples({(1, "gen"): 1})
    with pytest.raises(AssertionError, match="source:gen"):
        ds.check_disjoint(a, b)


def test_readers_folder_kaggle_and_manifests_combine(pool, tmp_path):
    folder = tmp_path / "mine"
    for rel in ("ai/midjourney/a.png", "ai/b.png", "human/c.png", "notes/d.png"):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8)).save(folder / rel)
    found = {Path(s.path).name: s for s in ds.read_folder(folder)}
    assert set(found) == {"a.png", "b.png", "c.png"}
    assert found["a.png"].label == 1 and found["a.png"].source == "ai/midjourney" and found["a.png"].group
    assert found["b.png"].group == "" and found["c.png"].label == 0

    (tmp_path / "train_data").mkdir()
    for i in range(3):
        Image.new("RGB", (8, 8)).save(tmp_path / "train_data" / f"{i}.jpg")
    (tmp_path / "train.csv").write_text(",file_name,label\n0,train_data/0.jpg,1\n1,train_data/1.jpg,0\n"
                                        "2,train_data/2.jpg,1\n3,train_data/missing.jpg,0\n")
    notes = []
    combined = ds.load_data([pool, tmp_path / "train.csv", pool / "MANIFEST.tsv"], log=notes.append)
    assert len(combined) == 48 + 3  # the manifest given twice counts once; the missing file is skipped
    assert any("do not exist" in n for n in notes)
    kaggle = [s for s in combined if s.origin.endswith("train.csv")]
    assert [s.label for s in kaggle] == [1, 0, 1] and all(s.group == "" for s in kaggle)
    manifest = [s for s in combined if s.source == "generator-1"]
    assert len(manifest) == 8 and manifest[0].kind == "generated" and manifest[0].group == "source:generator-1"
    with pytest.raises(ds.DataError, match="no label folders"):
        ds.read_folder(tmp_path / "train_data")


def test_subsample_keeps_class_shares_and_every_source():
    samples = _samples(POOL_LIKE)
    small = ds.subsample(samples, 40, seed=0)
    assert len(small) == 40
    assert sum(s.label for s in small) == round(40 * 137 / 186)
    assert {s.source for s in small} == {s.source for s in samples}


# --- augmentation ---------------------------------------------------------------------------------

def _picture(width=150, height=100):
    rng = np.random.default_rng(3)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def test_training_view_is_a_crop_of_the_apps_working_image():
    cfg = PreprocessConfig(mode="multicrop", crop_size=32, max_crops=2, max_short_side=64)
    image = _picture()
    view = train_view(image, cfg, NO_AUGMENT, view_rng(0, 0, 0))
    assert view.shape == (3, 32, 32) and view.dtype == torch.float32
    work = working_image(image, cfg)  # 96 x 64: the app's working resolution
    full = crops_to_tensor(work, [(0, 0, work.size[0], work.size[1])], cfg)[0]
    offsets = [(x, y) for y in range(work.size[1] - 31) for x in range(work.size[0] - 31)
               if torch.equal(full[:, y:y + 32, x:x + 32], view)]
    assert offsets


def test_views_are_reproducible_and_change_with_the_epoch():
    cfg = PreprocessConfig(mode="multicrop", crop_size=32, max_crops=2, max_short_side=64)
    image, aug = _picture(), AugmentConfig()
    first = train_view(image, cfg, aug, view_rng(7, 1, 5))
    assert torch.equal(first, train_view(image, cfg, aug, view_rng(7, 1, 5)))
    assert not torch.equal(first, train_view(image, cfg, aug, view_rng(7, 2, 5)))


def test_reencoding_hits_every_image_whatever_its_format():
    png_like = _picture(64, 64)
    always_jpeg = AugmentConfig(rescale_p=0, blur_p=0, jpeg_p=1.0, webp_p=0, png_p=0, jpeg_quality=(60, 60))
    changed = augment_image(png_like, always_jpeg, np.random.default_rng(0))
    assert changed.size == png_like.size and np.abs(np.asarray(changed, int) - np.asarray(png_like, int)).mean() > 1
    scaled = augment_image(png_like, AugmentConfig(rescale_p=1.0, min_scale=0.5, max_scale=0.5, blur_p=0, jpeg_p=0,
                                                   webp_p=0, png_p=0), np.random.default_rng(0))
    assert scaled.size == (32, 32)
    with pytest.raises(ValueError):
        AugmentConfig(jpeg_p=0.8, webp_p=0.3)


# --- training pieces ------------------------------------------------------------------------------

def test_loss_weights_balance_classes_and_sources():
    samples = _samples({(1, "big"): 9, (1, "small"): 1, (0, "cam"): 5})
    w = sample_weights(samples, "class")
    assert w[:10].sum() == pytest.approx(7.5) and w[10:].sum() == pytest.approx(7.5)
    w = sample_weights(samples, "class+source")
    assert w[9] == pytest.approx(3 * w[0])  # 1/sqrt(1) vs 1/sqrt(9)
    assert w[:10].sum() == pytest.approx(7.5) and w.mean() == pytest.approx(1.0)


def test_schedule_warms_up_then_decays_to_the_floor():
    plan = Plan(epochs=4, steps_per_epoch=10, warmup_epochs=1, min_lr_ratio=0.1)
    values = [plan(step) for step in range(40)]
    assert values[0] < values[5] < values[9] <= 1.0
    assert max(values) == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(values[10:], values[11:]))
    assert values[-1] == pytest.approx(0.1, abs=0.01)


def test_pretrained_file_loads_into_the_cnn_branch_and_gets_its_own_lr(tmp_path):
    import timm
    from safetensors.torch import save_file

    from training.recipes.weights import WeightsError, freeze, load_backbone_file, parameter_groups

    preset_cnn = timm.create_model("convnext_atto", num_classes=10, dims=(8, 16, 24, 32), depths=(1, 1, 1, 1))
    tensors = {k: v.contiguous() for k, v in preset_cnn.state_dict().items()}
    save_file(tensors, str(tmp_path / "cnn.safetensors"), metadata={"arch": "convnext_atto"})
    network = create_model("convitx_test")
    assert load_backbone_file(network, tmp_path / "cnn.safetensors") == ["cnn"]
    assert torch.equal(network.cnn.stem[0].weight, preset_cnn.stem[0].weight)
    groups = parameter_groups(network, ["cnn"], lr=1e-3, backbone_lr=1e-4, weight_decay=0.05)
    by_name = {g["name"]: g for g in groups}
    assert by_name["pretrained"]["lr"] == 1e-4 and by_name["new"]["lr"] == 1e-3
    assert by_name["new/no_decay"]["weight_decay"] == 0.0

    save_file(tensors, str(tmp_path / "other.safetensors"), metadata={"arch": "resnet50"})
    with pytest.raises(WeightsError, match="resnet50"):
        load_backbone_file(network, tmp_path / "other.safetensors")
    tensors.pop("stem.0.weight")
    save_file(tensors, str(tmp_path / "short.safetensors"))
    with pytest.raises(WeightsError, match="'stem.0.weight' is missing"):
        load_backbone_file(network, tmp_path / "short.safetensors")

    frozen = freeze(network, first_stages=1)
    assert not network.cnn.stem[0].weight.requires_grad and not network.cnn.stages[0].blocks[0].gamma.requires_grad
    assert network.cnn.stages[1].blocks[0].gamma.requires_grad and network.head[1].weight.requires_grad
    assert not network.swin.patch_embed.proj.weight.requires_grad and len(frozen) == 4


def test_help_explains_the_data_and_the_run(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for words in ("--pretrained", "--freeze-stages", "--resume", "--minutes", "torchrun", "Kaggle", "--accum-steps"):
        assert words in text


# --- the loop end to end --------------------------------------------------------------------------

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


def test_thresholds_reach_the_target_precision_outside_the_band():
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(200), np.zeros(200)].astype(int)
    scores = np.clip(np.r_[rng.normal(0.7, 0.15, 200), rng.normal(0.3, 0.15, 200)], 0, 1)
    band, t, details = choose_thresholds(labels, scores, target_precision=0.95)
    assert band.human_below <= t <= band.ai_above
    assert 0.4 < t < 0.6
    called_ai, called_human = scores >= band.ai_above, scores < band.human_below
    assert labels[called_ai].mean() >= 0.95 and (1 - labels[called_human]).mean() >= 0.95
    assert details["ai_side_rule"] == details["human_side_rule"] == "precision"
    # a human image at the very top and an AI one at the bottom: no cut reaches precision 1, so the
    # error-quantile rule takes over on both sides and the band still contains t
    labels, scores = np.r_[labels, 0, 1], np.r_[scores, 1.0, 0.0]
    band, t, details = choose_thresholds(labels, scores, target_precision=1.0, error_quantile=0.8)
    assert details["ai_side_rule"] == details["human_side_rule"] == "error-quantile"
    assert band.human_below <= t <= band.ai_above
    false_ai = scores[(labels == 0) & (scores >= t)]
    assert np.mean((false_ai < band.ai_above)) >= 0.8  # the band absorbs 80% of the false "AI" calls
    with pytest.raises(ValueError, match="both classes"):
        choose_thresholds([1, 1], [0.2, 0.9])


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


def test_timm_pretrained_skips_resized_branches_and_explains_a_failure(monkeypatch):
    import timm

    from training.recipes.weights import WeightsError, load_timm_pretrained

    assert load_timm_pretrained(create_model("convitx_test")) == []  # both branches are resized: nothing to fetch

    def offline(*args, **kwargs):
        raise OSError("no internet")

    network = create_model("convitx_test")
    network.preset = replace(network.preset, cnn_kwargs={})  # pretend the CNN branch is timm's own convnext_atto
    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(WeightsError, match="timm could not provide pretrained convnext_atto.*--pretrained PATH"):
        load_timm_pretrained(network)
