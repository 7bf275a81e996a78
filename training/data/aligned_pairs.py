"""Aligned pairs: real images and the same pixels passed through FLUX.2's tiny autoencoder.

A pair differs only in the decoder's traces, not in content, size or format, so it teaches a
detector what a latent decoder leaves behind rather than "stylised = AI" (Rajan et al., ICLR 2025,
"On the Effectiveness of Dataset Alignment for Fake Image Detection"). The autoencoder is TAEF2
(``madebyollin/taesd``, files ``taef2_encoder.pth`` and ``taef2_decoder.pth``, MIT licence), a
distilled stand-in for the FLUX.2 VAE; the module below re-implements its published architecture
(encoder and decoder of 64-channel residual blocks, three 2x steps, 32 latent channels, a
GroupNorm-pooled mid block) so no third-party code runs. Its weights are read once from a git copy
of that repository with ``torch.load(weights_only=True)`` and stored as safetensors.

For each chosen real image (spread over its sources), a native-resolution region of at most
``--size`` px (a multiple of 8, never resampled) is written twice as PNG: as is (label real, its own
source) and round-tripped through the autoencoder (label ai, source ``TAEF2_SOURCE``). Both rows
carry the real image's split group, so a pair is always on one side of every split.

    python -m training.data.aligned_pairs --taesd-git /path/to/madebyollin+taesd/repo \\
        --data ../shared/data/trainpool/MANIFEST.tsv --data data/public/MANIFEST.tsv --out data/pairs
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from model.atomic import atomic_write_bytes
from model.imageio import ImageLoadError, load_image

from . import datasets as ds

TAESD_REPO = "madebyollin/taesd"
TAESD_COMMIT = "5cccb12dc72074a4be35680c3b108548a7c69978"  # "Add support for FLUX.2 VAE"
TAEF2_SOURCE = "FLUX.2 tiny autoencoder round trip (aligned pairs)"
LATENT_CHANNELS = 32
MANIFEST_COLUMNS = ["label", "kind", "generator_or_source", "repo", "commit", "path_in_repo", "width", "height",
                    "bytes", "relpath", "group"]


# --- the autoencoder ------------------------------------------------------------------------------

def _conv(n_in: int, n_out: int, **kwargs) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, 3, padding=1, **kwargs)


class _Clamp(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x / 3) * 3


class _Block(nn.Module):
    """Three 3x3 convolutions with a residual path; ``pooled`` adds the FLUX.2 variant's GroupNorm branch."""

    def __init__(self, channels: int, pooled: bool = False):
        super().__init__()
        self.conv = nn.Sequential(_conv(channels, channels), nn.ReLU(), _conv(channels, channels), nn.ReLU(),
                                  _conv(channels, channels))
        self.skip = nn.Identity()
        self.fuse = nn.ReLU()
        wide = channels * 4
        self.pool = nn.Sequential(nn.Conv2d(channels, wide, 1, bias=False), nn.GroupNorm(4, wide), nn.ReLU(inplace=True),
                                  nn.Conv2d(wide, channels, 1, bias=False)) if pooled else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = x + self.pool(x)
        return self.fuse(self.conv(x) + self.skip(x))


def taef2_encoder() -> nn.Sequential:
    def down() -> nn.Conv2d:
        return _conv(64, 64, stride=2, bias=False)

    return nn.Sequential(
        _conv(3, 64), _Block(64),
        down(), _Block(64), _Block(64), _Block(64),
        down(), _Block(64), _Block(64), _Block(64),
        down(), _Block(64, True), _Block(64, True), _Block(64, True),
        _conv(64, LATENT_CHANNELS))


def taef2_decoder() -> nn.Sequential:
    def up() -> list[nn.Module]:
        return [nn.Upsample(scale_factor=2), _conv(64, 64, bias=False)]

    return nn.Sequential(
        _Clamp(), _conv(LATENT_CHANNELS, 64), nn.ReLU(),
        _Block(64, True), _Block(64, True), _Block(64, True), *up(),
        _Block(64), _Block(64), _Block(64), *up(),
        _Block(64), _Block(64), _Block(64), *up(),
        _Block(64), _conv(64, 3))


class TinyAutoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder, self.decoder = taef2_encoder(), taef2_decoder()

    @torch.inference_mode()
    def round_trip(self, image: Image.Image) -> Image.Image:
        """Encode and decode an RGB image whose sides are multiples of 8; latents are not quantised."""
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
        decoded = self.decoder(self.encoder(pixels)).clamp(0, 1)[0]
        return Image.fromarray((decoded.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8), "RGB")


# --- weights ----------------------------------------------------------------------------------------

def convert_weights(git_dir: Path, out: Path) -> Path:
    """Read taef2_*.pth at TAESD_COMMIT from a git copy of madebyollin/taesd, check them, save as safetensors."""
    from safetensors.torch import save_file

    model = TinyAutoencoder()
    tensors = {}
    for part in ("encoder", "decoder"):
        blob = subprocess.run(["git", "--git-dir", str(_git_dir(git_dir)), "show", f"{TAESD_COMMIT}:taef2_{part}.pth"],
                              check=True, capture_output=True).stdout
        state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
        getattr(model, part).load_state_dict(state, strict=True)
        tensors.update({f"{part}.{k}": v.contiguous() for k, v in state.items()})
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata={"source": f"{TAESD_REPO}@{TAESD_COMMIT}: taef2_encoder.pth, taef2_decoder.pth"})
    return out


def _git_dir(path: Path) -> Path:
    return path / ".git" if (path / ".git").exists() else path


def load_autoencoder(weights: Path) -> TinyAutoencoder:
    from safetensors.torch import load_file

    model = TinyAutoencoder().eval()
    model.load_state_dict(load_file(str(weights)), strict=True)
    return model


# --- pairs ----------------------------------------------------------------------------------------

def centre_region(image: Image.Image, size: int) -> Image.Image:
    """The centre ``size``-px region (smaller sides kept), both sides cut down to a multiple of 8."""
    width, height = (min(side, size) // 8 * 8 for side in image.size)
    left, top = (image.size[0] - width) // 2, (image.size[1] - height) // 2
    return image.crop((left, top, left + width, top + height))


def make_pairs(samples: list[ds.Sample], autoencoder: TinyAutoencoder, out: Path, size: int, log=print) -> list[list]:
    """Write each sample's pair (files already there from an earlier run are kept) and return manifest rows."""
    rows = []
    started = time.monotonic()
    for k, sample in enumerate(samples, 1):
        try:
            region = centre_region(load_image(sample.path).image, size)
        except ImageLoadError:
            continue
        if min(region.size) < 32:
            continue
        stem = f"{hashlib.sha1(sample.path.encode()).hexdigest()[:10]}_{Path(sample.path).stem[:60]}"
        halves = (("real", sample.kind or "photo", sample.source, sample.repo, lambda: region),
                  ("ai", "generated", TAEF2_SOURCE, f"{TAESD_REPO}@{TAESD_COMMIT[:7]}",
                   lambda: autoencoder.round_trip(region)))
        for label, kind, source, repo, make in halves:
            relpath = f"{label}/{stem}.png"
            target = out / relpath
            if not target.is_file():
                buffer = io.BytesIO()
                make().save(buffer, "PNG", compress_level=6)
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(target, buffer.getvalue())
            rows.append([label, kind, source, repo, "", sample.path, region.size[0], region.size[1],
                         target.stat().st_size, relpath, sample.split_group])
        if k % 25 == 0 or k == len(samples):
            log(f"aligned pairs: {k}/{len(samples)} images, {time.monotonic() - started:.0f} s")
    return rows


def write_manifest(path: Path, rows: list[list]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE, escapechar="\\")
    writer.writerow(MANIFEST_COLUMNS)
    writer.writerows(rows)
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.data.aligned_pairs", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--taesd-git", type=Path, metavar="DIR",
                   help=f"a git copy of {TAESD_REPO} (bare or a clone) holding commit {TAESD_COMMIT[:7]}")
    p.add_argument("--weights", type=Path, default=Path("data/public/backbones/taef2.safetensors"),
                   help="the converted autoencoder (written from --taesd-git when missing)")
    p.add_argument("--data", action="append", required=True, metavar="PATH", help="where the real images come from")
    p.add_argument("--out", type=Path, default=Path("data/pairs"))
    p.add_argument("--count", type=int, default=300, help="real images to pair (default 300)")
    p.add_argument("--size", type=int, default=512, help="largest side of the paired region, px (default 512)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        if not args.weights.is_file():
            if not args.taesd_git:
                raise ds.DataError(f"{args.weights} is missing: give --taesd-git (git clone "
                                   f"https://github.com/{TAESD_REPO})")
            convert_weights(args.taesd_git, args.weights)
        autoencoder = load_autoencoder(args.weights)
        real = [s for s in ds.load_data(args.data, log=ds.stderr_log) if s.label == ds.HUMAN]
        rows = make_pairs(ds.subsample(real, args.count), autoencoder, args.out, args.size, log=ds.stderr_log)
    except (ds.DataError, subprocess.CalledProcessError, OSError) as exc:
        print(f"aligned_pairs: {exc}", file=sys.stderr)
        return 2
    write_manifest(args.out / ds.MANIFEST_NAME, rows)
    print(f"aligned_pairs: {len(rows) // 2} pairs -> {args.out / ds.MANIFEST_NAME}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
