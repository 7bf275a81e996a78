"""The session journal: every scored row, the files still queued and the model behind each row, in SQLite.

One database (``sessions.sqlite3`` in the user data folder, WAL mode) holds the last few sessions. Rows are
committed as they arrive, so a crash, a kill or a power cut loses at most the batch in flight, and the next
start can reopen the session and finish its scan. Writes never run on the GUI thread: the window hands each
change to ``SessionJournal``, whose writer thread commits everything waiting in one short transaction
(bench/journal_bench.py measures both sides). Reads (the recent sessions, one session's rows) are quick
queries on the GUI thread's own connection, which WAL lets run beside the writer.

A database that cannot be read is renamed ``sessions.sqlite3.corrupt-<time>`` and a new one started;
``notice`` says so in words for the user. If even that fails, the journal is off (``enabled`` is False)
and the app works without it.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import sqlite3
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Iterable

from model.files import path_key

log = logging.getLogger(__name__)

JOURNAL_FILE = "sessions.sqlite3"
SCHEMA_VERSION = 1
KEEP_SESSIONS = 20  # older sessions are deleted when a new one starts
FLUSH_TIMEOUT_S = 10.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, started REAL NOT NULL, updated REAL NOT NULL,
                                     title TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS models (session TEXT NOT NULL, name TEXT NOT NULL, human_below REAL, ai_above REAL,
                                   PRIMARY KEY (session, name));
CREATE TABLE IF NOT EXISTS rows (session TEXT NOT NULL, key TEXT NOT NULL, result TEXT NOT NULL,
                                 PRIMARY KEY (session, key));
CREATE TABLE IF NOT EXISTS queue (session TEXT NOT NULL, key TEXT NOT NULL, path TEXT NOT NULL, kind TEXT NOT NULL,
                                  PRIMARY KEY (session, key));
"""
# A row is its ScanResult as JSON: fields added to ScanResult later are kept, and unknown ones skipped on reading.
# A rescanned row keeps its place (its rowid): the upsert updates it.
_UPSERT_ROW = ("INSERT INTO rows (session, key, result) VALUES (?, ?, ?) "
               "ON CONFLICT (session, key) DO UPDATE SET result=excluded.result")
_STOP = object()


@dataclass(frozen=True)
class SessionSummary:
    id: str
    started: float
    updated: float
    title: str
    rows: int
    queued: int  # files (or dropped folders) not scored yet: the scan did not finish

    @property
    def unfinished(self) -> bool:
        return self.queued > 0

    @property
    def when(self) -> str:
        started = time.localtime(self.started)
        return f"{started.tm_mday} {time.strftime('%b %H:%M', started)}"

    def describe(self) -> str:
        """One line for a menu or a question: when, how many, what."""
        text = f"{self.when} · {self.rows} image{'s' if self.rows != 1 else ''}"
        if self.title:
            text += f" · {self.title}"
        return text + (f" · {self.queued} not scored yet" if self.queued else "")


@dataclass
class SavedSession:
    summary: SessionSummary
    rows: list  # ScanResult, in the order they were first scored
    thresholds: dict = field(default_factory=dict)  # model name -> (human_below, ai_above)
    queued: list[str] = field(default_factory=list)  # paths to scan to finish the session


class JournalError(Exception):
    """The database could not be opened or read; the message is for the user."""


class SessionJournal:
    def __init__(self, folder: str | os.PathLike):
        self.path = Path(folder) / JOURNAL_FILE
        self.notice = ""  # what the user should be told about the journal ("" when all is well)
        self.error = ""  # why writing stopped, once it did
        self.session_id: str | None = None
        self._ops: queue.Queue = queue.Queue()
        self._models: set[str] = set()
        self._reader = self._open_or_set_aside()
        self._writer = None
        if self._reader is not None:
            self._writer = threading.Thread(target=self._write_loop, name="convitx-journal", daemon=True)
            self._writer.start()

    @property
    def enabled(self) -> bool:
        return self._reader is not None

    # --- opening -----------------------------------------------------------------------------

    def _open_or_set_aside(self) -> sqlite3.Connection | None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return _connect_checked(self.path)
        except (sqlite3.Error, JournalError, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            log.warning("session journal %s unusable: %s", self.path, reason)
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            for suffix in ("-wal", "-shm"):
                side = self.path.with_name(self.path.name + suffix)
                if side.exists():
                    os.replace(side, aside.with_name(aside.name + suffix))
            if self.path.exists():
                os.replace(self.path, aside)
            reader = _connect_checked(self.path)
        except (sqlite3.Error, JournalError, OSError) as exc:
            log.warning("session journal disabled: %s", exc)
            self.notice = (f"Earlier sessions could not be read ({reason}), and no new session file could be "
                           f"made in {self.path.parent} ({exc}).\n\nThe app works as usual, but this session "
                           "will not be saved for reopening. Export your results to keep them.")
            return None
        self.notice = (f"The file that keeps your earlier sessions could not be read ({reason}). It was set aside "
                       f"as {aside.name} and a new one was started.\n\nYour images are not affected; only the "
                       "list of earlier sessions is.")
        return reader

    # --- changes (GUI thread; written by the writer thread) -----------------------------------

    def begin(self, title: str) -> str:
        """Start a new session (it becomes the current one) and prune old or empty sessions."""
        session, now = uuid.uuid4().hex, time.time()
        self.session_id, self._models = session, set()
        self._submit(lambda db: (
            db.execute("INSERT INTO sessions (id, started, updated, title) VALUES (?, ?, ?, ?)",
                       (session, now, now, title)),
            _prune(db, keep=session)))
        return session

    def resume(self, session_id: str) -> None:
        """Carry on writing into an earlier session (one that was reopened)."""
        self.session_id, self._models = session_id, set()

    def record_model(self, name: str, human_below: float, ai_above: float) -> None:
        """The thresholds of a model that scores rows in this session, so a reopened session relabels them."""
        session = self.session_id
        if session is None or name in self._models:
            return
        self._models.add(name)
        self._submit(lambda db: db.execute("INSERT OR REPLACE INTO models VALUES (?, ?, ?, ?)",
                                           (session, name, human_below, ai_above)))

    def queue_paths(self, paths: Iterable[str], kind: str) -> None:
        """Paths waiting to be scored: ``root`` for what the user dropped, ``file`` once listed."""
        session = self.session_id
        rows = [(session, path_key(p), p, kind) for p in paths]
        if session is None or not rows:
            return
        action = "DO UPDATE SET kind=excluded.kind" if kind == "file" else "DO NOTHING"
        self._submit(lambda db: db.executemany(
            f"INSERT INTO queue VALUES (?, ?, ?, ?) ON CONFLICT (session, key) {action}", rows))

    def unqueue_roots(self, paths: Iterable[str]) -> None:
        """Dropped folders and files that have been listed: their files are queued one by one now."""
        self._for_session("DELETE FROM queue WHERE session=? AND key=? AND kind='root'", paths)

    def clear_queue(self) -> None:
        """Nothing more will be scored (the scans ended or were cancelled)."""
        session = self.session_id
        if session is not None:
            self._submit(lambda db: db.execute("DELETE FROM queue WHERE session=?", (session,)))

    def add_rows(self, results: list) -> None:
        """Scored rows (new, or replacing a row rescanned with another model); they leave the queue."""
        session = self.session_id
        if session is None or not results:
            return
        keys = [(session, path_key(r.path)) for r in results]

        def write(db):  # serialised here, in the writer thread: ScanResults are immutable
            db.executemany(_UPSERT_ROW, [(*key, json.dumps(asdict(r))) for key, r in zip(keys, results)])
            db.executemany("DELETE FROM queue WHERE session=? AND key=?", keys)
            db.execute("UPDATE sessions SET updated=? WHERE id=?", (time.time(), session))

        self._submit(write)

    def remove_rows(self, paths: Iterable[str]) -> None:
        self._for_session("DELETE FROM rows WHERE session=? AND key=?", paths)

    def flush(self) -> None:
        """Wait until everything handed over so far is committed (or writing has failed)."""
        if self._writer is not None and self._writer.is_alive():
            done = threading.Event()
            self._ops.put(done)
            done.wait(FLUSH_TIMEOUT_S)

    def close(self) -> None:
        if self._writer is not None:
            self._ops.put(_STOP)
            self._writer.join(FLUSH_TIMEOUT_S)
            self._writer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _for_session(self, sql: str, paths: Iterable[str]) -> None:
        session = self.session_id
        rows = [(session, path_key(p)) for p in paths]
        if session is not None and rows:
            self._submit(lambda db: db.executemany(sql, rows))

    def _submit(self, write: Callable[[sqlite3.Connection], object]) -> None:
        if self._writer is not None and not self.error:
            self._ops.put(write)

    # --- the writer thread ----------------------------------------------------------------------

    def _write_loop(self) -> None:
        """Commit everything waiting in one transaction, then wait for more: batches arrive every 0.1 s."""
        db = _connect(self.path)
        try:
            while True:
                waiting = [self._ops.get()]
                while True:
                    try:
                        waiting.append(self._ops.get_nowait())
                    except queue.Empty:
                        break
                writes = [op for op in waiting if callable(op)]
                if writes and not self.error:
                    try:
                        with db:
                            for write in writes:
                                write(db)
                    except sqlite3.Error as exc:
                        log.error("session journal write failed: %s", exc)
                        self.error = str(exc)
                for op in waiting:
                    if isinstance(op, threading.Event):
                        op.set()
                if _STOP in waiting:
                    return
        finally:
            db.close()

    # --- reading (GUI thread) ------------------------------------------------------------------

    def sessions(self, limit: int = 5, exclude_current: bool = True) -> list[SessionSummary]:
        """The newest sessions that have rows or queued files, newest first."""
        if self._reader is None:
            return []
        try:
            found = self._reader.execute(
                "SELECT s.id, s.started, s.updated, s.title, "
                "(SELECT COUNT(*) FROM rows r WHERE r.session = s.id), "
                "(SELECT COUNT(*) FROM queue q WHERE q.session = s.id) "
                "FROM sessions s ORDER BY s.updated DESC").fetchall()
        except sqlite3.Error as exc:
            log.warning("session journal could not be read: %s", exc)
            return []
        summaries = [SessionSummary(*row) for row in found if row[4] or row[5]]
        if exclude_current:
            summaries = [s for s in summaries if s.id != self.session_id]
        return summaries[:limit]

    def load(self, session_id: str) -> SavedSession:
        """One session's rows (as ScanResult), model thresholds and queue; JournalError if it cannot be read."""
        from model.results import ScanResult

        if self._reader is None:
            raise JournalError("sessions are not being saved on this computer")
        self.flush()
        try:
            summary = next(s for s in self.sessions(limit=KEEP_SESSIONS, exclude_current=False)
                           if s.id == session_id)
            rows = self._reader.execute("SELECT result FROM rows WHERE session=? ORDER BY rowid",
                                        (session_id,)).fetchall()
            models = self._reader.execute("SELECT name, human_below, ai_above FROM models WHERE session=?",
                                          (session_id,)).fetchall()
            queued = self._reader.execute("SELECT path FROM queue WHERE session=? ORDER BY rowid",
                                          (session_id,)).fetchall()
        except StopIteration:
            raise JournalError("that session is no longer in the journal") from None
        except sqlite3.Error as exc:
            raise JournalError(f"the session could not be read: {exc}") from exc
        known = {spec.name for spec in fields(ScanResult)}  # fields this version does not know are left out
        try:
            saved = json.loads("[" + ",".join(text for (text,) in rows) + "]")  # one parse: 10,000 rows in ms
            results = [ScanResult(**{name: value for name, value in row.items() if name in known}) for row in saved]
        except (ValueError, TypeError) as exc:
            raise JournalError(f"the session's rows are damaged: {exc}") from exc
        return SavedSession(summary, results, {name: (low, high) for name, low, high in models},
                            [path for (path,) in queued])


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=5.0)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a committed row survives a killed app
    except BaseException:
        db.close()
        raise
    return db


def _connect_checked(path: Path) -> sqlite3.Connection:
    """Open (creating it if new), check that it is an intact journal of a known version, make the tables."""
    db = _connect(path)
    try:
        status = db.execute("PRAGMA quick_check").fetchone()[0]
        if status != "ok":
            raise JournalError(f"damaged: {status}")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise JournalError(f"written by another version of the app (format {version})")
        db.executescript(_SCHEMA)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except BaseException:
        db.close()
        raise
    return db


def _prune(db: sqlite3.Connection, keep: str) -> None:
    """Drop empty sessions and all but the newest KEEP_SESSIONS (never the one just started)."""
    stale = db.execute(
        "SELECT id FROM sessions WHERE id != ? AND (id NOT IN (SELECT session FROM rows) AND id NOT IN "
        "(SELECT session FROM queue) OR id NOT IN (SELECT id FROM sessions ORDER BY updated DESC LIMIT ?))",
        (keep, KEEP_SESSIONS)).fetchall()
    for table, column in (("rows", "session"), ("queue", "session"), ("models", "session"), ("sessions", "id")):
        db.executemany(f"DELETE FROM {table} WHERE {column}=?", stale)
