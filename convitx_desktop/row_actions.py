"""Row actions for the main window: open, show in folder, copy path, remove, clear, and the context menu.

A mixin of ``MainWindow``: it uses the window's ``table``, ``results``, ``proxy``, ``journal``, ``worker``,
``search`` and its row actions, and forgets removed rows' heatmaps and provenance.
"""
from __future__ import annotations

import os
import sys

from PySide6.QtCore import QProcess, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QMenu


class RowActions:
    def _selected_results(self) -> list:
        return [self.results.result(row) for row in self.table.selected_source_rows()]

    def _visible_results(self) -> list:
        return [self.results.result(self.proxy.mapToSource(self.proxy.index(row, 0)).row())
                for row in range(self.proxy.rowCount())]

    def _context_menu(self, position) -> None:
        if not self.table.selected_source_rows():
            return
        menu = QMenu(self)
        for action in (self.open_action, self.reveal_action, self.copy_action, None, self.remove_action):
            menu.addSeparator() if action is None else menu.addAction(action)
        menu.exec(position)

    def open_selected(self) -> None:
        for result in self._selected_results()[:10]:  # a stray Enter on 5,000 rows must not open 5,000 viewers
            QDesktopServices.openUrl(QUrl.fromLocalFile(result.path))

    def reveal_selected(self) -> None:
        selected = self._selected_results()
        if selected:
            reveal_in_file_manager(selected[0].path)

    def copy_selected_paths(self) -> None:
        paths = [result.path for result in self._selected_results()]
        if paths:
            QApplication.clipboard().setText("\n".join(paths))
            self.activity.setText(f"Copied {len(paths)} path{'s' if len(paths) != 1 else ''}.")

    def remove_selected(self) -> None:
        rows = self.table.selected_source_rows()
        if rows:
            removed = self.results.remove_rows(rows)
            self.journal.remove_rows(removed)
            self._forget(removed)

    def clear_list(self) -> None:
        removed = self.results.clear()
        self.journal.remove_rows(removed)
        self._forget(removed)

    def _forget(self, paths: list[str]) -> None:
        self.worker.forget(paths)
        for path in paths:
            self._heatmaps.pop(path, None)
            self._provenance.pop(path, None)
        if not self.results.rowCount() and not self._open_scans:
            self.pages.setCurrentWidget(self.empty_state)

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()


def reveal_in_file_manager(path: str) -> None:
    """Show the file selected in Explorer or Finder; elsewhere open its folder."""
    if sys.platform == "win32":
        QProcess.startDetached("explorer", ["/select,", os.path.normpath(path)])
    elif sys.platform == "darwin":
        QProcess.startDetached("open", ["-R", path])
    else:
        QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(path)))
