"""Multi-process training through torchrun: 2 CPU processes, Gloo backend, DistributedSampler."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from model import load_checkpoint
from training.data import datasets as ds
from training.data.synthetic import make_synthetic_dataset

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_two_process_gloo_run_trains_on_disjoint_shards(tmp_path):
    make_synthetic_dataset(tmp_path / "pool", per_source=6)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "training.recipes.finetune", "--data", str(tmp_path / "pool"), "--preset", "convitx_test",
               "--max-short-side", "64", "--epochs", "2", "--batch-size", "4", "--augment", "light",
               "--device", "cpu", "--threads", "1", "--workers", "0", "--quiet", "--no-plots", "--out", str(out)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "cpu x2" in done.stderr
    split = ds.load_samples(out / "split.json")
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [row["epoch"] for row in history] == [1, 2]
    # each process trains on its half (DistributedSampler), the counts add up to the training set
    assert history[0]["train_images"] == len(split["train"])
    assert history[0]["val_images"] == len(split["val"])  # validation is sharded and gathered
    assert load_checkpoint(out / "best.safetensors").info.preset == "convitx_test"
    assert json.loads((out / "done.json").read_text())["finished"]
