"""C2PA content credentials, read offline with ``c2pa-python``.

Remote manifest fetching and OCSP are switched off; no network is used.  The
native reader runs in a worker thread with a time limit, and files above
``MAX_FILE_BYTES`` are not hashed at all, so a hostile file cannot hang the caller.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .signatures import AI_SOURCE_TYPES, CAPTURE_SOURCE_TYPES, match_software, source_type_name

MAX_FILE_BYTES = 1 << 30        # larger files are not validated (the data hash reads them whole)
TIMEOUT_S = 20.0
MAX_MANIFEST_MB = 32            # decompressed manifest cap handed to the SDK

# Actions that change the pixels (C2PA 2.x action vocabulary).
EDIT_ACTIONS = frozenset({
    "c2pa.edited", "c2pa.color_adjustments", "c2pa.cropped", "c2pa.drawing", "c2pa.filtered",
    "c2pa.orientation", "c2pa.resized", "c2pa.placed", "c2pa.removed", "c2pa.redacted",
})
HASH_MISMATCH_CODES = ("assertion.dataHash.mismatch", "assertion.boxesHash.mismatch",
                       "assertion.bmffHash.mismatch", "assertion.collectionHash.mismatch")


@dataclass
class C2paResult:
    """Outcome of the C2PA check for one file."""

    present: bool = False
    state: str | None = None            # 'valid' | 'untrusted' | 'invalid'
    error: str | None = None            # set when C2PA data could not be read
    remote_url: str | None = None       # manifest referenced remotely (not fetched)
    claim_generator: str | None = None  # raw claim generator ("Adobe Firefly 1.0")
    generator: str | None = None        # display name of the tool that made the content
    signer: str | None = None
    ai_types: list[str] = field(default_factory=list)   # AI source types, active manifest
    ai_in_ingredient: bool = False      # AI source type only in an ingredient's manifest
    capture: bool = False               # digitalCapture in the active manifest
    capture_in_ingredient: bool = False
    edited: bool = False                # pixel-editing actions in the active manifest
    failures: list[str] = field(default_factory=list)

    @property
    def hash_mismatch(self) -> bool:
        return any(code in HASH_MISMATCH_CODES for code in self.failures)


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """Whether c2pa-python and its native library load (checked once)."""
    try:
        pin_native_library()
        import c2pa  # noqa: F401
    except Exception:
        return False
    return True


def pin_native_library() -> None:
    """c2pa-python looks for its native library in the current folder first, so a file planted in the
    folder the app was started from would be loaded. Name the copy inside the package instead (an
    absolute C2PA_LIBRARY_NAME is tried before any search path)."""
    spec = importlib.util.find_spec("c2pa")
    if spec is None or not spec.submodule_search_locations:
        return
    name = {"darwin": "libc2pa_c.dylib", "win32": "c2pa_c.dll"}.get(sys.platform, "libc2pa_c.so")
    bundled = Path(list(spec.submodule_search_locations)[0]) / "libs" / name
    if bundled.is_file():
        os.environ.setdefault("C2PA_LIBRARY_NAME", str(bundled))


_contexts: dict[str | None, object] = {}
_contexts_lock = threading.Lock()


def _context(trust_anchors: str | None):
    import c2pa

    with _contexts_lock:
        ctx = _contexts.get(trust_anchors)
        if ctx is None:
            settings = {
                "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False, "verify_trust": True},
                "core": {"allowed_network_hosts": [],
                         "max_decompressed_manifest_size_in_mb": MAX_MANIFEST_MB},
            }
            if trust_anchors:
                settings["trust"] = {"trust_anchors": trust_anchors}
            ctx = c2pa.Context.from_dict(settings)
            _contexts[trust_anchors] = ctx
        return ctx


def read(path: str | os.PathLike, mime: str | None, *, marker: bool,
         trust_anchors: str | None = None, timeout: float | None = None) -> C2paResult:
    """Check ``path`` for C2PA data.  ``marker``: the container walker saw a C2PA record."""
    timeout = TIMEOUT_S if timeout is None else timeout
    size = os.path.getsize(path)
    if size > MAX_FILE_BYTES:
        if marker:
            return C2paResult(present=True, error=f"file too large to validate ({size:,} bytes)")
        return C2paResult()
    box: dict = {}

    def work():
        try:
            box["result"] = _read_blocking(path, mime, marker, trust_anchors)
        except BaseException as exc:  # reported to the caller thread
            box["exc"] = exc

    worker = threading.Thread(target=work, name="provenance-c2pa", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        return C2paResult(present=marker, error=f"C2PA check timed out after {timeout:g} s")
    if "exc" in box:
        exc = box["exc"]
        return C2paResult(present=marker, error=f"C2PA check failed ({type(exc).__name__})")
    return box["result"]


def _short(message: str) -> str:
    message = " ".join(str(message).split())
    return message[:120]


def _read_blocking(path, mime, marker, trust_anchors) -> C2paResult:
    import c2pa

    with open(path, "rb") as fh:
        try:
            reader = c2pa.Reader(mime, fh, context=_context(trust_anchors))
        except c2pa.C2paError.ManifestNotFound:
            return C2paResult()
        except c2pa.C2paError as exc:
            message = _short(exc)
            if isinstance(exc, c2pa.C2paError.RemoteManifest) or message.startswith("Remote"):
                url = message.rsplit(" url ", 1)[-1] if " url " in message else "unknown URL"
                return C2paResult(remote_url=url)
            if marker:
                return C2paResult(present=True, error=f"malformed C2PA data: {_short(exc)}")
            return C2paResult()  # not C2PA's business: the container itself is odd
        with reader:
            try:
                store = json.loads(reader.json())
            except (c2pa.C2paError, ValueError) as exc:
                return C2paResult(present=True, error=f"malformed C2PA data: {_short(exc)}")
            remote = None
            try:
                if not reader.is_embedded():
                    remote = reader.get_remote_url()
            except c2pa.C2paError:
                pass
    result = interpret(store)
    result.remote_url = remote
    return result


def _walk_source_types(obj, out: list[str], depth: int = 0) -> None:
    if depth > 12:
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            if isinstance(key, str) and key.rsplit(":", 1)[-1].lower() == "digitalsourcetype":
                if isinstance(value, str):
                    out.append(source_type_name(value))
            else:
                _walk_source_types(value, out, depth + 1)
    elif isinstance(obj, list):
        for item in obj[:500]:
            _walk_source_types(item, out, depth + 1)


def _agent_name(agent) -> str | None:
    if isinstance(agent, dict):
        agent = agent.get("name")
    return agent.strip() if isinstance(agent, str) and agent.strip() else None


def _claim_generator(manifest: dict) -> str | None:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict) and info[0].get("name"):
        name = str(info[0]["name"]).strip()
        version = info[0].get("version")
        return f"{name} {version}".strip() if version else name
    generator = str(manifest.get("claim_generator") or "").strip()
    return generator or None


def _manifest_facts(manifest: dict) -> tuple[list[str], list[str], str | None]:
    """(source types, actions, softwareAgent of the AI/created action) of one manifest."""
    types: list[str] = []
    actions: list[str] = []
    agent = None
    for assertion in manifest.get("assertions") or []:
        if not isinstance(assertion, dict):
            continue
        data = assertion.get("data")
        label = str(assertion.get("label", ""))
        if label.startswith("c2pa.actions") and isinstance(data, dict):
            for action in data.get("actions") or []:
                if not isinstance(action, dict):
                    continue
                actions.append(str(action.get("action", "")))
                dst = action.get("digitalSourceType")
                if isinstance(dst, str) and source_type_name(dst) in AI_SOURCE_TYPES:
                    agent = _agent_name(action.get("softwareAgent")) or agent
                elif action.get("action") == "c2pa.created" and agent is None:
                    agent = _agent_name(action.get("softwareAgent"))
        _walk_source_types(data, types)
    return types, actions, agent


def interpret(store: dict) -> C2paResult:
    """Reduce a manifest store (``Reader.json()``) to the facts the app reports."""
    result = C2paResult(present=True)
    state = str(store.get("validation_state") or "")
    result.failures = [str(s.get("code")) for s in store.get("validation_status") or []
                       if isinstance(s, dict)]
    if state == "Trusted":
        result.state = "valid"
    elif state == "Valid":
        result.state = "untrusted"       # signature intact, signer not on the trust list
    else:
        result.state = "invalid"
    manifests = store.get("manifests") or {}
    active = manifests.get(store.get("active_manifest")) if isinstance(manifests, dict) else None
    if not isinstance(active, dict):
        result.state = "invalid"
        result.failures.append("manifest.missing")
        return result
    types, actions, agent = _manifest_facts(active)
    result.ai_types = [t for t in dict.fromkeys(types) if t in AI_SOURCE_TYPES]
    result.capture = any(t in CAPTURE_SOURCE_TYPES for t in types)
    result.edited = any(a in EDIT_ACTIONS for a in actions)
    for label, manifest in manifests.items():
        if label == store.get("active_manifest") or not isinstance(manifest, dict):
            continue
        other_types, _, _ = _manifest_facts(manifest)
        if any(t in AI_SOURCE_TYPES for t in other_types):
            result.ai_in_ingredient = True
            if not result.ai_types:
                result.ai_types = [t for t in dict.fromkeys(other_types) if t in AI_SOURCE_TYPES]
        if any(t in CAPTURE_SOURCE_TYPES for t in other_types):
            result.capture_in_ingredient = True
    result.claim_generator = _claim_generator(active)
    info = active.get("claim_generator_info")
    base_name = (str(info[0].get("name") or "").strip() or None
                 if isinstance(info, list) and info and isinstance(info[0], dict) else None)
    source = agent or base_name or result.claim_generator
    sig = match_software(agent) or match_software(result.claim_generator)
    result.generator = sig.name if sig else (source[:60] if source else "unknown generator")
    info = active.get("signature_info") or {}
    if isinstance(info, dict):
        result.signer = info.get("issuer") or info.get("common_name")
    return result
