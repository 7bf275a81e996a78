"""Provenance beside the pixels: C2PA content credentials and generator metadata.

``read_provenance(path)`` reads, offline and without decoding pixels, what a file
*says* about its origin.  It is kept apart from the model's verdict: metadata is
easy to strip, and unsigned metadata is easy to forge, so ``Provenance.signed``
tells whether the evidence comes from a C2PA signature that verified
(``valid`` = trusted signer, or ``untrusted`` = intact signature from a signer
not on the trust list; this package ships no trust list, so real-world
credentials read as ``untrusted`` unless ``trust_anchors`` is given).

Sources read
------------
* C2PA manifests (``c2pa-python``; remote manifest fetch and OCSP off): validation
  state, claim generator, signer, IPTC digital source types in the assertions.
* PNG ``tEXt``/``zTXt``/``iTXt`` chunks, JPEG comments, EXIF ``UserComment``:
  generator records (see :mod:`provenance.signatures`).
* XMP ``Iptc4xmpExt:DigitalSourceType`` and ``xmp:CreatorTool``.
* EXIF ``Software``, ``Make``, ``Model`` (hints only, except known editors).

Precedence (first rule that applies wins)
-----------------------------------------
1. C2PA signature intact (valid or untrusted signer):
   AI source type (``trainedAlgorithmicMedia``, ``compositeWithTrainedAlgorithmicMedia``,
   ``algorithmicMedia``) in the active manifest or an ingredient -> ``ai-declared``;
   ``digitalCapture``/``computationalCapture`` in the active manifest -> ``camera-signed``;
   pixel-editing actions (``c2pa.edited``, ``c2pa.cropped``...) -> ``edited``.  ``signed=True``.
2. C2PA manifest present but invalid, declaring AI -> ``ai-declared``, ``signed=False``,
   the detail saying the signature is invalid.
3. Unsigned AI metadata (generator text chunks, XMP AI source type, a generator named
   in Software/CreatorTool) -> ``ai-declared``, ``signed=False``, detail says "unsigned".
4. Anything unreadable (malformed C2PA data, oversized text chunks, invalid XMP,
   damaged container, unknown format) -> ``unreadable`` with the reason.
5. C2PA manifest invalid because the content changed after signing -> ``edited``
   (``signed=False``); invalid for any other reason -> ``unreadable``.
6. A known editor (Photoshop, Lightroom, GIMP...) in Software/CreatorTool -> ``edited``, unsigned.
7. Otherwise ``none``; an intact C2PA manifest with no AI/capture/edit claim keeps
   ``signed=True``.  Camera EXIF (Make/Model) alone is only a hint, never ``camera-signed``.

``read_provenance`` never raises for bad files: every failure becomes ``unreadable``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Provenance", "read_provenance", "STATUSES", "NOTE_SEPARATOR"]

STATUSES = ("ai-declared", "camera-signed", "edited", "none", "unreadable")
NOTE_SEPARATOR = "; "  # between the copy history's findings in the copy_note column (no finding contains it)


@dataclass(frozen=True)
class Provenance:
    """What a file says about its origin (see the module docstring for precedence)."""

    status: str                 # one of STATUSES
    detail: str                 # one short human-readable sentence
    signed: bool = False        # evidence from a valid-or-untrusted C2PA signature
    hints: dict[str, str] = field(default_factory=dict, hash=False, compare=True)


def read_provenance(path, *, trust_anchors: str | bytes | None = None) -> Provenance:
    """Read the provenance of the image at ``path``.

    ``trust_anchors``: optional PEM certificates treated as trusted C2PA roots
    (signatures chaining to them read as ``valid`` instead of ``untrusted``).
    Never raises for bad files; time and memory are bounded.
    """
    from .reader import read

    try:
        if isinstance(trust_anchors, bytes):
            trust_anchors = trust_anchors.decode("ascii", "replace")
        return read(path, trust_anchors=trust_anchors)
    except Exception as exc:  # last-resort guard: a bad file must never crash the app
        return Provenance("unreadable", f"Provenance could not be read ({type(exc).__name__})")
