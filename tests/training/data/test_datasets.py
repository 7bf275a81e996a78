"""Sample lists from folders, the Kaggle CSV and manifests; source-grouped splits, folds, subsamples, loss weights."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from training.data import datasets as ds
from training.data.datasets import sample_weights


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


def test_loss_weights_balance_classes_and_sources():
    samples = _samples({(1, "big"): 9, (1, "small"): 1, (0, "cam"): 5})
    w = sample_weights(samples, "class")
    assert w[:10].sum() == pytest.approx(7.5) and w[10:].sum() == pytest.approx(7.5)
    w = sample_weights(samples, "class+source")
    assert w[9] == pytest.approx(3 * w[0])  # 1/sqrt(1) vs 1/sqrt(9)
    assert w[:10].sum() == pytest.approx(7.5) and w.mean() == pytest.approx(1.0)
