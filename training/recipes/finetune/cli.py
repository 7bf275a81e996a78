"""The command line of ``python -m training.recipes.finetune`` (also under ``torchrun``)."""
from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

import torch.distributed as dist

from model.config import PREPROCESS_MODES
from model.presets import list_presets

from ...data import datasets as ds
from ..augment import AUGMENT_PRESETS
from ..weights import WeightsError
from .config import DEFAULT_EPOCHS, SELECT_METRICS, STATE_FILE, TrainConfig
from .loop import train

DESCRIPTION = """\
Train a ConViTX AI-image detector on labelled images.

Data (--data, repeatable, freely combined):
  * a folder with ai/ and real/ (or human/) folders; sub-folders name the source, e.g. ai/midjourney/
  * a manifest TSV like trainpool's MANIFEST.tsv (label, kind, generator_or_source, ..., relpath),
    or a folder that holds one
  * the Kaggle "AI vs Human-Generated Images" train.csv (file_name,label; 1 = AI)

Validation keeps whole sources on one side (--split group), so near-identical siblings never
straddle training and validation. --split folds/sources hold sources out to estimate how the
model does on generators it has never seen.

Everything goes to --out: app checkpoints best/last.safetensors, metrics.csv/json, plots/,
split.json, state.pt (for --resume). Several GPUs or machines: start it with torchrun.

examples:
  python -m training.recipes.finetune --data my_images/ --preset convitx_lite \\
      --pretrained data/public/backbones/tf_efficientnet_lite0.safetensors --epochs 20 --out runs/mine
  python -m training.recipes.finetune --out runs/mine --resume --epochs 30        # continue, with more epochs
  torchrun --nproc_per_node 4 -m training.recipes.finetune --data kaggle/train.csv --preset convitx_large \\
      --pretrained timm --batch-size 64 --out runs/large
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.recipes.finetune", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    d = p.add_argument_group("data")
    d.add_argument("--data", action="append", default=[], metavar="PATH",
                   help="training data: folder, manifest .tsv or Kaggle .csv (repeat to combine)")
    d.add_argument("--val-data", action="append", default=[], metavar="PATH",
                   help="separate validation data (then --data is all training)")
    d.add_argument("--split", default="group", choices=["group", "random", "folds", "sources", "none"],
                   help="validation split: group = whole sources (default), random = per image (only for data "
                        "without sources), folds = fold --fold of --folds by source, sources = hold out --holdout, "
                        "none = no validation")
    d.add_argument("--val-fraction", type=float, default=0.2, metavar="F",
                   help="share of each class to validate on (default 0.2)")
    d.add_argument("--max-group-share", type=float, default=0.25, metavar="F",
                   help="a source holding more than this share of its class always stays in training (default 0.25)")
    d.add_argument("--folds", type=int, default=5, metavar="K", help="number of folds for --split folds")
    d.add_argument("--fold", type=int, default=0, metavar="I", help="which fold (0-based) is validation")
    d.add_argument("--holdout", action="append", default=[], metavar="SOURCE",
                   help="source name to hold out with --split sources (repeatable)")
    d.add_argument("--split-file", metavar="split.json", help="reuse the train/val lists of an earlier run")
    d.add_argument("--limit", type=int, default=0, metavar="N", help="use at most N training images (smoke tests)")
    d.add_argument("--val-limit", type=int, default=0, metavar="N", help="use at most N validation images")
    d.add_argument("--balance", default="class", choices=["none", "class", "class+source"],
                   help="loss weights: equal total weight per class (default), also per source, or none")
    d.add_argument("--augment", default="default", choices=sorted(AUGMENT_PRESETS),
                   help="augmentation strength (default: rescale, blur, JPEG/WebP re-encoding, flips)")
    d.add_argument("--cache-dir", metavar="DIR",
                   help="cut native-resolution regions of every training image once and train from them")
    d.add_argument("--exclusions", metavar="DIR",
                   help="folder with EXCLUDE_REPOS.txt and EXCLUDE_HASHES.txt: refuse excluded repositories, "
                        "drop near-duplicates of evaluation images")

    m = p.add_argument_group("model")
    m.add_argument("--preset", default="convitx_lite", choices=list_presets(),
                   help="architecture (default convitx_lite)")
    m.add_argument("--mode", default="multicrop", choices=list(PREPROCESS_MODES),
                   help="native = the file's own pixels, several crops; multicrop = native up to --max-short-side "
                        "(default); resize = shrink to one crop")
    m.add_argument("--crop-size", type=int, metavar="PX", help="crop size (default: the preset's input size)")
    m.add_argument("--max-crops", type=int, default=2, metavar="N", help="crops scored per image (default 2)")
    m.add_argument("--max-short-side", type=int, default=512, metavar="PX",
                   help="images are shrunk so the shorter side is at most this (default 512)")
    m.add_argument("--pretrained", metavar="PATH|timm",
                   help="initial weights: a .safetensors with the CNN branch's ImageNet weights (or a whole ConViTX "
                        "checkpoint to fine-tune), or 'timm' for timm's own (needs internet or its cache)")
    m.add_argument("--pretrained-swin", metavar="PATH", help="a .safetensors with the Swin branch's weights")
    m.add_argument("--freeze-backbones", action="store_true", help="train only the fusion head")
    m.add_argument("--freeze-stages", type=int, default=0, metavar="N",
                   help="freeze the stem and first N stages of both backbones (the original design's partial freezing)")
    m.add_argument("--name", help="model name stored in the checkpoint")

    o = p.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, metavar="N",
                   help=f"passes over the training data (default {DEFAULT_EPOCHS}; on --resume the run's own)")
    o.add_argument("--batch-size", type=int, default=32, metavar="N", help="images per step and process (default 32)")
    o.add_argument("--accum-steps", type=int, default=1, metavar="N", help="accumulate gradients over N batches")
    o.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate of new parts (default 1e-3)")
    o.add_argument("--backbone-lr", type=float, help="learning rate of pretrained branches (default lr/10)")
    o.add_argument("--weight-decay", type=float, default=0.05)
    o.add_argument("--warmup-epochs", type=float, default=1.0, help="linear warm-up, then cosine decay")
    o.add_argument("--min-lr-ratio", type=float, default=0.01, help="final LR as a share of the peak")
    o.add_argument("--grad-clip", type=float, default=1.0, help="gradient norm limit (0 = off)")
    o.add_argument("--label-smoothing", type=float, default=0.0)
    o.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                   help="keep an exponential moving average of the weights (e.g. 0.999) and validate/save it")
    o.add_argument("--amp", default="auto", choices=["auto", "bf16", "fp16", "off"],
                   help="mixed precision on GPUs (auto = bf16 where supported); always fp32 on CPUs")
    o.add_argument("--select", default="auc", choices=sorted(SELECT_METRICS),
                   help="validation metric that picks best.safetensors (default auc)")

    r = p.add_argument_group("run")
    r.add_argument("--out", required=True, metavar="DIR", help="run folder")
    r.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last epoch (its saved settings are used; "
                        "--epochs and --minutes may change)")
    r.add_argument("--minutes", type=float, metavar="M",
                   help="time budget of this invocation; training stops cleanly and keeps the best checkpoint")
    r.add_argument("--stop-after", type=int, metavar="N", help="stop after N epochs of this invocation (resume later)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--deterministic", action="store_true", help="deterministic kernels (slower on GPUs)")
    r.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    r.add_argument("--workers", type=int, metavar="N", help="DataLoader workers per process (default: by cores)")
    r.add_argument("--threads", type=int, metavar="N", help="torch CPU threads per process (default: by cores)")
    r.add_argument("--compile", action="store_true", help="torch.compile the network (GPUs)")
    r.add_argument("--sync-bn", action="store_true", help="synchronise BatchNorm across GPUs")
    r.add_argument("--no-plots", dest="plots", action="store_false", help="do not draw PNG plots")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in names and v is not None})


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.data and not args.split_file and not (args.resume and (Path(args.out) / STATE_FILE).is_file()):
        parser.error("give --data (or --split-file, or --resume an existing run)")
    try:
        train(config_from_args(args), resume=args.resume)
    except (ds.DataError, WeightsError, ValueError, OSError) as exc:
        print(f"training: {exc}", file=sys.stderr)
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
