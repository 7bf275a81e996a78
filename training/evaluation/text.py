"""Numbers as the reports print them: "n/a" for a missing or undefined value (NaN), never "nan"."""
from __future__ import annotations

import math


def number(value, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def percent(value) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"
