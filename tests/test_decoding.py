"""Decoder isolation: a decoder that crashes or hangs on one file costs that file's row, nothing more."""
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest

import hostile
from conftest import save_image
from model import Detector
from model.decoding import decode_crops

TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def guarded(tiny_model_path):
    detector = Detector.from_file(tiny_model_path, device="cpu", batch_size=4, decoder=hostile.hostile,
                                  decode_timeout=TIMEOUT_S)
    yield detector
    detector.close()


def test_a_crashing_or_hanging_decoder_costs_one_row_and_the_scan_goes_on(tmp_path, guarded):
    good = [save_image(tmp_path / f"{i:02d}.png", seed=i) for i in range(9)]
    hostile_files = {name: save_image(tmp_path / name) for name in ("abort.png", "hang.png", "segfault.png")}
    order = good[:3] + [hostile_files["abort.png"]] + good[3:5] + [hostile_files["hang.png"]] + good[5:7] \
        + [hostile_files["segfault.png"]] + good[7:]
    started = time.monotonic()
    results = list(guarded.scan(order))
    assert [r.path for r in results] == [str(p) for p in order]
    by_name = {Path(r.path).name: r for r in results}
    assert by_name["abort.png"].verdict == by_name["segfault.png"].verdict == "error"
    assert "decoder crashed" in by_name["abort.png"].error and "decoder crashed" in by_name["segfault.png"].error
    assert by_name["hang.png"].verdict == "error" and "timed out after 2 s" in by_name["hang.png"].error
    assert all(by_name[p.name].ok and by_name[p.name].width == 96 for p in good)
    assert time.monotonic() - started < 30  # the hang cost its time-out, not an hour
    stats = guarded.decode_stats
    assert stats.crashes >= 2 and stats.timeouts >= 1
    assert stats.slowest[0][1] == str(hostile_files["hang.png"]) and stats.slowest[0][0] >= TIMEOUT_S
    # the restarted decoders keep scoring, the same as before the faults
    again = list(guarded.scan(good))
    assert [r.p_ai for r in again] == [by_name[p.name].p_ai for p in good]


def test_decoders_killed_while_idle_are_started_again_without_losing_a_row(tmp_path, guarded):
    paths = [save_image(tmp_path / f"{i}.png", seed=i) for i in range(4)]
    before = [r.p_ai for r in guarded.scan(paths)]
    for process in multiprocessing.active_children():  # as the system's out-of-memory killer would
        if process.name == "convitx-decoder":
            os.kill(process.pid, signal.SIGKILL)
    after = list(guarded.scan(paths))
    assert [r.p_ai for r in after] == before and all(r.ok for r in after)


def test_when_no_decoder_process_can_start_files_are_decoded_here_and_still_scored(tmp_path, tiny_model_path, caplog):
    # a decoder the worker processes cannot import: each one dies while starting
    elsewhere = types.ModuleType("decoder_only_in_this_process")
    elsewhere.decode = lambda path, cfg: decode_crops(path, cfg)
    elsewhere.decode.__module__, elsewhere.decode.__qualname__ = elsewhere.__name__, "decode"
    sys.modules[elsewhere.__name__] = elsewhere
    paths = [save_image(tmp_path / f"{i}.png", seed=i) for i in range(3)]
    detector = Detector.from_file(tiny_model_path, device="cpu", decode_workers=1, decoder=elsewhere.decode)
    try:
        results = list(detector.scan(paths))
    finally:
        detector.close()
        del sys.modules[elsewhere.__name__]
    assert all(r.ok for r in results) and len(results) == 3
    assert "without crash isolation" in caplog.text


def test_a_staged_pool_decodes_with_one_process_until_the_network_is_loaded(tmp_path, tiny_model_path):
    """The app's first file decodes while torch loads, with one decoder process; the others start with the
    network, and a pool closed before that ends at once."""
    from model.decoding import start_decoders
    from model.model_file import read_info

    others = {p.pid for p in multiprocessing.active_children()}  # other tests' decoders

    def decoders_alive() -> int:
        return sum(p.name == "convitx-decoder" and p.is_alive() and p.pid not in others
                   for p in multiprocessing.active_children())

    cfg = read_info(tiny_model_path).preprocess
    paths = [save_image(tmp_path / f"{i}.png", seed=i) for i in range(4)]
    pool = start_decoders(cfg, workers=2, staged=True)
    early = [pool.submit(p).result(timeout=60) for p in paths]
    assert all(d.crops is not None for d in early) and decoders_alive() == 1
    detector = Detector.from_file(tiny_model_path, device="cpu", decoders=pool)
    try:
        assert [r.ok for r in detector.scan(paths)] == [True] * 4
        deadline = time.monotonic() + 60
        while decoders_alive() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert decoders_alive() == 2
    finally:
        detector.close()
    unused = start_decoders(cfg, workers=2, staged=True)
    started = time.monotonic()
    unused.close()
    assert time.monotonic() - started < 10


def test_cancel_while_a_file_hangs_stops_at_once_and_keeps_the_rows(tmp_path, guarded):
    paths = [save_image(tmp_path / f"{i}.png", seed=i) for i in range(2)] + [save_image(tmp_path / "hang.png")]
    paths += [save_image(tmp_path / f"later{i}.png", seed=i) for i in range(3)]
    cancel = threading.Event()
    timer = threading.Timer(0.5, cancel.set)
    timer.start()
    started = time.monotonic()
    results = list(guarded.scan(paths, cancel=cancel))
    assert time.monotonic() - started < 0.5 + TIMEOUT_S / 2
    assert [r.path for r in results] == [str(p) for p in paths[: len(results)]] and len(results) <= 2


def test_decoder_processes_start_without_torch_or_qt(tmp_path, guarded):
    result = next(guarded.scan([save_image(tmp_path / "probe.png")]))
    assert result.error == "imported: "


def test_annotations_come_with_each_row_from_the_decoder_processes(tmp_path, guarded):
    paths = [save_image(tmp_path / f"{i}.png", seed=i) for i in range(3)] + [save_image(tmp_path / "probe.png")]
    results = list(guarded.scan(paths, annotate=hostile.seen))
    assert [r.provenance for r in results] == [f"seen {p.name}" for p in paths[:3]] + [""]
    assert results[-1].verdict == "error"  # the probe file's decoder refuses it, its columns still come
    with pytest.raises(ValueError, match="module-level function"):
        next(guarded.scan(paths, annotate=lambda path: {"provenance": "here"}))


def test_a_file_whose_annotator_crashes_the_process_is_one_error_row(tmp_path, guarded):
    paths = [save_image(tmp_path / "0.png", seed=0), save_image(tmp_path / "reader-segfault.png"),
             save_image(tmp_path / "1.png", seed=1)]
    results = list(guarded.scan(paths, annotate=hostile.seen))
    assert [r.ok for r in results] == [True, False, True] and "decoder crashed" in results[1].error


SCRIPT_THEN_HANG = """
import multiprocessing, sys
import torch  # a main script that imports torch: the decoder processes must not run it again
sys.path.insert(0, sys.argv[3])
import hostile
from model import Detector
detector = Detector.from_file(sys.argv[1], device="cpu", decoder=hostile.hostile, decode_timeout=600)
print(next(detector.scan([sys.argv[2] + "/probe.png"])).error, flush=True)
print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
list(detector.scan([sys.argv[2] + "/hang.png"]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and /proc")
def test_decoder_processes_stay_light_and_die_when_the_scanning_process_is_killed(tmp_path, tiny_model_path):
    save_image(tmp_path / "hang.png")
    save_image(tmp_path / "probe.png")
    script = tmp_path / "scan_script.py"
    script.write_text(SCRIPT_THEN_HANG)
    scanner = subprocess.Popen([sys.executable, str(script), str(tiny_model_path), str(tmp_path),
                                str(Path(__file__).parent)], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        assert scanner.stdout.readline().strip() == "imported:"
        workers = [int(pid) for pid in scanner.stdout.readline().split()]
        assert workers
        time.sleep(1.0)  # the hang is now under way in one worker
    finally:
        scanner.send_signal(signal.SIGKILL)
        scanner.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_scan_refuses_a_decode_timeout_that_is_not_a_positive_number(tmp_path, capsys):
    from model.cli import main

    for bad in ("0", "-1", "inf"):
        assert main(["scan", str(tmp_path), "--csv", str(tmp_path / "out.csv"), "--decode-timeout", bad]) == 2
    assert "--decode-timeout must be" in capsys.readouterr().err
