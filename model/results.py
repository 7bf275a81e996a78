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

# A result's fields, in this order; then DERIVED_COLUMNS, computed from them when written (not read back).
STORED_COLUMNS = ("path", "verdict", "p_ai", "width", "height", "model", "provenance", "provenance_detail", "error",
                  "file_size", "file_modified", "jpeg_quality", "resized", "copy_note", "reliability_note")
DERIVED_COLUMNS = ("summary",)
CSV_COLUMNS = STORED_COLUMNS + DERIVED_COLUMNS
TIERS_METRIC = "tiers"  # ModelInfo.metrics[TIERS_METRIC][tier]["photo_called_ai"]: the model card's per-tier figures
VERDICTS = ("ai", "human", "uncertain", "error")
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
    file_size: int | None = None  # bytes, and modification time (model.files.file_columns), taken
    file_modified: str = ""  # before decoding: `convitx scan --resume` rescores a file that changed since
    jpeg_quality: int | None = None  # the copy's history (provenance.copy_history, docs/copy-history.md):
    resized: str = ""  # 'yes', 'likely', 'no' or '' (the file does not say)
    copy_note: str = ""  # its findings, '; '-separated, each saying how sure
    reliability_note: str = ""  # a caution on the verdict when the copy is far from an original

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


def csv_unsafe(value: str) -> str:
    """Undo csv_safe on a cell read back."""
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_STARTS) else value


def summary(result: ScanResult) -> str:
    """One line that sets what the file declares beside what its pixels score ('' when it declares nothing)."""
    from provenance.summary import beside_pixels

    return beside_pixels(result.provenance, result.provenance_detail, result.p_ai)


def row_dict(result: ScanResult) -> dict:
    """A result's stored fields and its derived columns: one JSON object, or one CSV row before formatting."""
    return {**asdict(result), "summary": summary(result)}


def copy_columns(history: dict, metrics: dict) -> dict:
    """A result's columns from the copy's history (model.decoding), with the model card's per-tier figures."""
    from provenance import NOTE_SEPARATOR
    from provenance.copy_history import reliability_note

    tiers = metrics.get(TIERS_METRIC) if isinstance(metrics.get(TIERS_METRIC), dict) else {}
    rates = {tier: figures.get("photo_called_ai") for tier, figures in tiers.items() if isinstance(figures, dict)}
    return {"jpeg_quality": history.get("jpeg_quality"), "resized": history.get("resized", ""),
            "copy_note": NOTE_SEPARATOR.join(history.get("findings", ())),
            "reliability_note": reliability_note(history, rates)}


def csv_row(result: ScanResult) -> list[str]:
    row = row_dict(result)
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


def result_from_row(row: dict[str, str]) -> ScanResult:
    """A CSV row read back as a result (the inverse of csv_row); ValueError when it is not one."""
    if row.get("verdict") not in VERDICTS or not row.get("path"):
        raise ValueError(f"not a result row: {row}")
    text = {name: csv_unsafe(row.get(name) or "") for name in STORED_COLUMNS}
    numbers = {name: int(text[name]) if text[name] else None
               for name in ("width", "height", "file_size", "jpeg_quality")}
    return ScanResult(**{**text, **numbers, "p_ai": float(text["p_ai"]) if text["p_ai"] else None})


def read_results_csv(path: str | os.PathLike) -> tuple[list[ScanResult], bool]:
    """The rows of a finished or partial results CSV, and whether a torn last line (a scan killed in the
    middle of writing a row) was dropped. Rows that do not parse are left out (rescored); ValueError when the file
    is not a results CSV at all (no ``path`` and ``verdict`` columns)."""
    data = Path(path).read_bytes()
    torn = bool(data) and not data.endswith(b"\n")
    if torn:
        data = data[: data.rfind(b"\n") + 1]
    reader = csv.DictReader(io.StringIO(data.decode("utf-8", errors="replace"), newline=""))
    if not {"path", "verdict"} <= set(reader.fieldnames or ()):
        raise ValueError(f"{path} is not a convitx results CSV (no path and verdict columns)")
    results = []
    for row in reader:
        try:
            results.append(result_from_row(row))
        except ValueError:
            continue  # a damaged row: its file is scored again
    return results, torn


def partial_path(path: str | os.PathLike) -> Path:
    """Where a scan writes ``OUT`` while it runs (and where an interrupted one leaves its rows)."""
    path = Path(path)
    return path.with_name(path.name + ".partial")


class ResultStream:
    """Rows as they come, appended to ``OUT.partial`` and flushed one by one, so a killed scan (even
    SIGKILL) keeps every row written: CSV rows for ``kind="csv"``, JSON Lines (one result per line)
    for ``kind="json"``. ``carried`` rows (kept from an earlier scan by --resume) are written first,
    atomically. ``finish(results)`` writes the finished ``OUT`` atomically and removes the partial;
    ``close()`` alone leaves the partial for a later --resume."""

    def __init__(self, path: str | os.PathLike, kind: str = "csv", carried: Iterable[ScanResult] = (),
                 model_info: dict | None = None):
        self.path, self.kind, self.model_info = Path(path), kind, model_info
        self.partial = partial_path(self.path)
        atomic_write_bytes(self.partial, self._text(carried, header=True).encode("utf-8"))
        self._handle: IO[str] = open(self.partial, "a", encoding="utf-8", newline="")

    def _text(self, results: Iterable[ScanResult], header: bool = False) -> str:
        if self.kind == "json":
            return "".join(json.dumps(row_dict(r), ensure_ascii=False) + "\n" for r in results)
        return csv_text(results, header=header)

    def write(self, result: ScanResult) -> None:
        self._handle.write(self._text([result]))
        self._handle.flush()

    def close(self) -> None:
        if self._handle.closed:
            return
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()

    def finish(self, results: list[ScanResult]) -> None:
        self.close()
        if self.kind == "json":
            write_json(results, self.path, self.model_info)
        else:
            write_csv(results, self.path)
        self.partial.unlink(missing_ok=True)


def csv_text(results: Iterable[ScanResult], header: bool = True) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    if header:
        writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_row(r) for r in results)
    return buffer.getvalue()


def write_csv(results: Iterable[ScanResult], path: str | os.PathLike) -> None:
    atomic_write_bytes(Path(path), csv_text(results).encode("utf-8"))


def write_json(results: Iterable[ScanResult], path: str | os.PathLike, model_info: dict | None = None) -> None:
    document = {"model": model_info or {}, "results": [row_dict(r) for r in results]}
    atomic_write_bytes(Path(path), json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8"))


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))
