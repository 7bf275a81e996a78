"""Which outputs of the CLIP tower a model reads, and how many numbers they make: plain data, imported by the
checkpoint's configuration without the tower's dependencies (model/clip_view.py runs it)."""
from __future__ import annotations

from dataclasses import dataclass

LAYERS = 12  # CLIP ViT-B/16's encoder blocks
WIDTH = 768  # its class token
EMBED = 512  # its projection after the last block


@dataclass(frozen=True)
class ClipOutputs:
    """What a model reads of the tower: the class token after each of ``blocks`` (0-11) and, with
    ``embedding``, first the 512-d projection after the last block. Features = [projection], CLS..."""

    blocks: tuple[int, ...]
    embedding: bool = True

    def __post_init__(self):
        if not all(0 <= block < LAYERS for block in self.blocks) or not (self.blocks or self.embedding):
            raise ValueError(f"CLIP ViT-B/16 has blocks 0-{LAYERS - 1}; a view reads some of them or the "
                             f"projection, not {self}")

    @property
    def width(self) -> int:
        """Numbers per image."""
        return EMBED * self.embedding + WIDTH * len(self.blocks)


def feature_count(outputs: ClipOutputs | None) -> int:
    """Numbers per image from a CLIP view (0 without one)."""
    return 0 if outputs is None else outputs.width
