"""One rebuild's settings and work folder, the images it keeps and their frozen outputs in every tier (the
``outputs`` stage)."""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from model.atomic import atomic_write_bytes
from model.config import PreprocessConfig, default_info
from model.network import create_model
from model.presets import get_preset
from training import REPO

from model.clip_view import CLIP_FILE_NAME

from ...data import datasets as ds
from ...data.exclusion import Exclusions, check_samples
from ...data.tiers import TIERS
from ..frozen_heads import HeadRecipe
from ..tier_features import FeatureCache, Producer, app_preprocess, compute_features
from ..weights import load_backbone_file

# Each manifest and the most images taken from it (0: all), spread over its sources: what 2 CPU cores
# turn into frozen outputs in every tier within an hour (training/README.md).
DEFAULT_DATA = (("../shared/data/trainpool/MANIFEST.tsv", 500), ("data/public/MANIFEST.tsv", 0),
                ("data/pairs/MANIFEST.tsv", 300), ("data/pool2/MANIFEST.tsv", 900), ("data/pool3/MANIFEST.tsv", 700))
DEFAULT_BACKBONE = "data/public/backbones/tf_efficientnet_lite0.safetensors"
DEFAULT_CLIP = f"resources/models/{CLIP_FILE_NAME}"
DEFAULT_OUT = "resources/models/convitx_default.safetensors"
DEFAULT_WORK = "runs/default"
DEFAULT_NAME = "ConViTX default (frozen EfficientNet-Lite0 + Swin over its map, native crops, and a CLIP ViT-B/16 view)"
DEFAULT_PRESET = "convitx_clip_mid"
STAGES = ("outputs", "loso", "train", "calibrate", "evaluate", "export")
CHECK_CONDITIONS = ("jpeg_q90", "crop_256")  # the targets' conditions, scored the way the app scores
MAX_UNCERTAIN = 0.1  # the calibrated band holds at most this share of the held-out images (all tiers)
HEAD = HeadRecipe()


def repo_path(path: str) -> Path:
    """Paths of the recipe are relative to the repository root, whatever the working directory."""
    p = Path(path)
    return p if p.is_absolute() else (REPO / p)


def log(message: str) -> None:
    print(f"[default recipe] {message}", file=sys.stderr, flush=True)


def newer(path: Path, than: Path) -> bool:
    return path.exists() and than.exists() and path.stat().st_mtime >= than.stat().st_mtime


class Rebuild:
    """One rebuild's settings and work folder, and (loaded on first use) its images and their CNN outputs."""

    def __init__(self, args: argparse.Namespace, work: Path, data: list[str]):
        self.args, self.work, self.data = args, work, data
        self._loaded: tuple[list[ds.Sample], list] | None = None

    def preprocess(self) -> PreprocessConfig:
        return app_preprocess(self.args.preset)

    def new_network(self):
        """The preset with the pretrained CNN (or a random one with --pretrained none), Swin and head random."""
        import torch

        torch.manual_seed(self.args.head_seed)
        network = create_model(self.args.preset)
        if self.args.pretrained != "none":
            load_backbone_file(network, repo_path(self.args.pretrained))
        return network

    def head(self) -> HeadRecipe:
        return replace(HEAD, epochs=self.args.epochs, positive=self.args.positive_head, seed=self.args.head_seed)

    def info(self, name: str, training: dict | None = None):
        return default_info(self.args.preset, name=name, preprocess=self.preprocess(), training=training or {})

    def images(self) -> list[ds.Sample]:
        """Each manifest's images, at most its limit spread over its sources; a file listed twice once
        (pool 2 names some rows of two commits by one file)."""
        samples, seen = [], set()
        for manifest, limit in self.data:
            rows = ds.load_data([manifest], log=log)
            for sample in ds.subsample(rows, limit, seed=HEAD.seed) if limit else rows:
                if sample.path not in seen:
                    seen.add(sample.path)
                    samples.append(sample)
        return ds.subsample(samples, self.args.limit, seed=HEAD.seed) if self.args.limit else samples

    def producer(self) -> Producer:
        return producer_of(vars(self.args))

    def load(self) -> tuple[list[ds.Sample], list]:
        """The images kept by the exclusion check that could be read, and their frozen outputs per tier."""
        if self._loaded is None:
            report = check_samples(self.images(), Exclusions.load(self.args.exclusions), self.work / "dhash.json",
                                   log=log)
            producer = self.producer()
            outputs = compute_features(report.kept, FeatureCache(self.work / "features", producer), producer,
                                       get_preset(self.args.preset).clip, workers=self.args.workers, log=log)
            kept = [(s, o) for s, o in zip(report.kept, outputs) if o is not None]
            samples = [s for s, _ in kept]
            ds.save_samples(self.work / "samples.json", images=samples)
            data = {"train": ds.summarize(samples),
                    "split": {"mode": f"{self.args.folds} leave-source-out folds (AI: whole generator families; "
                                      "human: whole sources)", "exclusion": report.summary()},
                    "tiers": list(TIERS),
                    "unreadable": len(report.kept) - len(samples), "pretrained": self.args.pretrained}
            (self.work / "data.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
            self._loaded = samples, [o for _, o in kept]
        return self._loaded

    def training_summary(self) -> dict:
        return json.loads((self.work / "data.json").read_text(encoding="utf-8"))


def producer_of(settings: dict) -> Producer:
    """What made a rebuild's tower outputs, from its settings (the command line, or recipe.json's)."""
    pretrained = settings["pretrained"]
    cnn = pretrained if pretrained == "none" else str(repo_path(pretrained))
    return Producer(cnn, str(repo_path(settings["clip"])), settings["preset"], HEAD.seed)


def saved_features(work: Path) -> tuple[FeatureCache, dict]:
    """A finished rebuild's feature cache and settings, for studies that read it (probe_views, against)."""
    settings = json.loads((work / "recipe.json").read_text(encoding="utf-8"))["settings"]
    return FeatureCache(work / "features", producer_of(settings)), settings


def stage_outputs(rb: Rebuild) -> None:
    samples, _ = rb.load()
    log(f"outputs: {len(samples)} images ready ({rb.work / 'features'})")


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_rows(path: Path, rows: list[dict]) -> None:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, text.getvalue().encode("utf-8"))


def held_out_scores(work: Path) -> tuple[list[ds.Sample], dict[str, np.ndarray]]:
    """Every image's held-out p_ai per tier."""
    samples = ds.load_samples(work / "samples.json", "images")
    rows = {r["path"]: r for r in read_rows(work / "loso" / "scores.csv")}
    return samples, {tier: np.array([float(rows[s.path][f"p_ai_{tier}"]) for s in samples]) for tier in TIERS}
