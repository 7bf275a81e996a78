"""Known generator and editor signatures, in one small table.

Metadata written by image generators is plain, unsigned text: these rules only
say what a file *claims*, never what it is.  Everything is matched
case-insensitively.

Recognised AI generators
------------------------
PNG text chunks (also a JPEG comment or an EXIF ``UserComment`` holding the same text):

* ``parameters`` with ``Steps:`` / ``Sampler:`` / ``CFG scale:`` / ``Seed:`` /
  ``Negative prompt:`` -> **Stable Diffusion web UI** (AUTOMATIC1111, Forge, SD.Next)
* ``parameters`` holding SwarmUI JSON (``sui_image_params``) -> **SwarmUI**
* ``fooocus_scheme`` key, or ``parameters`` JSON naming Fooocus -> **Fooocus**
* ``prompt`` / ``workflow`` holding node-graph JSON (``class_type`` / ``nodes``) -> **ComfyUI**
* ``invokeai_metadata`` / ``invokeai_graph`` / ``sd-metadata`` / ``Dream`` -> **InvokeAI**
* ``Software`` = NovelAI, or ``Source`` naming NovelAI, or ``Comment`` JSON with
  ``uc`` + ``sampler`` / ``steps`` -> **NovelAI**
* ``Description`` containing ``Job ID:`` -> **Midjourney**

Software names (EXIF ``Software``, XMP ``CreatorTool``, PNG ``Software``/``Source``/``Comment``,
C2PA claim generator and ``softwareAgent``), whole words:

* Adobe Firefly; OpenAI (DALL-E, ChatGPT, Sora); Midjourney; NovelAI;
  Stable Diffusion (Stability AI, SDXL); ComfyUI; InvokeAI; Fooocus; SwarmUI;
  Google Imagen / Gemini; Microsoft Designer / Bing Image Creator; Leonardo.Ai;
  Ideogram; FLUX (Black Forest Labs); Runway; Draw Things.

Recognised editors (-> status ``edited`` when no AI marker is present)
--------------------------------------------------------------------
Adobe Lightroom, Adobe Photoshop, GIMP, Affinity Photo, Capture One, Pixelmator,
paint.net, darktable, RawTherapee, Snapseed, Photopea, Luminar, DxO PhotoLab, Krita.

IPTC digital source types (XMP ``Iptc4xmpExt:DigitalSourceType`` and C2PA assertions)
------------------------------------------------------------------------------------
AI: ``trainedAlgorithmicMedia`` (AI-generated), ``compositeWithTrainedAlgorithmicMedia``
(AI-edited), ``algorithmicMedia`` (algorithmically generated).
Capture: ``digitalCapture``, ``computationalCapture``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

AI = "ai"
EDITOR = "editor"


@dataclass(frozen=True)
class Signature:
    """One recognised program: display name, kind ('ai' or 'editor') and a regex."""

    name: str
    kind: str
    pattern: re.Pattern


def _sig(name: str, kind: str, *words: str) -> Signature:
    alternatives = "|".join(words)
    return Signature(name, kind, re.compile(rf"(?<![\w])(?:{alternatives})(?![\w])", re.I))


# Order matters: the first match wins (AI before editors, Lightroom before Photoshop).
SOFTWARE_SIGNATURES: tuple[Signature, ...] = (
    _sig("Adobe Firefly", AI, r"firefly"),
    _sig("OpenAI (DALL-E / ChatGPT)", AI, r"dall[-·.\s]?e(?:\s?[23])?", r"openai", r"chatgpt",
         r"gpt-4o", r"gpt-image-\d+", r"sora"),
    _sig("Midjourney", AI, r"midjourney"),
    _sig("NovelAI", AI, r"novelai"),
    _sig("ComfyUI", AI, r"comfyui"),
    _sig("InvokeAI", AI, r"invokeai"),
    _sig("Fooocus", AI, r"fooocus"),
    _sig("SwarmUI", AI, r"swarmui", r"stableswarmui"),
    _sig("Stable Diffusion", AI, r"stable[\s-]?diffusion", r"stability\s?ai", r"sdxl"),
    _sig("Google Imagen / Gemini", AI, r"imagen", r"gemini"),
    _sig("Microsoft Designer / Bing Image Creator", AI, r"microsoft designer",
         r"bing image creator", r"image creator from (?:microsoft )?designer"),
    _sig("Leonardo.Ai", AI, r"leonardo\.ai"),
    _sig("Ideogram", AI, r"ideogram"),
    _sig("FLUX (Black Forest Labs)", AI, r"black forest labs", r"flux\.1", r"flux\.2"),
    _sig("Runway", AI, r"runwayml", r"runway gen-\d"),
    _sig("Draw Things", AI, r"draw things"),
    _sig("Adobe Lightroom", EDITOR, r"lightroom"),
    _sig("Adobe Photoshop", EDITOR, r"photoshop"),
    _sig("GIMP", EDITOR, r"gimp"),
    _sig("Affinity Photo", EDITOR, r"affinity photo"),
    _sig("Capture One", EDITOR, r"capture one"),
    _sig("Pixelmator", EDITOR, r"pixelmator"),
    _sig("paint.net", EDITOR, r"paint\.net"),
    _sig("darktable", EDITOR, r"darktable"),
    _sig("RawTherapee", EDITOR, r"rawtherapee"),
    _sig("Snapseed", EDITOR, r"snapseed"),
    _sig("Photopea", EDITOR, r"photopea"),
    _sig("Luminar", EDITOR, r"luminar"),
    _sig("DxO PhotoLab", EDITOR, r"dxo photolab"),
    _sig("Krita", EDITOR, r"krita"),
)

AI_SOURCE_TYPES: dict[str, str] = {
    "trainedAlgorithmicMedia": "AI-generated",
    "compositeWithTrainedAlgorithmicMedia": "AI-edited",
    "algorithmicMedia": "algorithmically generated",
}
CAPTURE_SOURCE_TYPES: frozenset[str] = frozenset({"digitalCapture", "computationalCapture"})


def source_type_name(value: str) -> str:
    """IPTC term from a URI: '.../digitalsourcetype/trainedAlgorithmicMedia' -> 'trainedAlgorithmicMedia'."""
    value = value.strip()
    return value.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def match_software(text: str | None) -> Signature | None:
    """The first signature whose name appears in a software / generator string."""
    if not text:
        return None
    text = text[:4096]
    for sig in SOFTWARE_SIGNATURES:
        if sig.pattern.search(text):
            return sig
    return None


@dataclass(frozen=True)
class TextMatch:
    """A generator recognised from a text field: who, and what kind of record."""

    name: str
    what: str  # e.g. "parameters", "workflow", "metadata"
    key: str   # the text key it came from


_A1111_MARKERS = re.compile(r"(?:^|[\s,])(?:Steps|Sampler|CFG scale|Seed|Negative prompt):", re.I)


def _json(text: str):
    text = text.strip()
    if not text or text[0] not in "{[":
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _looks_like_comfy_graph(obj) -> bool:
    if isinstance(obj, dict):
        if isinstance(obj.get("nodes"), list):
            return True
        values = list(obj.values())[:50]
        return any(isinstance(v, dict) and "class_type" in v for v in values)
    return False


def match_text_chunks(chunks: dict[str, str]) -> TextMatch | None:
    """Recognise a generator from text key/value pairs (PNG chunks, comments)."""
    lower = {k.lower(): (k, v) for k, v in chunks.items()}

    def get(key: str) -> tuple[str, str] | None:
        return lower.get(key.lower())

    if get("fooocus_scheme"):
        return TextMatch("Fooocus", "parameters", get("fooocus_scheme")[0])
    params = get("parameters")
    if params:
        key, value = params
        obj = _json(value)
        if isinstance(obj, dict) and "sui_image_params" in obj:
            return TextMatch("SwarmUI", "parameters", key)
        if isinstance(obj, dict) and re.search(r"fooocus", value[:20000], re.I):
            return TextMatch("Fooocus", "parameters", key)
        if _A1111_MARKERS.search(value):
            return TextMatch("Stable Diffusion web UI", "parameters", key)
    for name in ("prompt", "workflow"):
        item = get(name)
        if item and _looks_like_comfy_graph(_json(item[1])):
            return TextMatch("ComfyUI", "workflow", item[0])
    for name in ("invokeai_metadata", "invokeai_graph", "sd-metadata", "Dream"):
        item = get(name)
        if item:
            return TextMatch("InvokeAI", "metadata", item[0])
    software = get("Software")
    source = get("Source")
    if (software and re.search(r"novelai", software[1], re.I)) or (
            source and re.search(r"novelai", source[1], re.I)):
        return TextMatch("NovelAI", "metadata", (software or source)[0])
    comment = get("Comment")
    if comment:
        obj = _json(comment[1])
        if isinstance(obj, dict) and "uc" in obj and ("sampler" in obj or "steps" in obj):
            return TextMatch("NovelAI", "metadata", comment[0])
        if _A1111_MARKERS.search(comment[1]) and re.search(r"Steps:", comment[1]):
            return TextMatch("Stable Diffusion web UI", "parameters", comment[0])
    for name in ("UserComment",):
        item = get(name)
        if item and _A1111_MARKERS.search(item[1]) and re.search(r"Steps:", item[1]):
            return TextMatch("Stable Diffusion web UI", "parameters", item[0])
    description = get("Description")
    if description and re.search(r"Job ID:", description[1]):
        return TextMatch("Midjourney", "metadata", description[0])
    return None
