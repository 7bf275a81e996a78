"""The ``train`` stage: the head trained on every image in every tier, over the cached frozen outputs."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from model.checkpoint import save_checkpoint

from ...data.tiers import TIERS
from ..frozen_heads import train_head
from .rebuild import DEFAULT_NAME, HEAD, Rebuild, log


def stage_train(rb: Rebuild, force: bool) -> Path:
    run = rb.work / "train"
    model = run / "model.safetensors"
    if model.exists() and not force:
        log(f"train: {model} is done; --force train to redo")
        return run
    samples, outputs = rb.load()
    log(f"train: the head on all {len(samples)} images")
    network = train_head(rb.new_network(), samples, outputs, rb.head(), log=log)
    run.mkdir(parents=True, exist_ok=True)
    save_checkpoint(network, rb.info(DEFAULT_NAME, training=rb.training_summary()), model)
    recipe = {"pretrained": rb.args.pretrained, "clip": rb.args.clip, "frozen": "cnn and clip", "seed": rb.args.head_seed,
              "tiers": list(TIERS), "balance": HEAD.balance, "head": asdict(rb.head())}
    (run / "config.json").write_text(json.dumps(recipe, indent=2), encoding="utf-8")
    (run / "done.json").write_text(json.dumps({"epochs_done": rb.args.epochs, "reason": "done"}), encoding="utf-8")
    return run
