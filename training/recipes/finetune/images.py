"""The training views (augmented crops, reproducible per epoch) and the validation crops (exactly the app's)."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from model.config import PreprocessConfig
from model.imageio import ImageLoadError, load_image
from model.preprocess import decode_short_side, preprocess

from ...data import datasets as ds
from ..augment import AugmentConfig, train_view, view_rng
from ..crop_cache import CropCache


class TrainImages(Dataset):
    """Augmented training crops; ``epoch`` is set before each epoch so every view is reproducible."""

    def __init__(self, samples: list[ds.Sample], cfg: PreprocessConfig, aug: AugmentConfig,
                 weights: np.ndarray, seed: int, cache: CropCache | None = None):
        self.samples, self.cfg, self.aug, self.weights, self.seed = samples, cfg, aug, weights, seed
        self.cache = cache
        self.epoch = 0

    def _image(self, path: str, rng: np.random.Generator) -> Image.Image:
        if self.cache is not None:
            return self.cache.load(path, rng)
        return load_image(path, min_short_side=decode_short_side(self.cfg)).image

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        # An unreadable file is replaced by the next readable one, so every process of a
        # distributed run still gets full, equal batches; the replacement is counted.
        for attempt in range(min(len(self.samples), 50)):
            j = (index + attempt) % len(self.samples)
            rng = view_rng(self.seed, self.epoch, j)
            try:
                image = self._image(self.samples[j].path, rng)
            except ImageLoadError:
                continue
            view = train_view(image, self.cfg, self.aug, rng)
            return view, self.samples[j].label, float(self.weights[j]), j, attempt > 0
        raise ds.DataError(f"50 training images in a row could not be read, from {self.samples[index].path}")


class ValImages(Dataset):
    """Exactly the app's crops for one image (working image, evenly spread crops)."""

    def __init__(self, samples: list[ds.Sample], cfg: PreprocessConfig):
        self.samples, self.cfg = samples, cfg

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        sample = self.samples[index]
        try:
            image = load_image(sample.path, min_short_side=decode_short_side(self.cfg)).image
        except ImageLoadError:
            return None
        return preprocess(image, self.cfg), sample.label, index


def collate_train(batch):
    views, labels, weights, indices, replaced = zip(*batch)
    return (torch.stack(views), torch.tensor(labels, dtype=torch.float32),
            torch.tensor(weights, dtype=torch.float32), torch.tensor(indices), sum(replaced))


def collate_val(batch):
    batch = [item for item in batch if item is not None]
    if not batch:
        return None
    crops, labels, indices = zip(*batch)
    return torch.cat(crops), torch.tensor([len(c) for c in crops]), torch.tensor(labels), torch.tensor(indices)
