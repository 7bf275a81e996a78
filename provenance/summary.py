"""One line that sets what a file declares about its origin beside what its pixels score.

A C2PA manifest or a generator's metadata that declares AI and a pixel score of 32% are different
kinds of evidence: the first is about where the file comes from (and says whether a signature backs
it), the second only about how the pixels look. Shown in two columns they read as a contradiction;
this line says what each one is.
"""
from __future__ import annotations

import math

from .reader import UNSIGNED

# The provenance statuses that make a claim a pixel score can agree or disagree with.
_CLAIMS = {"ai-declared": "AI-generated", "camera-signed": "a camera capture"}


def beside_pixels(status: str, detail: str, p_ai: float | None) -> str:
    """E.g. "Content credentials (C2PA: ChatGPT, signature intact, signer not on trust list) declare this
    image AI-generated; the pixels alone score 32%". Empty without a claim or without a score."""
    claim = _CLAIMS.get(status)
    if claim is None or p_ai is None:
        return ""
    source = detail.split(";")[0].strip()  # reader.py: the deciding record first, with its signing state
    if source.startswith("C2PA:"):
        subject = f"Content credentials ({source}) declare"
    else:
        source = source.replace(f" ({UNSIGNED})", "")
        subject = f"Unsigned metadata ({source}) declares" if source else "Unsigned metadata declares"
    score = f"{math.floor(p_ai * 100 + 1e-9)}%"  # rounded down, as the app shows scores
    return f"{subject} this image {claim}; the pixels alone score {score}"
