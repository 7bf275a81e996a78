"""Sessions for the main window: the last session offered back at start, File ▸ Recent sessions, and a
saved session reopened (and its unfinished scan finished) from the journal.

A mixin of ``MainWindow``: it uses the window's ``journal``, ``results``, ``worker``, ``recent_menu``,
``pages`` and ``activity``, and its ``_ask``, ``_forget`` and ``add_paths``.
"""
from __future__ import annotations

import os

from PySide6.QtWidgets import QMessageBox

from .journal import JournalError

RECENT_SESSIONS = 5  # listed in File ▸ Recent sessions


class SessionControl:
    def _offer_last_session(self) -> None:
        """At start: offer the newest saved session back, and to finish its scan if it did not finish."""
        last = self.journal.sessions(limit=1)
        if not last or self.results.rowCount() or self._open_scans:
            return
        summary = last[0]
        choices = [("Reopen", lambda: self.reopen_session(summary.id)), ("Not now", None)]
        question = f"Reopen your last session?\n\n{summary.describe()}"
        if summary.unfinished:
            choices.insert(0, ("Reopen and finish the scan", lambda: self.reopen_session(summary.id, finish=True)))
            question += "\n\nIts scan did not finish; the rest can be scored now."
        self._ask(QMessageBox.Icon.Question, "Last session", question, choices)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        sessions = self.journal.sessions(limit=RECENT_SESSIONS)
        for summary in sessions:
            action = self.recent_menu.addAction(summary.describe())
            action.triggered.connect(lambda _=False, s=summary: self.reopen_session(s.id, ask_to_finish=True))
            action.setEnabled(not self._open_scans)
        if not sessions:
            self.recent_menu.addAction("No earlier sessions").setEnabled(False)
        elif self._open_scans:
            self.recent_menu.addAction("(available when the scan ends)").setEnabled(False)

    def reopen_session(self, session_id: str, finish: bool = False, ask_to_finish: bool = False) -> None:
        """Show a saved session's rows instead of the current ones (which stay saved); ``finish`` scores the
        files it had queued, ``ask_to_finish`` offers to when there are any."""
        if self._open_scans:
            self.activity.setText("A scan is running: cancel it (Esc) or let it finish, then reopen the session.")
            return
        try:
            saved = self.journal.load(session_id)
        except JournalError as exc:
            self._ask(QMessageBox.Icon.Warning, "Session not reopened", f"The session could not be reopened: {exc}",
                      [("OK", None)])
            return
        from model.config import Thresholds

        self._forget(self.results.clear())
        for name, (human_below, ai_above) in saved.thresholds.items():
            if name != self.model_name:
                self.results.set_model_thresholds(name, Thresholds(human_below=human_below, ai_above=ai_above))
        self.journal.resume(session_id)
        self._record_model()
        self.results.add_results(saved.rows)
        self.worker.remember([r.path for r in saved.rows])
        missing = [r.path for r in saved.rows if not os.path.exists(r.path)]
        self.results.set_missing(missing)
        self.pages.setCurrentWidget(self.table if saved.rows else self.empty_state)
        rows = len(saved.rows)
        text = f"Reopened {saved.summary.when}: {rows} image{'s' if rows != 1 else ''}"
        text += f", {len(missing)} missing." if missing else "."
        self.activity.setText(text)
        if saved.queued and finish:
            self.add_paths(saved.queued)
        elif saved.queued and not ask_to_finish:
            self.activity.setText(f"{text} {saved.summary.queued} not scored yet: add their folders again to "
                                  "score them.")
        elif saved.queued:
            self._ask(QMessageBox.Icon.Question, "Finish the scan?",
                      f"This session's scan did not finish: {len(saved.queued)} image(s) or folder(s) were not "
                      "scored yet. Score them now?",
                      [("Finish the scan", lambda: self.add_paths(saved.queued)), ("Not now", None)])

    def _record_model(self) -> None:
        if self._model_info is not None:
            thresholds = self._model_info.thresholds
            self.journal.record_model(self._model_info.name, thresholds.human_below, thresholds.ai_above)
