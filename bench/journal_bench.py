"""What the session journal costs (convitx_desktop/journal.py), on the disk at hand.

`python bench/journal_bench.py [--dir FOLDER] [--batches 1000] [--rows 10000]` prints one JSON line:

* ``handover_us``: the GUI thread's cost to hand one batch of 8 rows to the writer thread (median/p99/max)
* ``committed_ms``: from handing a batch over to its commit (what a kill can lose at most, plus the batch)
* ``direct_commit_ms``: the same batch inserted and committed on the calling thread instead (the road not taken)
* ``reopen_ms``: reading a session of ``--rows`` rows back; ``exists_ms``: checking that many files exist
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
from dataclasses import asdict
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from convitx_desktop.journal import SessionJournal, _connect  # noqa: E402
from model.results import ScanResult  # noqa: E402

BATCH = 8


def spread(samples: list[float], scale: float) -> dict:
    ordered = sorted(samples)
    return {"median": round(statistics.median(ordered) * scale, 3),
            "p99": round(ordered[int(len(ordered) * 0.99)] * scale, 3), "max": round(ordered[-1] * scale, 3)}


def batch(start: int, folder: str) -> list:
    return [ScanResult(f"{folder}/img_{i:06d}.jpg", "human", 0.25, 4000, 3000, "convitx_lite", "none",
                       "No provenance metadata") for i in range(start, start + BATCH)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", help="folder for the test database (default: a temporary one)")
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        journal = SessionJournal(folder)
        journal.begin("bench")
        handover, committed = [], []
        for number in range(args.batches):
            rows = batch(number * BATCH, folder)
            start = time.perf_counter()
            journal.add_rows(rows)
            handover.append(time.perf_counter() - start)
            journal.flush()
            committed.append(time.perf_counter() - start)

        direct = []
        db = _connect(Path(folder) / "direct.sqlite3")
        db.execute("CREATE TABLE rows (key TEXT PRIMARY KEY, result TEXT)")
        for number in range(args.batches):
            rows = batch(number * BATCH, folder)
            start = time.perf_counter()
            with db:
                db.executemany("INSERT INTO rows VALUES (?, ?)", [(r.path, json.dumps(asdict(r))) for r in rows])
            direct.append(time.perf_counter() - start)
        db.close()

        big = journal.begin("big")
        for number in range(0, args.rows, 500):
            journal.add_rows([r for n in range(number, number + 500, BATCH) for r in batch(n, folder)])
        journal.flush()
        start = time.perf_counter()
        saved = journal.load(big)
        reopen = time.perf_counter() - start
        start = time.perf_counter()
        sum(os.path.exists(r.path) for r in saved.rows)
        exists = time.perf_counter() - start
        journal.close()
    print(json.dumps({"batches": args.batches, "rows_per_batch": BATCH, "handover_us": spread(handover, 1e6),
                      "committed_ms": spread(committed, 1e3), "direct_commit_ms": spread(direct, 1e3),
                      "reopen_rows": len(saved.rows), "reopen_ms": round(reopen * 1e3, 1),
                      "exists_ms": round(exists * 1e3, 1)}))


if __name__ == "__main__":
    main()
