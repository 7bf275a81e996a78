"""`convitx`: score images from the command line, without a screen.

Exit status: 0 every file was scored, 1 some files could not be read (their rows say why),
2 usage error or the model could not be loaded, 130 interrupted (rows so far are kept).
"""
from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

EXIT_OK, EXIT_SOME_ERRORS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

SCAN_HELP = """\
Decide for each image whether it looks AI-generated or made by a person.

Give image files and/or folders (folders are searched, sub-folders included). Each image gets
one row in the CSV: verdict (ai / human / uncertain / error), p_ai (the model's probability,
0 to 1, that the image is AI-generated), size, and the reason when a file could not be read.
A score is a statistical estimate, not proof.

example:
  convitx scan ~/Pictures/inbox --csv results.csv
  convitx scan photo1.jpg photo2.png --csv out.csv --heatmaps heatmaps/
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
    from model.files import expand_paths
    from model.results import CsvStream, write_json

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
    annotate = None if args.no_provenance else provenance_columns
    heatmap_dir = Path(args.heatmaps) if args.heatmaps else None
    if heatmap_dir:
        heatmap_dir.mkdir(parents=True, exist_ok=True)

    results = []
    cancel = threading.Event()
    stream = CsvStream(args.csv)
    bar = tqdm(total=len(items), unit="img", disable=args.quiet, file=sys.stderr, dynamic_ncols=True)
    print(f"convitx: {len(items)} file(s), model {detector.name}, {detector.device_label}", file=sys.stderr)
    interrupted = False
    try:
        for result in detector.scan(items, cancel=cancel, annotate=annotate):
            stream.write(result)
            results.append(result)
            bar.update(1)
            if heatmap_dir and result.ok:
                save_heatmap(detector, Path(result.path), heatmap_dir, len(results))
    except KeyboardInterrupt:
        cancel.set()
        interrupted = True
    finally:
        bar.close()
        stream.close()
    if args.json:
        write_json(results, args.json, model_info={"name": detector.name, "preset": detector.info.preset})
    errors = sum(not r.ok for r in results)
    counts = {v: sum(r.verdict == v for r in results) for v in ("ai", "human", "uncertain", "error")}
    print("convitx: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + f" -> {args.csv}", file=sys.stderr)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_SOME_ERRORS if errors else EXIT_OK


def provenance_columns(path: Path) -> dict[str, str]:
    from provenance import read_provenance

    found = read_provenance(path)
    return {"provenance": found.status, "provenance_detail": found.detail}


def heatmap_file_name(index: int, path: str | Path) -> str:
    """Numbered, so two images with the same name in different folders do not collide."""
    return f"{index:05d}_{Path(path).stem}_heatmap.png"


def save_heatmap(detector, path: Path, folder: Path, index: int) -> None:
    from model.heatmap import save_overlay

    save_overlay(detector.heatmap(path), folder / heatmap_file_name(index, path))


if __name__ == "__main__":
    sys.exit(main())
