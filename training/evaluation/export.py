"""Write the app checkpoint with its model card: ``python -m training.evaluation.export --help``.

Takes a trained (and usually calibrated) checkpoint plus what the pipeline learnt about it (the
training run's data summary, the evaluation report, an optional leave-source-out estimate) and
writes ``OUT.safetensors`` whose ModelInfo carries the preset, preprocessing, thresholds, a
training-data summary, the headline metrics and the model card (Markdown, in ``card``), plus the
same card as ``OUT.md`` beside it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from model.clip_view import CLIP_FILE_NAME, CLIP_SHA256, CLIP_SOURCE
from model.config import ModelInfo
from model.presets import get_preset
from training import REPO

from .metrics import clean
from .text import number as _f, percent as _pct
from .tier_report import tier_markdown


def display_path(value):
    """Absolute paths inside (or beside) the repository written relative to it, so a shipped model
    does not carry the build machine's folders."""
    if isinstance(value, list):
        return [display_path(v) for v in value]
    if not isinstance(value, str) or not os.path.isabs(value):
        return value
    try:
        return os.path.relpath(value, REPO) if Path(value).resolve().is_relative_to(REPO.parent) else value
    except ValueError:  # another drive on Windows
        return value


def _read_json(path: str | os.PathLike | None) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8")) if path else {}


def headline_metrics(report: dict) -> dict:
    """The evaluation numbers worth carrying inside the checkpoint."""
    if not report:
        return {}
    o, b = report["overall"], report["band"]
    return {
        "images": report.get("images"),
        "auc": o.get("auc"), "accuracy": o.get("accuracy"), "balanced_accuracy": o.get("balanced_accuracy"),
        "f1": o.get("f1"), "f1_macro": o.get("f1_macro"), "decision_threshold": report.get("decision_threshold"),
        "coverage": b.get("coverage"), "decided_accuracy": b.get("decided_accuracy"),
        "robustness": {row["condition"]: {"auc": row.get("auc"), "balanced_accuracy": row.get("balanced_accuracy"),
                                          "decision_flips": row.get("decision_flips")}
                       for row in report.get("robustness", [])},
        "per_source": [{"label": row["group"][0], "source": row["group"][1], "images": row["n"],
                        "accuracy": row["accuracy"], "uncertain": row["uncertain"]}
                       for row in report.get("per_source", [])],
        # per tier (clean / web / hard): what the app's reliability note quotes
        "tiers": {tier: {"auc": t["auc"], "caught_at_5pct": t["caught_at_5pct"], "coverage": t["coverage"],
                         "balanced_accuracy": t["balanced_accuracy"], "ai_caught": t["ai"]["called_ai"],
                         "photo_called_ai": t["photo"]["called_ai"], "art_called_ai": t["art"]["called_ai"]}
                  for tier, t in (report.get("tiers") or {}).get("tiers", {}).items()},
    }


def family_table(rows: list[dict]) -> list[str]:
    """Per generator family / human kind: how often each verdict was given."""
    lines = ["| images of | count | called AI | uncertain | called human |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['group'][0]} | {row['n']} | {_pct(row['called_ai'])} | {_pct(row['uncertain'])} | "
                     f"{_pct(row['called_human'])} |")
    return lines


def unseen_section(unseen: dict) -> list[str]:
    o, b = unseen["overall"], unseen["band"]
    lines = ["", "## Sources never seen in training (pool 2)", "",
             f"{unseen['images']} images ({o['n_ai']} AI, {o['n_human']} human) from public repositories none of the "
             "training data comes from: today's generators (gpt-image, GPT-4o, Nano Banana, Seedream, FLUX, SDXL "
             "fine-tunes, ...), camera photos and human-made art, spread over their sources. Scored as the app scores, "
             "with the calibrated band.", "",
             "| metric | value |", "|---|---|",
             f"| ROC-AUC | {_f(o['auc'])} |", f"| balanced accuracy at the threshold | {_f(o['balanced_accuracy'])} |",
             f"| not uncertain (coverage) | {_pct(b['coverage'])} |",
             f"| accuracy when not uncertain | {_f(b['decided_accuracy'])} |"]
    for row in unseen.get("robustness", []):
        lines.append(f"| ROC-AUC after {row['label']} | {_f(row['auc'])} |")
    return lines + [""] + family_table(unseen.get("per_family", []))


def model_card(info: ModelInfo, run_config: dict, summary: dict, report: dict, loso: dict, notes: str = "",
               unseen: dict | None = None) -> str:
    pre, th = info.preprocess, info.thresholds
    calibration = (info.metrics or {}).get("calibration", {})
    clip = get_preset(info.preset).clip_blocks is not None
    lines = [
        f"# {info.name}",
        "",
        "ConViTX AI-image detector: a CNN branch and a Swin Transformer branch see the same crops"
        + ("; a frozen CLIP ViT-B/16 image tower sees the whole image" if clip else "") + "; their "
        "pooled features are fused into one logit, p_ai = sigmoid(logit). A score is a statistical estimate "
        "about the pixels, not proof of how an image was made.",
        "",
        "## Model",
        "",
        f"- preset `{info.preset}`",
        f"- preprocessing: {pre.describe()}",
        f"- verdicts: human when p_ai < {th.human_below:.3f}, AI when p_ai >= {th.ai_above:.3f}, uncertain between",
    ]
    if clip:
        lines.append(f"- CLIP view: {CLIP_SOURCE}; the app's `resources/models/{CLIP_FILE_NAME}`, sha256 "
                     f"`{CLIP_SHA256}`, checked when the model loads; run by onnxruntime (its INT8 numbers, "
                     "one view per run, are the ones the head was trained on)")
    if calibration:
        lines.append(f"- calibrated on {calibration.get('validation_images')} validation images: decision "
                     f"threshold {_f(calibration.get('decision_threshold'))}, band by the "
                     f"{calibration.get('human_side_rule')} / {calibration.get('ai_side_rule')} rule "
                     f"(target precision {calibration.get('target_precision')})")
    if run_config:
        lines.append(f"- initial weights: {run_config.get('pretrained') or 'random'}; "
                     f"trained {summary.get('epochs_done', '?')} epoch(s), seed {run_config.get('seed')}, "
                     + (f"on the tiers {', '.join(run_config['tiers'])}" if run_config.get("tiers") else
                        f"augmentation '{run_config.get('augment')}'")
                     + f", loss balance '{run_config.get('balance')}'")
    train = summary.get("train") or {}
    if train:
        lines += ["", "## Training data", "",
                  f"{train['images']} training images ({', '.join(f'{k}: {v}' for k, v in train['by_label'].items())}; "
                  f"kinds: {', '.join(f'{k} {v}' for k, v in train['by_kind'].items())}).", "",
                  "| class | source | images |", "|---|---|---|"]
        for row in train["sources"]:
            lines.append(f"| {row['label']} | {row['source']} | {row['images']} |")
        val = summary.get("val") or {}
        split = summary.get("split") or {}
        if val:
            lines += ["", f"Validation: {val['images']} images from sources never seen in training "
                          f"(split '{split.get('mode', '?')}': whole sources on one side)."]
        exclusion = split.get("exclusion")
        if exclusion:
            lines += ["", f"Exclusion check: {exclusion['checked']} images checked against an independent evaluation "
                          f"set; {exclusion['dropped_near_duplicates']} within {exclusion['max_distance_bits']} bits "
                          "of one of its images (dHash of the whole image or its centre) were left out."]
    if report:
        o, b = report["overall"], report["band"]
        heading = "Held-out results (sources each model never saw)" if report.get("description") else "Validation results"
        lines += ["", f"## {heading}", "",
                  report.get("description") or f"On {report['images']} validation images ({o['n_ai']} AI, "
                                                f"{o['n_human']} human), scored as the app scores:",
                  "",
                  "| metric | value |", "|---|---|",
                  f"| ROC-AUC | {_f(o['auc'])} |", f"| balanced accuracy | {_f(o['balanced_accuracy'])} |",
                  f"| accuracy | {_f(o['accuracy'])} |", f"| F1 (AI) / macro | {_f(o['f1'])} / {_f(o['f1_macro'])} |",
                  f"| not uncertain (coverage) | {_pct(b['coverage'])} |",
                  f"| accuracy when not uncertain | {_f(b['decided_accuracy'])} |"]
        if report.get("tiers"):
            lines += ["", "### Per tier: files as saved (clean), web copies and hard copies", "",
                      "Every held-out image is also scored as a *web* copy (longer side 768-1600 px by a random "
                      "filter, JPEG or WebP q60-90) and a *hard* copy (longer side at most 512 px, JPEG q35-60 or a "
                      "PNG screenshot), both classes alike, fixed seeds.", "", tier_markdown(report["tiers"]).rstrip()]
        if report.get("robustness"):
            lines += ["", "| after | AUC | balanced accuracy | decisions flipped |", "|---|---|---|---|"]
            for row in report["robustness"]:
                lines.append(f"| {row['label']} | {_f(row['auc'])} | {_f(row['balanced_accuracy'])} | "
                             f"{_pct(row['decision_flips'])} |")
        if report.get("per_family"):
            lines += ["", "Verdicts per generator family and human kind, under the calibrated band:", ""]
            lines += family_table(report["per_family"])
        lines += ["", "| class | source | images | accuracy | uncertain |", "|---|---|---|---|---|"]
        for row in report.get("per_source", []):
            lines.append(f"| {row['group'][0]} | {row['group'][1]} | {row['n']} | {_f(row['accuracy'])} | "
                         f"{_pct(row['uncertain'])} |")
    if unseen:
        lines += unseen_section(unseen)
    if loso:
        lines += ["", "## Unseen generators (source-held-out estimate)", "",
                  f"{loso['how']}. ROC-AUC of all held-out scores {_f(loso.get('pooled_auc'))}; per fold mean "
                  f"{_f(loso.get('auc_mean'))} (min {_f(loso.get('auc_min'))}), balanced accuracy at p_ai 0.5 mean "
                  f"{_f(loso.get('balanced_accuracy_mean'))} (min {_f(loso.get('balanced_accuracy_min'))}).", "",
                  "| held-out images of | images | right at p_ai 0.5 |", "|---|---|---|"]
        for row in loso.get("per_family", []):
            lines.append(f"| {row['family']} | {row['images']} | {_f(row['accuracy'])} |")
        if not report.get("description"):  # held-out results above already list every source
            lines += ["", "| class | held-out source | images | accuracy |", "|---|---|---|---|"]
            for row in loso.get("per_source", []):
                lines.append(f"| {row['label']} | {row['source']} | {row['images']} | {_f(row['accuracy'])} |")
    lines += ["", "## Limitations", "",
              "- Trained on a small pool. Generators, cameras and edits it never saw can fool it in both directions.",
              "- Heavy re-compression, resizing, screenshots and filters change the pixels it relies on; see the "
              "robustness rows.",
              "- Use the uncertain verdict as 'cannot tell', and never use a score alone to accuse anyone."]
    if notes:
        lines += ["", notes.strip()]
    lines += ["", f"_Exported {datetime.now(timezone.utc).strftime('%Y-%m-%d')} by training/export.py._", ""]
    return "\n".join(lines)


def export(model_path: str | os.PathLike, out_path: str | os.PathLike, name: str | None = None,
           run_dir: str | os.PathLike | None = None, report_path: str | os.PathLike | None = None,
           loso_path: str | os.PathLike | None = None, notes: str = "",
           unseen_path: str | os.PathLike | None = None) -> Path:
    loaded = load_checkpoint(model_path)
    info = loaded.info
    run_config = _read_json(Path(run_dir) / "config.json") if run_dir else {}
    done = _read_json(Path(run_dir) / "done.json") if run_dir and (Path(run_dir) / "done.json").exists() else {}
    summary = dict(info.training or {})
    summary["epochs_done"] = done.get("epochs_done", summary.get("epochs_done"))
    for key in ("data", "pretrained"):
        if key in summary:
            summary[key] = display_path(summary[key])
    run_config = {k: display_path(v) for k, v in run_config.items()}
    report = _read_json(report_path)
    loso = _read_json(loso_path)
    unseen = _read_json(unseen_path)
    metrics = dict(info.metrics or {})
    if unseen:
        metrics["unseen_sources"] = headline_metrics(unseen)
    if report:
        metrics["validation"] = headline_metrics(report)
        # per tier, where the app's reliability note reads them (provenance/copy_history.py)
        metrics["tiers"] = metrics["validation"].pop("tiers")
    if loso:
        metrics["leave_source_out"] = {k: loso.get(k) for k in ("folds", "pooled_auc", "auc_mean", "auc_min",
                                                                   "balanced_accuracy_mean", "balanced_accuracy_min")}
    info = replace(info, name=name or info.name, training=clean(summary), metrics=clean(metrics))
    info = replace(info, card=model_card(info, run_config, summary, report, loso, notes, unseen))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(loaded.network, info, out_path)
    out_path.with_suffix(".md").write_text(info.card, encoding="utf-8")
    load_checkpoint(out_path)  # what we wrote must load in the app
    return out_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluation.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, metavar="FILE.safetensors",
                        help="trained checkpoint (after training.evaluation.calibrate)")
    parser.add_argument("--out", required=True, metavar="OUT.safetensors", help="app checkpoint to write")
    parser.add_argument("--name", help="model name shown in the app")
    parser.add_argument("--run", metavar="DIR", help="the training run folder (config and data summary)")
    parser.add_argument("--report", metavar="report.json", help="training.evaluation.evaluate's report for the card")
    parser.add_argument("--loso", metavar="summary.json", help="leave-source-out summary (train_default --loso-folds)")
    parser.add_argument("--notes", metavar="FILE.md", help="extra Markdown appended to the card")
    args = parser.parse_args(argv)
    try:
        notes = Path(args.notes).read_text(encoding="utf-8") if args.notes else ""
        path = export(args.model, args.out, args.name, args.run, args.report, args.loso, notes)
    except (CheckpointError, ValueError, OSError, KeyError) as exc:
        print(f"export: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path} and {path.with_suffix('.md')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
