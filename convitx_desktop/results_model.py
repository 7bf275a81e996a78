"""The results table: every ScanResult as one row, relabelled live by the sensitivity setting.

The model keeps the scores as the engine gave them and derives the shown verdicts from each row's own
model thresholds shifted by the user's offset, so moving the sensitivity never rescores anything.
Sorting happens here, with one Python ``sort`` over precomputed keys: a proxy sort would call back into
Python for every comparison, which takes seconds on ten thousand rows. The proxy only filters.
"""
from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSize, QSortFilterProxyModel, Qt, \
    Signal

from . import verdicts
from model.files import path_key
from .thumbnails import ThumbnailCache

RESULT_ROLE = Qt.ItemDataRole.UserRole + 1
THUMBNAIL_SIZE = QSize(48, 48)


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    tip: str


COLUMNS = (
    Column("thumbnail", "", "Thumbnail"),
    Column("name", "File", "File name"),
    Column("verdict", "Verdict", "AI, Human, Uncertain (the model cannot tell) or Error (the file could not be read)"),
    Column("p_ai", "AI likelihood", "The model's estimate that the image is AI-generated. Not proof."),
    Column("model", "Model", "The model that scored this row (shown when rows come from another model than the "
                             "one in use)"),
    Column("size", "Size", "Width × height in pixels"),
    Column("provenance", "Provenance", "What the file's own metadata says about its origin (hover for details)"),
    Column("error", "Problem", "Why a file could not be scored, or that it is no longer where it was"),
    Column("folder", "Folder", "Folder the file is in"),
)
COLUMN = {column.key: index for index, column in enumerate(COLUMNS)}
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
MISSING = "File missing (moved or deleted)"
MISSING_TIP = ("The file is no longer at this path: it was moved or deleted after it was scored. "
               "The verdict is from then.")


def percent(p_ai: float | None) -> str:
    """Whole percent, rounded down, so a score shown as "65%" is never under a line shown as "65%"."""
    return "—" if p_ai is None else f"{math.floor(p_ai * 100 + 1e-9)}%"


def short_model_name(name: str) -> str:
    """A model's name without its parenthesised details, which crowd a table cell or the status bar."""
    return name.split(" (")[0]


class ResultsModel(QAbstractTableModel):
    counts_changed = Signal()

    def __init__(self, thumbnails: ThumbnailCache, parent=None):
        super().__init__(parent)
        self._thumbnails = thumbnails
        self._scored: list = []  # ScanResult as the engine made them
        self._shown: list = []  # the same, relabelled with the current sensitivity
        self._row_of: dict[str, int] = {}
        self._thresholds: dict = {}  # model name -> its calibrated Thresholds
        self._offset = 0.0
        self._counts: Counter = Counter()
        self._missing: set[str] = set()  # path keys of files no longer there (a reopened session)
        self._sort_column, self._sort_order = -1, Qt.SortOrder.AscendingOrder  # -1: scan order
        thumbnails.ready.connect(self._thumbnail_ready)

    # --- changes ---------------------------------------------------------------------------

    def add_results(self, results: list) -> list:
        """Append rows for files not in the table yet; returns those."""
        fresh = [r for r in results if path_key(r.path) not in self._row_of]
        if not fresh:
            return fresh
        first, current = len(self._scored), self._current_thresholds()
        self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
        for offset, result in enumerate(fresh):
            shown = self._relabel(result, current)
            self._scored.append(result)
            self._shown.append(shown)
            self._row_of[path_key(result.path)] = first + offset
            self._counts[shown.verdict] += 1
        self.endInsertRows()
        self._apply_sort()
        self.counts_changed.emit()
        return fresh

    def replace_results(self, results: list) -> list:
        """Rescanned rows take the place of the same files' rows; files no longer in the list are ignored.
        Returns the rows that replaced one."""
        current, changed, replaced = self._current_thresholds(), [], []
        for result in results:
            row = self._row_of.get(path_key(result.path))
            if row is None:
                continue
            shown = self._relabel(result, current)
            self._counts[self._shown[row].verdict] -= 1
            self._counts[shown.verdict] += 1
            self._scored[row], self._shown[row] = result, shown
            self._missing.discard(path_key(result.path))
            changed.append(row)
            replaced.append(result)
        if not changed:
            return replaced
        self.dataChanged.emit(self.index(min(changed), 0), self.index(max(changed), len(COLUMNS) - 1))
        self._apply_sort()
        self.counts_changed.emit()
        return replaced

    def clear(self) -> list[str]:
        """Remove every row at once (cheaper than row by row); returns their paths."""
        paths = [r.path for r in self._scored]
        self.beginResetModel()
        self._scored, self._shown, self._row_of, self._missing = [], [], {}, set()
        self._counts = Counter()
        self.endResetModel()
        for path in paths:
            self._thumbnails.forget(path)
        self.counts_changed.emit()
        return paths

    def set_missing(self, paths: list[str]) -> None:
        """Mark files that are no longer where they were scored (their verdicts stay, from then)."""
        self._missing.update(path_key(p) for p in paths)
        if self._shown:
            column = COLUMN["error"]
            self.dataChanged.emit(self.index(0, column), self.index(len(self._shown) - 1, column))

    def is_missing(self, result) -> bool:
        return path_key(result.path) in self._missing

    def set_model_thresholds(self, model_name: str, thresholds) -> None:
        self._thresholds[model_name] = thresholds
        self._relabel_all()

    def set_sensitivity(self, offset: float) -> None:
        if offset != self._offset:
            self._offset = offset
            self._relabel_all()

    def remove_rows(self, rows: list[int]) -> list[str]:
        """Remove rows (source row numbers); returns their paths."""
        removed = []
        for row in sorted(set(rows), reverse=True):
            self.beginRemoveRows(QModelIndex(), row, row)
            result = self._scored.pop(row)
            self._counts[self._shown.pop(row).verdict] -= 1
            self.endRemoveRows()
            removed.append(result.path)
            self._missing.discard(path_key(result.path))
            self._thumbnails.forget(result.path)
        self._row_of = {path_key(r.path): i for i, r in enumerate(self._scored)}
        self.counts_changed.emit()
        return removed

    # --- reading ---------------------------------------------------------------------------

    def result(self, row: int):
        return self._shown[row]

    def results(self) -> list:
        return list(self._shown)

    def models(self) -> set[str]:
        """The names of the models that scored the rows."""
        return {r.model for r in self._scored}

    def counts(self) -> dict[str, int]:
        return {verdict: self._counts[verdict] for verdict in verdicts.VERDICT_ORDER}

    def thresholds_for(self, result):
        """The thresholds that judged ``result`` now: its own model's, moved by the sensitivity."""
        thresholds = self._thresholds.get(result.model)
        return thresholds.shifted(self._offset) if thresholds is not None else None

    def row_of(self, path: str) -> int | None:
        return self._row_of.get(path_key(path))

    # --- Qt model --------------------------------------------------------------------------

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._shown)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section].title
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMNS[section].tip
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        result = self._shown[index.row()]
        key = COLUMNS[index.column()].key
        if key == "error" and role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole) \
                and self.is_missing(result):
            return MISSING if role == Qt.ItemDataRole.DisplayRole else MISSING_TIP
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(result, key)
        if role == RESULT_ROLE:
            return result
        if role == Qt.ItemDataRole.DecorationRole and key == "thumbnail":
            return self._thumbnails.get(result.path)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(result, key)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if key in ("p_ai", "size") else _LEFT
        if role == Qt.ItemDataRole.AccessibleTextRole and key == "verdict":
            return f"Verdict: {verdicts.label(result.verdict)}"
        return None

    @staticmethod
    def _text(result, key: str) -> str:
        if key == "name":
            return os.path.basename(result.path)
        if key == "folder":
            return os.path.dirname(result.path)
        if key == "verdict":
            return verdicts.label(result.verdict)
        if key == "p_ai":
            return percent(result.p_ai)
        if key == "size":
            return f"{result.width} × {result.height}" if result.width else ""
        if key == "provenance":
            return verdicts.PROVENANCE_LABELS.get(result.provenance, result.provenance)
        if key == "error":
            return result.error
        if key == "model":
            return short_model_name(result.model)
        return ""

    @staticmethod
    def _sort_key(result, key: str):
        if key == "verdict":
            return verdicts.VERDICT_ORDER.index(result.verdict) if result.verdict in verdicts.VERDICT_ORDER else 9
        if key == "p_ai":
            return -1.0 if result.p_ai is None else result.p_ai
        if key == "size":
            return (result.width or 0) * (result.height or 0)
        if key == "thumbnail":
            return os.path.basename(result.path).casefold()
        return ResultsModel._text(result, key).casefold()

    @staticmethod
    def _tooltip(result, key: str) -> str | None:
        if key in ("name", "folder", "thumbnail"):
            return result.path
        if key == "model":
            return result.model or None
        if key == "provenance":
            return result.provenance_detail or None
        if key == "error":
            return result.error or None
        if key == "p_ai" and result.p_ai is not None:
            return f"p_ai = {result.p_ai:.4f} (model {result.model})"
        return None

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self._sort_column, self._sort_order = column, order
        self._apply_sort()

    # --- internals -------------------------------------------------------------------------

    def _current_thresholds(self) -> dict:
        return {name: thresholds.shifted(self._offset) for name, thresholds in self._thresholds.items()}

    @staticmethod
    def _relabel(result, current: dict):
        """The row as shown now; the engine's own object when the verdict does not change (cheap for 10k rows)."""
        thresholds = current.get(result.model)
        if thresholds is None or result.p_ai is None or thresholds.verdict(result.p_ai) == result.verdict:
            return result
        return result.relabel(thresholds)

    def _relabel_all(self) -> None:
        current = self._current_thresholds()
        self._shown = [self._relabel(r, current) for r in self._scored]
        self._counts = Counter(r.verdict for r in self._shown)
        if self._shown:
            column = COLUMN["verdict"]
            self.dataChanged.emit(self.index(0, column), self.index(len(self._shown) - 1, column))
        if self._sort_column == COLUMN["verdict"]:
            self._apply_sort()
        self.counts_changed.emit()

    def _apply_sort(self) -> None:
        """Reorder rows by the chosen column, keeping selections and the current row on the same files."""
        if self._sort_column < 0 or not self._shown:
            return
        key = COLUMNS[self._sort_column].key
        keys = [self._sort_key(r, key) for r in self._shown]
        order = sorted(range(len(keys)), key=keys.__getitem__,
                       reverse=self._sort_order == Qt.SortOrder.DescendingOrder)
        if order == list(range(len(order))):
            return
        self.layoutAboutToBeChanged.emit()
        new_row = {old: new for new, old in enumerate(order)}
        persistent = self.persistentIndexList()
        self._scored = [self._scored[i] for i in order]
        self._shown = [self._shown[i] for i in order]
        self._row_of = {path_key(r.path): i for i, r in enumerate(self._scored)}
        self.changePersistentIndexList(persistent, [self.index(new_row[i.row()], i.column()) for i in persistent])
        self.layoutChanged.emit()

    def _thumbnail_ready(self, path: str) -> None:
        row = self.row_of(path)
        if row is not None:
            index = self.index(row, COLUMN["thumbnail"])
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])


class ResultsFilter(QSortFilterProxyModel):
    """Shows only the chosen verdicts and matching names; sorting is passed on to the ResultsModel."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._verdicts: frozenset[str] | None = None  # None = all
        self._search = ""

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self.sourceModel().sort(column, order)

    def set_verdicts(self, wanted: set[str] | None) -> None:
        self._refilter(lambda: setattr(self, "_verdicts", frozenset(wanted) if wanted else None))

    def set_search(self, text: str) -> None:
        self._refilter(lambda: setattr(self, "_search", text.strip().casefold()))

    def _refilter(self, change) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.10, where invalidateRowsFilter is deprecated
            self.beginFilterChange()
            change()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            change()
            self.invalidateRowsFilter()

    def is_filtering(self) -> bool:
        return self._verdicts is not None or bool(self._search)

    def filterAcceptsRow(self, source_row: int, source_parent) -> bool:
        result = self.sourceModel().result(source_row)
        if self._verdicts is not None and result.verdict not in self._verdicts:
            return False
        return not self._search or self._search in os.path.basename(result.path).casefold()
