"""Combine C2PA and unsigned metadata into one ``Provenance`` (precedence: see package doc)."""

from __future__ import annotations

import os
import stat

from . import Provenance, c2pa_check, metadata
from .signatures import (AI, AI_SOURCE_TYPES, CAPTURE_SOURCE_TYPES, EDITOR, match_software,
                         match_text_chunks, source_type_name)

UNSIGNED = "unsigned, easy to forge or strip"
MAX_HINT = 120
MAX_DETAIL = 240

_STATE_PHRASE = {
    "valid": "signature valid",
    "untrusted": "signature intact, signer not on trust list",
    "invalid": "signature INVALID (file altered after signing, or forged)",
}
_STATE_HINT = {"valid": "valid", "untrusted": "untrusted signer", "invalid": "invalid"}

_SOURCE_LABEL = {"UserComment": "EXIF UserComment", "Comment": "Comment"}


def _hint(value: str) -> str:
    value = " ".join(value.split())
    return value if len(value) <= MAX_HINT else value[: MAX_HINT - 1] + "…"


def camera_name(exif: dict[str, str]) -> str | None:
    """The camera from EXIF Make and Model, without the make twice ("Canon Canon EOS 250D")."""
    make, model = exif.get("Make", "").strip(), exif.get("Model", "").strip()
    if make and model and model.lower().startswith(make.split()[0].lower()):
        return model
    return " ".join(p for p in (make, model) if p) or None


def _finish(status: str, detail: str, signed: bool, hints: dict[str, str]) -> Provenance:
    if len(detail) > MAX_DETAIL:
        detail = detail[: MAX_DETAIL - 1] + "…"
    return Provenance(status, detail, signed, {k: _hint(v) for k, v in hints.items() if v})


def read(path, *, trust_anchors: str | None = None) -> Provenance:
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        return _finish("unreadable", f"File cannot be opened ({exc.strerror or type(exc).__name__})",
                       False, {})
    if not stat.S_ISREG(st.st_mode):
        return _finish("unreadable", "Not a regular file", False, {})
    if st.st_size == 0:
        return _finish("unreadable", "Empty file", False, {})
    try:
        meta = metadata.scan(path)
    except OSError as exc:
        return _finish("unreadable", f"File cannot be read ({exc.strerror or type(exc).__name__})",
                       False, {})

    hints: dict[str, str] = {}
    problems = list(meta.problems)

    # ---- C2PA
    c2 = c2pa_check.C2paResult()
    if c2pa_check.available():
        c2 = c2pa_check.read(path, meta.mime, marker=meta.c2pa_marker, trust_anchors=trust_anchors)
    elif meta.c2pa_marker:
        c2 = c2pa_check.C2paResult(present=True, error="c2pa-python is not installed")
    if c2.error:
        problems.insert(0, f"C2PA: {c2.error}")
    if c2.state:
        hints["C2PA signature"] = _STATE_HINT[c2.state]
        if c2.claim_generator:
            hints["C2PA claim generator"] = c2.claim_generator
        if c2.signer:
            hints["C2PA signer"] = c2.signer
    remote = c2.remote_url or (meta.xmp_provenance_url if not c2.state else None)
    if remote:
        hints["C2PA manifest"] = f"remote, not fetched (offline): {remote}"

    # ---- unsigned metadata
    camera = camera_name(meta.exif)
    if camera:
        hints["Camera"] = camera
    software = meta.exif.get("Software") or meta.xmp_creator_tool or meta.text.get("Software")
    if software:
        hints["Software"] = software
    source_types = list(dict.fromkeys(source_type_name(v) for v in meta.xmp_source_types))
    if source_types:
        hints["Digital source type (XMP)"] = ", ".join(source_types)

    unsigned_ai: list[tuple[str, str]] = []   # (detail, generator name)
    text_match = match_text_chunks(meta.text)
    if text_match:
        label = _SOURCE_LABEL.get(text_match.key, "PNG text" if meta.format == "png" else "Text")
        unsigned_ai.append((f"{label}: {text_match.name} {text_match.what} ({UNSIGNED})",
                            text_match.name))
    for name in source_types:
        if name in AI_SOURCE_TYPES:
            unsigned_ai.append((f"XMP: DigitalSourceType {name} ({AI_SOURCE_TYPES[name]}; {UNSIGNED})",
                                ""))
            break
    editor = None
    for label, value in (("EXIF Software", meta.exif.get("Software")),
                         ("XMP CreatorTool", meta.xmp_creator_tool),
                         ("PNG Software", meta.text.get("Software"))):
        sig = match_software(value)
        if sig and sig.kind == AI:
            unsigned_ai.append((f"{label}: {value} ({sig.name}; {UNSIGNED})", sig.name))
        elif sig and sig.kind == EDITOR and editor is None:
            editor = (label, value, sig)
    for _detail, name in unsigned_ai:
        if name:
            hints.setdefault("Generator", name)

    def c2_prefix() -> str:
        return f"C2PA: {c2.generator}, {_STATE_PHRASE[c2.state]}"

    # 1. intact C2PA signature with a claim
    if c2.state in ("valid", "untrusted"):
        if c2.ai_types:
            kind = AI_SOURCE_TYPES[c2.ai_types[0]]
            where = " (in an ingredient)" if c2.ai_in_ingredient and not c2.capture else ""
            if c2.generator and match_software(c2.generator):
                hints.setdefault("Generator", c2.generator)
            return _finish("ai-declared", f"{c2_prefix()}; {kind}{where} ({c2.ai_types[0]})",
                           True, hints)
        if c2.capture:
            extra = "; unsigned metadata also claims AI" if unsigned_ai else ""
            return _finish("camera-signed", f"{c2_prefix()}; camera capture (digitalCapture){extra}",
                           True, hints)
        if c2.edited:
            origin = " from a camera-signed capture" if c2.capture_in_ingredient else ""
            return _finish("edited", f"{c2_prefix()}; edited{origin}", True, hints)

    # 2. invalid C2PA manifest that declares AI
    if c2.state == "invalid" and c2.ai_types:
        kind = AI_SOURCE_TYPES[c2.ai_types[0]]
        return _finish("ai-declared", f"{c2_prefix()}; declares {kind} ({c2.ai_types[0]}), unverified",
                       False, hints)

    # 3. unsigned AI metadata
    if unsigned_ai:
        detail = unsigned_ai[0][0]
        if c2.state:
            detail += f"; {c2_prefix()}"
        elif problems:
            detail += f"; also: {problems[0]}"
        return _finish("ai-declared", detail, False, hints)

    # 4. unreadable
    if problems:
        return _finish("unreadable", f"Unreadable: {problems[0]}", False, hints)
    if meta.format is None and not c2.state:
        return _finish("unreadable", "Unreadable: not a recognised image format", False, hints)

    # 5. invalid C2PA without an AI claim
    if c2.state == "invalid":
        if c2.hash_mismatch:
            return _finish("edited", f"{c2_prefix()}; content changed after signing", False, hints)
        codes = ", ".join(code for code in c2.failures if code != "signingCredential.untrusted")
        return _finish("unreadable", f"{c2_prefix()} ({codes or 'invalid manifest'})", False, hints)

    # 6. known editor, unsigned
    if editor:
        label, value, sig = editor
        detail = f"{label}: {value} ({sig.name}; edited, {UNSIGNED})"
        if c2.state:
            detail += f"; {c2_prefix()}, no AI or capture claim"
        return _finish("edited", detail, False, hints)

    # 7. nothing conclusive
    if c2.state:
        return _finish("none", f"{c2_prefix()}; no AI, capture or edit claim", True, hints)
    detail = "No provenance metadata"
    if "C2PA manifest" in hints:
        detail = "No embedded provenance; a remote C2PA manifest is referenced but not fetched (offline)"
    elif camera:
        detail = f"No provenance claim; camera EXIF: {camera} ({UNSIGNED})"
    elif any(t in CAPTURE_SOURCE_TYPES for t in source_types):
        detail = f"No signed provenance; XMP says digitalCapture ({UNSIGNED})"
    return _finish("none", detail, False, hints)

