"""Packaging: the smoke test of the bundle (marked slow) and static checks of the packaging files.

Slow (`make test-slow`): build the Linux one-folder bundle and run what it ships:

* `packaging/build_linux.sh` (what `make package` runs) builds dist/ConViTX/ from .venv-package
  (CPU torch; made on first use, about 2 min, then reused);
* the bundled `convitx scan` on resources/samples must give the same CSV as `model.cli.main` run
  in this process (same rows, same verdicts and columns, p_ai within 1e-3: the bundle runs the CPU
  torch 2.13 wheel, this venv the dev torch);
* the bundled windowed app must stay up offscreen for GUI_SECONDS without a traceback;
* the bundle must hold no CUDA library and stay under 1 GiB.
Fast (`make test`): the torchvision stub schemas equal the real ones, entitlements.plist parses,
the Inno Setup script is well formed (packaging/check_iss.py), the workflow's matrix and upload.

Set CONVITX_BUNDLE to the folder holding the two executables to test an existing bundle instead of
building one (the release workflow does that on Windows, dist/ConViTX, and macOS,
dist/ConViTX.app/Contents/MacOS).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model.results import CSV_COLUMNS, read_csv

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "resources" / "samples"
DEFAULT_MODEL = ROOT / "resources" / "models" / "convitx_default.safetensors"
BUILD_TIMEOUT_S = 40 * 60  # a cold .venv-package plus the PyInstaller run take about 5-8 min here
GUI_SECONDS = 12
MAX_BUNDLE_BYTES = 1 << 30
CUDA_NAMES = ("libtorch_cuda", "libc10_cuda", "libcudnn", "libcublas", "libnccl", "libcufft", "libcusparse",
              "libnvrtc", "libcudart", "libnvjpeg", "torch_cuda", "c10_cuda", "cudnn", "cublas", "cudart")

EXE_SUFFIX = ".exe" if sys.platform == "win32" else ""
C2PA_LIB = {"win32": "c2pa_c.dll", "darwin": "libc2pa_c.dylib"}.get(sys.platform, "libc2pa_c.so")

# The bundle checks; the static checks at the end of this file run with `make test`.
slow_bundle = [
    pytest.mark.slow,
    pytest.mark.timeout(BUILD_TIMEOUT_S + 600),
    pytest.mark.skipif(not sys.platform.startswith("linux") and not os.environ.get("CONVITX_BUNDLE"),
                       reason="builds the Linux bundle; elsewhere set CONVITX_BUNDLE (the release workflow does)"),
]


def slow(test):
    for mark in slow_bundle:
        test = mark(test)
    return test


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    given = os.environ.get("CONVITX_BUNDLE")
    if given:
        return Path(given)
    log = tmp_path_factory.mktemp("package") / "build.log"
    started = time.monotonic()
    with open(log, "w") as handle:
        done = subprocess.run(["bash", str(ROOT / "packaging" / "build_linux.sh")], cwd=ROOT, stdout=handle,
                              stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S)
    text = log.read_text(errors="replace")
    assert done.returncode == 0, f"make package failed ({done.returncode}):\n{text[-6000:]}"
    print(f"\nbundle built in {time.monotonic() - started:.0f} s: {text.strip().splitlines()[-1]}")
    return ROOT / "dist" / "ConViTX"


@pytest.fixture(scope="module")
def model_args(tmp_path_factory) -> list[str]:
    """The built-in model when the checkout has one (that also proves the bundle finds its resources);
    otherwise a tiny random-weight checkpoint, passed with --model, whose thresholds are set between
    its own scores on the samples so the rows get all three verdicts (ai, human, uncertain), each
    score at least 2e-3 from a threshold: a verdict comparison that can actually fail."""
    if DEFAULT_MODEL.is_file():
        return []
    from dataclasses import replace

    from conftest import make_tiny_checkpoint
    from model import Detector, Thresholds, load_checkpoint, save_checkpoint

    folder = tmp_path_factory.mktemp("model")
    samples = sorted(p for p in SAMPLES.iterdir() if p.is_file())
    for seed in range(10):
        path = make_tiny_checkpoint(folder / f"tiny{seed}.safetensors", seed=seed)
        scores = sorted(r.p_ai for r in Detector.from_file(path, device="cpu").scan(samples))
        gaps = [b - a for a, b in zip(scores, scores[1:])]
        if len(scores) >= 3 and gaps[0] > 4e-3 and gaps[-1] > 4e-3:
            break
    else:
        pytest.fail(f"no tiny checkpoint separates the sample scores: {scores}")
    loaded = load_checkpoint(path)
    thresholds = Thresholds(human_below=(scores[0] + scores[1]) / 2, ai_above=(scores[-2] + scores[-1]) / 2)
    final = save_checkpoint(loaded.network, replace(loaded.info, thresholds=thresholds), folder / "tiny.safetensors")
    return ["--model", str(final)]


def _bundle_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "LD_LIBRARY_PATH", "VIRTUAL_ENV"))}
    env.update(QT_QPA_PLATFORM="offscreen", CONVITX_CONFIG_DIR=str(tmp_path / "config"),
               CONVITX_DATA_DIR=str(tmp_path / "data"), CONVITX_LOG_DIR=str(tmp_path / "logs"),
               HOME=str(tmp_path / "home"), CUDA_VISIBLE_DEVICES="")
    return env


@slow
def test_bundled_scan_matches_in_process_scan(bundle, model_args, tmp_path):
    from model.cli import main

    samples = sorted(p for p in SAMPLES.iterdir() if p.is_file())
    assert len(samples) >= 4, "resources/samples should hold the sample images"
    bundled_csv, local_csv = tmp_path / "bundled.csv", tmp_path / "local.csv"
    started = time.monotonic()
    done = subprocess.run(
        [str(bundle / f"convitx{EXE_SUFFIX}"), "scan", str(SAMPLES), "--csv", str(bundled_csv), "--heatmaps",
         str(tmp_path / "maps"), "--device", "cpu", "--quiet", *model_args],
        cwd=tmp_path, env=_bundle_env(tmp_path), capture_output=True, text=True, timeout=600,
    )
    print(f"\nbundled scan of {len(samples)} images: {time.monotonic() - started:.1f} s")
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    assert main(["scan", str(SAMPLES), "--csv", str(local_csv), "--device", "cpu", "--quiet", *model_args]) == 0

    bundled, local = read_csv(bundled_csv), read_csv(local_csv)
    assert tuple(bundled[0].keys()) == CSV_COLUMNS
    assert len(bundled) == len(local) == len(samples)
    if "--model" in model_args:  # the tiny model's thresholds were placed to give every verdict
        assert {r["verdict"] for r in local} == {"ai", "human", "uncertain"}, local
    for got, want in zip(bundled, local):
        assert abs(float(got["p_ai"]) - float(want["p_ai"])) <= 1e-3, (got, want)
        assert {k: v for k, v in got.items() if k != "p_ai"} == {k: v for k, v in want.items() if k != "p_ai"}
    worst = max(abs(float(g["p_ai"]) - float(w["p_ai"])) for g, w in zip(bundled, local))
    print(f"verdicts {[r['verdict'] for r in bundled]}, max |p_ai bundled - in-process| = {worst:.4f}")
    assert len(list((tmp_path / "maps").glob("*.png"))) == len(samples)  # Grad-CAM runs frozen too


@slow
def test_bundled_scan_reads_heic_and_avif(bundle, model_args, tmp_path):
    """pillow_heif, its native libraries and Pillow's AVIF plugin must travel in the bundle."""
    from conftest import save_image
    from corpus import rotated_image, truncated
    from model.cli import main

    folder = tmp_path / "phone"
    save_image(folder / "photo.heic", width=120, height=90, quality=80)
    save_image(folder / "web.avif", width=100, height=70, quality=80)
    rotated_image(folder / "rotated.heic")
    truncated(folder / "cut.heic", "HEIF")
    bundled_csv, local_csv = tmp_path / "bundled.csv", tmp_path / "local.csv"
    done = subprocess.run([str(bundle / f"convitx{EXE_SUFFIX}"), "scan", str(folder), "--csv", str(bundled_csv),
                           "--device", "cpu", "--quiet", *model_args],
                          cwd=tmp_path, env=_bundle_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    assert main(["scan", str(folder), "--csv", str(local_csv), "--device", "cpu", "--quiet", *model_args]) == 1
    bundled = {Path(r["path"]).name: r for r in read_csv(bundled_csv)}
    local = {Path(r["path"]).name: r for r in read_csv(local_csv)}
    assert set(bundled) == {"photo.heic", "web.avif", "rotated.heic", "cut.heic"}
    assert [(bundled[n]["width"], bundled[n]["height"]) for n in ("photo.heic", "web.avif", "rotated.heic")] == [
        ("120", "90"), ("100", "70"), ("40", "60")]
    assert "truncated" in bundled["cut.heic"]["error"]
    for name, want in local.items():
        got = bundled[name]
        assert got["verdict"] == want["verdict"] and got["error"] == want["error"], (got, want)
        if want["p_ai"]:
            assert abs(float(got["p_ai"]) - float(want["p_ai"])) <= 1e-3, (got, want)


@slow
def test_bundled_cli_help_and_usage_error(bundle, tmp_path):
    env = _bundle_env(tmp_path)
    cli = str(bundle / f"convitx{EXE_SUFFIX}")
    shown = subprocess.run([cli, "scan", "--help"], env=env, capture_output=True, text=True,
                           timeout=120)
    assert shown.returncode == 0 and "not proof" in shown.stdout, shown.stderr
    missing = subprocess.run([cli, "scan", str(SAMPLES), "--csv", str(tmp_path / "o.csv"),
                              "--model", str(tmp_path / "absent.safetensors")], env=env, capture_output=True,
                             text=True, timeout=120)
    assert missing.returncode == 2 and "not found" in missing.stderr and "Traceback" not in missing.stderr


@slow
def test_bundled_gui_stays_up_offscreen(bundle, model_args, tmp_path):
    env = _bundle_env(tmp_path)
    out, err = tmp_path / "gui.out", tmp_path / "gui.err"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        proc = subprocess.Popen([str(bundle / f"convitx-desktop{EXE_SUFFIX}"), *model_args, str(SAMPLES)], env=env,
                                stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
        try:
            time.sleep(GUI_SECONDS)
            code = proc.poll()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "logs").glob("*.log"))
    report = f"stdout:\n{out.read_text()}\nstderr:\n{err.read_text()}\nlogs:\n{logs}"
    assert code is None, f"the app exited with {code} within {GUI_SECONDS} s\n{report}"
    assert "Traceback" not in err.read_text() and "Traceback" not in logs, report
    assert "started" in logs, report  # convitx_desktop.app logs "<name> started" once the window is up


@slow
def test_bundle_is_cpu_only_and_under_1_gib(bundle):
    root = bundle.parent if bundle.name == "MacOS" else bundle  # macOS: all of ConViTX.app/Contents
    files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    names = [p.relative_to(root).as_posix() for p in files]
    libraries = [(n, p) for n, p in zip(names, files) if p.suffix in (".so", ".dll", ".dylib") or ".so." in p.name]
    cuda = [n for n, p in libraries if p.name.lower().startswith(CUDA_NAMES) or "nvidia/" in n]
    assert not cuda, f"CUDA libraries in a CPU bundle: {cuda[:10]}"
    size = sum(p.stat().st_size for p in files)
    print(f"\nbundle {root}: {size / 2**20:.0f} MiB in {len(files)} files")
    assert size <= MAX_BUNDLE_BYTES, f"bundle is {size / 2**20:.0f} MiB"
    assert any(n.endswith("resources/samples/fractal.png") for n in names), "resources/ not bundled"
    assert any(n.endswith(f"c2pa/libs/{C2PA_LIB}") or n.endswith(f"c2pa/{C2PA_LIB}") for n in names), \
        "C2PA native library missing"


# --- static checks (fast, every `make test`) -------------------------------------------------------


def test_torchvision_stub_schemas_equal_the_real_ones():
    """The runtime hook's schemas must be what torchvision itself registers (checked against the dev
    venv's torchvision, whose _C loads), or timm's `import torchvision` could break in the bundle."""
    import ast

    import torch
    import torchvision  # noqa: F401  (loads torchvision's own operators)

    source = (ROOT / "packaging" / "hooks" / "rthook_torchvision_ops.py").read_text()
    tree = ast.parse(source)
    node = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "TORCHVISION_SCHEMAS")
    schemas = ast.literal_eval(node.value)
    assert len(schemas) == len(set(schemas)) >= 10
    for schema in schemas:
        name = schema.split("(")[0]
        assert str(getattr(torch.ops.torchvision, name).default._schema) == f"torchvision::{schema}"


def test_entitlements_plist_parses_with_the_hardened_runtime_keys():
    import plistlib

    with open(ROOT / "packaging" / "macos" / "entitlements.plist", "rb") as handle:
        entitlements = plistlib.load(handle)
    assert entitlements == {
        "com.apple.security.cs.allow-jit": True,
        "com.apple.security.cs.allow-unsigned-executable-memory": True,
        "com.apple.security.cs.disable-library-validation": True,
    }


def test_inno_setup_script_is_well_formed():
    sys.path.insert(0, str(ROOT / "packaging"))
    try:
        from check_iss import check
    finally:
        sys.path.pop(0)
    script = ROOT / "packaging" / "windows" / "convitx.iss"
    assert check(script) == []
    text = script.read_text()
    assert "OutputBaseFilename=ConViTX-Setup-{#AppVersion}" in text and "vc_redist" in text


def test_release_workflow_builds_every_platform_and_uploads():
    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    build = workflow["jobs"]["build"]
    assert {leg["os"] for leg in build["strategy"]["matrix"]["include"]} == {
        "windows-latest", "macos-14", "macos-15-intel"}
    uses = [step.get("uses", "") for step in build["steps"]]
    assert any(u.startswith("actions/upload-artifact@") for u in uses)
    assert workflow["jobs"]["release"]["if"].startswith("startsWith(github.ref, 'refs/tags/")


def test_samples_and_spec_are_in_place():
    samples = [p for p in SAMPLES.iterdir() if p.is_file()]
    assert 4 <= len(samples) <= 6 and all(p.stat().st_size < 100_000 for p in samples)
    compile((ROOT / "build.spec").read_text(), "build.spec", "exec")
