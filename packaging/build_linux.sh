#!/usr/bin/env bash
# `make package` on Linux: the one-folder CPU bundle dist/ConViTX/ (executables convitx-desktop, convitx).
#
# 1. .venv-package (git-ignored): CPU torch + the app's runtime dependencies (from pyproject.toml) +
#    PyInstaller, pinned by packaging/constraints-linux-cpu.txt. Made once; remade when pyproject.toml
#    or the constraints change. The dev venv's torch is a CUDA build whose core libraries
#    link ~2.9 GB of CUDA libraries, so the bundle cannot come from it (see packaging.md).
# 2. A check that timm + the ConViTX network import and run in that venv (with the torchvision hook).
# 3. pyinstaller build.spec (one run at a time: it is CPU-heavy).
#
# Env: PYTHON (python3.11 to create the venv), PKG_VENV (.venv-package), DISTPATH (dist), WORKPATH (build/pyinstaller).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
PKG_VENV=${PKG_VENV:-.venv-package}
DISTPATH=${DISTPATH:-dist}
WORKPATH=${WORKPATH:-build/pyinstaller}
PY="$PKG_VENV/bin/python"
STAMP="$PKG_VENV/.installed-stamp"
CONSTRAINTS=packaging/constraints-linux-cpu.txt
start=$(date +%s)

# One build at a time on this machine (several people and CI share its 2 cores and this checkout).
mkdir -p build
exec 9>build/.package.lock
if ! flock -n 9; then
    echo "package: another build holds build/.package.lock; waiting for it"
    flock 9
fi

if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ] || [ "$CONSTRAINTS" -nt "$STAMP" ]; then
    echo "package: creating $PKG_VENV (CPU torch, runtime dependencies, PyInstaller)"
    rm -rf "$PKG_VENV"
    "$PYTHON" -m venv "$PKG_VENV"
    # Runtime dependencies straight from pyproject.toml, so a new dependency cannot be forgotten here.
    "$PY" -c 'import sys, tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > "$PKG_VENV/requirements.txt"
    "$PY" -m pip install -q -c "$CONSTRAINTS" -r "$PKG_VENV/requirements.txt" \
        pyinstaller pyinstaller-hooks-contrib
    touch "$STAMP"
fi

"$PY" - <<'PY'
import runpy, sys
state = runpy.run_path("packaging/hooks/rthook_torchvision_ops.py")["TORCHVISION_OPS_STATE"]
import torch, timm  # noqa: E401  (timm imports torchvision)
assert torch.version.cuda is None, f"{sys.prefix}: torch {torch.__version__} is not a CPU build"
sys.path.insert(0, ".")
from model import create_model
with torch.no_grad():
    logit = create_model("convitx_test").eval()(torch.rand(2, 3, 32, 32))
assert logit.shape == (2,), logit.shape
print(f"package: venv ok: torch {torch.__version__}, timm {timm.__version__}, torchvision ops {state}")
PY

"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath "$DISTPATH" --workpath "$WORKPATH" build.spec
end=$(date +%s)
echo "package: $DISTPATH/ConViTX/ built in $((end - start)) s, $(du -sh "$DISTPATH/ConViTX" | cut -f1)"
