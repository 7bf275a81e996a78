"""The results table widget: fixed-height rows (smooth with thousands), verdict badges, a context menu."""
from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QStyle, QStyledItemDelegate, QStyleOptionViewItem, \
    QTableView

from . import verdicts
from .results_model import COLUMN, RESULT_ROLE, THUMBNAIL_SIZE

ROW_HEIGHT = THUMBNAIL_SIZE.height() + 8
_WIDTHS = {"thumbnail": THUMBNAIL_SIZE.width() + 12, "name": 210, "verdict": 100, "p_ai": 95, "size": 100,
           "provenance": 110, "error": 260, "model": 160}


class VerdictDelegate(QStyledItemDelegate):
    """Paints the verdict as a coloured pill with its word (selection highlight stays the style's)."""

    def paint(self, painter, option, index) -> None:
        option = QStyleOptionViewItem(option)
        self.initStyleOption(option, index)
        verdict = index.data(RESULT_ROLE).verdict
        option.text = ""
        style = option.widget.style() if option.widget else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        rect = QRectF(option.rect.adjusted(6, 2, -6, -2))
        verdicts.paint_badge(painter, rect, verdict, option.font)


class ElideRightDelegate(QStyledItemDelegate):
    """Sentences (the problem column) and model names keep their start; the table elides file names in the
    middle."""

    def initStyleOption(self, option, index) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideRight


class ResultsTable(QTableView):
    context_menu_requested = Signal(object)  # global QPoint

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setIconSize(THUMBNAIL_SIZE)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        rows = self.verticalHeader()
        rows.setVisible(False)
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(ROW_HEIGHT)
        self.setItemDelegateForColumn(COLUMN["verdict"], VerdictDelegate(self))
        self.setItemDelegateForColumn(COLUMN["error"], ElideRightDelegate(self))
        self.setItemDelegateForColumn(COLUMN["model"], ElideRightDelegate(self))
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(lambda pos: self.context_menu_requested.emit(
            self.viewport().mapToGlobal(pos)))

    def setModel(self, model) -> None:
        super().setModel(model)
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        header.setSectionResizeMode(COLUMN["thumbnail"], QHeaderView.ResizeMode.Fixed)
        for key, width in _WIDTHS.items():
            self.setColumnWidth(COLUMN[key], width)
        self.setSortingEnabled(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # scan order until the user picks a column

    def selected_source_rows(self) -> list[int]:
        proxy = self.model()
        return sorted({proxy.mapToSource(index).row() for index in self.selectionModel().selectedRows()})
