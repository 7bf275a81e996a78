"""`convitx`: score images from the command line, without a screen.

Exit status: 0 every file was scored, 1 some files could not be read (their rows say why),
2 usage error or the model could not be loaded, 130 interrupted (rows so far are kept in
OUT.csv.partial; the same command with --resume finishes the scan).
"""
from __future__ import annotations

import argparse
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Iterator

from model.columns import provenance_columns  # stdlib only: --help stays fast
from model.files import ScanItem, expand_paths, file_columns, path_key

EXIT_OK, EXIT_SOME_ERRORS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

SCAN_HELP = """\
Decide for each image whether it looks AI-generated or made by a person.

Give image files and/or folders (folders are searched, sub-folders included). Each image gets
one row in the CSV: verdict (ai / human / uncertain / error), p_ai (the model's probability,
0 to 1, that the image is AI-generated), size, and the reason when a file could not be read.
A score is a statistical estimate, not proof.

Beside it, the copy's history read from the file: jpeg_quality, resized (yes / likely / no /
empty), copy_note (signs of re-saving, resizing, screenshots, conversions; none is proof), a
reliability_note when the copy is far from an original, and a summary line that sets a provenance
claim (content credentials, generator metadata) beside the pixel score.

While it runs, rows go to OUT.csv.partial (and OUT.json.partial), one by one; at the end they become
OUT.csv (and OUT.json) in one step, so a finished file is always complete. If the scan is stopped
(Ctrl+C, a crash, the machine switched off), run the same command again with --resume: rows already
scored by the same model, whose files have not changed since (file_size, file_modified), are kept;
the rest, error rows included, are scored.

example:
  convitx scan ~/Pictures/inbox --csv results.csv
  convitx scan ~/Pictures/inbox --csv results.csv --resume     # after an interruption
  convitx scan photo1.jpg photo2.heic --csv out.csv --heatmaps heatmaps/
"""


def build_parser() -> argparse.ArgumentParser:
    from model.device import DEVICE_CHOICES

    parser = argparse.ArgumentParser(prog="convitx", description="ConViTX: is this image AI-generated?")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    scan = commands.add_parser("scan", help="score images and folders, write a CSV",
                               description=SCAN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    scan.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders to scan")
    scan.add_argument("--csv", required=True, metavar="OUT.csv", help="where to write the results table")
    scan.add_argument("--json", metavar="OUT.json", help="also write the results as JSON")
    scan.add_argument("--heatmaps", metavar="DIR",
                      help="also save a heatmap overlay PNG per image: where the model looked")
    scan.add_argument("--model", metavar="FILE.safetensors", help="model file (default: the built-in model)")
    scan.add_argument("--device", default="auto", choices=DEVICE_CHOICES,
                      help="where to compute (default: a GPU when there is one)")
    scan.add_argument("--batch-size", type=int, default=8, metavar="N", help="images per batch (default 8)")
    scan.add_argument("--decode-timeout", type=float, default=30.0, metavar="SECONDS",
                      help="a file that takes longer to decode becomes an error row (default 30)")
    scan.add_argument("--no-recursive", action="store_true", help="do not look inside sub-folders")
    scan.add_argument("--no-provenance", action="store_true",
                      help="skip reading content credentials and generator metadata")
    scan.add_argument("--resume", action="store_true",
                      help="finish an interrupted scan: keep the rows of OUT.csv.partial (or OUT.csv) whose files "
                           "are unchanged and were scored by this model, score the rest")
    scan.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.batch_size < 1:
        print("convitx: --batch-size must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    if not 0 < args.decode_timeout < float("inf"):
        print("convitx: --decode-timeout must be a number of seconds above 0", file=sys.stderr)
        return EXIT_USAGE
    return run_scan(args)


def run_scan(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from model.checkpoint import CheckpointError
    from model.engine import Detector
    from model.resume import ResumePlan, plan_resume
    from model.results import ResultStream

    try:
        detector = Detector.from_file(args.model, device=args.device, batch_size=args.batch_size,
                                      decode_timeout=args.decode_timeout)
    except (CheckpointError, ValueError) as exc:
        print(f"convitx: could not load the model: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for output in (args.csv, args.json):
        if output and not Path(output).parent.resolve().is_dir():
            print(f"convitx: the folder for {output} does not exist", file=sys.stderr)
            return EXIT_USAGE
    items = list(expand_paths(args.paths, recursive=not args.no_recursive))
    plan = ResumePlan()
    if args.resume:
        try:
            plan = plan_resume(args.csv, items, detector.name)
        except (OSError, ValueError) as exc:
            print(f"convitx: cannot resume: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(f"convitx: {plan.summary(args.csv, len(items))}", file=sys.stderr)
    annotate = None if args.no_provenance else provenance_columns
    heatmap_dir = Path(args.heatmaps) if args.heatmaps else None
    if heatmap_dir:
        heatmap_dir.mkdir(parents=True, exist_ok=True)

    position = {path_key(item.path): n for n, item in enumerate(items)}
    results = sorted(plan.kept.values(), key=lambda r: position[path_key(r.path)])
    model_info = {"name": detector.name, "preset": detector.info.preset}
    try:
        streams = [ResultStream(args.csv, "csv", results)]
        if args.json:
            streams.append(ResultStream(args.json, "json", results, model_info))
    except OSError as exc:
        print(f"convitx: cannot write {exc.filename or args.csv}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    cancel = threading.Event()
    stamps: dict[str, dict] = {}
    bar = tqdm(total=len(items), initial=len(results), unit="img", disable=args.quiet, file=sys.stderr,
               dynamic_ncols=True)
    print(f"convitx: {len(items)} file(s), model {detector.name}, {detector.device_label}", file=sys.stderr)
    interrupted = False
    try:
        for result in detector.scan(stamped(plan.todo(items), stamps), cancel=cancel, annotate=annotate):
            key = path_key(result.path)
            result = replace(result, **stamps.pop(key, {}))
            for stream in streams:
                stream.write(result)
            results.append(result)
            bar.update(1)
            if heatmap_dir and result.ok:
                save_heatmap(detector, Path(result.path), heatmap_dir, position[key] + 1)
        for row in plan.kept.values() if heatmap_dir else ():  # a kill between a row and its heatmap
            number = position[path_key(row.path)] + 1
            if row.ok and not (heatmap_dir / heatmap_file_name(number, row.path)).exists():
                save_heatmap(detector, Path(row.path), heatmap_dir, number)
    except KeyboardInterrupt:
        cancel.set()
        interrupted = True
    finally:
        bar.close()
        for stream in streams:
            stream.close()
    if interrupted:
        print(f"convitx: interrupted: {len(results)} of {len(items)} rows are in {streams[0].partial}; "
              "run the same command with --resume to finish", file=sys.stderr)
        return EXIT_INTERRUPTED
    results.sort(key=lambda r: position[path_key(r.path)])
    for stream in streams:
        stream.finish(results)
    counts = {v: sum(r.verdict == v for r in results) for v in ("ai", "human", "uncertain", "error")}
    print("convitx: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + f" -> {args.csv}", file=sys.stderr)
    return EXIT_SOME_ERRORS if counts["error"] else EXIT_OK


def stamped(items: Iterable[ScanItem], stamps: dict[str, dict]) -> Iterator[ScanItem]:
    """Pass ``items`` on to the engine, recording each file's size and modification time into ``stamps``
    as the engine takes it, before it is read: a file edited while it is scored gets rescored on --resume."""
    for item in items:
        stamps[path_key(item.path)] = file_columns(item.path)
        yield item


def heatmap_file_name(index: int, path: str | Path) -> str:
    """Numbered, so two images with the same name in different folders do not collide."""
    return f"{index:05d}_{Path(path).stem}_heatmap.png"


def save_heatmap(detector, path: Path, folder: Path, index: int) -> None:
    from model.heatmap import save_overlay

    save_overlay(detector.heatmap(path), folder / heatmap_file_name(index, path))


if __name__ == "__main__":
    sys.exit(main())
