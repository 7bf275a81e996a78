"""`convitx scan --resume`: which rows of an earlier scan still stand, and which files are left to score.

A row stands when the same model scored it without error and the file's size and modification time
are still the ones recorded in its ``file_size`` and ``file_modified`` columns. Everything else is
scored again: error rows (the file may have been fixed or moved back), rows of another model, files
that changed, and rows from CSVs that did not record size and time (the desktop app's exports)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from .files import ScanItem, file_columns, path_key
from .results import ScanResult, partial_path, read_results_csv


@dataclass
class ResumePlan:
    source: Path | None = None  # the partial or finished CSV read; None when there was nothing to resume
    kept: dict[str, ScanResult] = field(default_factory=dict)  # path_key -> the row that stands
    torn: bool = False  # a torn last line (a kill in the middle of a row) was dropped
    errors: int = 0  # error rows, retried
    other_model: int = 0  # rows another model scored, rescored
    changed: int = 0  # files changed since (or size and time not recorded), rescored

    def todo(self, items: list[ScanItem]) -> list[ScanItem]:
        return [item for item in items if path_key(item.path) not in self.kept]

    def summary(self, csv_path: str | Path, total: int) -> str:
        if self.source is None:
            return f"nothing to resume (no {partial_path(csv_path).name} or {Path(csv_path).name}): scanning everything"
        notes = [f"{n} {what}" for n, what in ((self.errors, "error rows retried"),
                                               (self.other_model, "rows of another model rescored"),
                                               (self.changed, "changed files rescored")) if n]
        if self.torn:
            notes.append("a torn last line dropped")
        details = f" ({', '.join(notes)})" if notes else ""
        return (f"resuming from {self.source}: {len(self.kept)} already scored, "
                f"{total - len(self.kept)} to go{details}")


def plan_resume(csv_path: str | Path, items: list[ScanItem], model_name: str) -> ResumePlan:
    """Read ``OUT.csv.partial`` (an interrupted scan) or else ``OUT.csv`` (a finished one) and sort
    the rows for ``items`` into kept and to-score. OSError or ValueError when the file cannot be read
    or is not a results CSV."""
    csv_path = Path(csv_path)
    source = next((p for p in (partial_path(csv_path), csv_path) if p.is_file()), None)
    if source is None:
        return ResumePlan()
    rows, torn = read_results_csv(source)
    previous = {path_key(row.path): row for row in rows}
    plan = ResumePlan(source=source, torn=torn)
    for item in items:
        key = path_key(item.path)
        row = previous.get(key)
        if row is None:
            continue
        if not row.ok:
            plan.errors += 1
        elif row.model != model_name:
            plan.other_model += 1
        elif row.file_size is None or file_columns(item.path) != {"file_size": row.file_size,
                                                                  "file_modified": row.file_modified}:
            plan.changed += 1
        else:
            plan.kept[key] = replace(row, path=str(item.path))
    return plan
