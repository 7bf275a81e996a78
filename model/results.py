"""One result per scanned file, and the CSV/JSON files they are exported to (CLI and app alike)."""
from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO, Iterable

from .atomic import atomic_write_bytes
from .config import Thresholds

CSV_COLUMNS = ("path", "verdict", "p_ai", "width", "height", "model", "provenance", "provenance_detail", "error")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ScanResult:
    path: str
    verdict: str  # 'ai' | 'human' | 'uncertain' | 'error'
    p_ai: float | None = None
    width: int | None = None
    height: int | None = None
    model: str = ""
    provenance: str = ""
    provenance_detail: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict != "error"

    def relabel(self, thresholds: Thresholds) -> "ScanResult":
        """The same score judged with other thresholds (sensitivity); errors stay errors."""
        if self.p_ai is None:
            return self
        return replace(self, verdict=thresholds.verdict(self.p_ai))


def csv_safe(value: str) -> str:
    """Neutralise text a spreadsheet would run as a formula (CSV injection)."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def csv_row(result: ScanResult) -> list[str]:
    row = asdict(result)
    row["p_ai"] = "" if result.p_ai is None else f"{result.p_ai:.4f}"
    cells = []
    for column in CSV_COLUMNS:
        value = row[column]
        if value is None:
            cells.append("")
        elif isinstance(value, str):
            cells.append(csv_safe(value))
        else:
            cells.append(str(value))
    return cells


class CsvStream:
    """Write rows as they come to ``OUT.partial``, flushed each row so a killed scan keeps them;
    ``close()`` renames it to ``OUT`` in one step."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self._handle: IO[str] = open(self.partial, "w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._handle)
        self._writer.writerow(CSV_COLUMNS)

    def write(self, result: ScanResult) -> None:
        self._writer.writerow(csv_row(result))
        self._handle.flush()

    def close(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        os.replace(self.partial, self.path)


def write_csv(results: Iterable[ScanResult], path: str | os.PathLike) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_row(r) for r in results)
    atomic_write_bytes(Path(path), buffer.getvalue().encode("utf-8"))


def write_json(results: Iterable[ScanResult], path: str | os.PathLike, model_info: dict | None = None) -> None:
    document = {"model": model_info or {}, "results": [asdict(r) for r in results]}
    atomic_write_bytes(Path(path), json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8"))


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))
