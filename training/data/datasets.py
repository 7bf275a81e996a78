"""Labelled image lists from folders, the Kaggle CSV or manifest TSVs, and source-grouped splits.

A :class:`Sample` is one image: its path, label (1 = AI-generated, 0 = human-made), the source it
came from (a generator or a photo collection), its kind (photo / art / generated) and its split
group. Three ways to describe a data set, freely combined (``load_data``):

* a folder whose top-level folders name the label: ``ai/`` (also ``fake/``, ``generated/``) and
  ``real/`` or ``human/``. A second folder level, when there is one, names the source
  (``ai/midjourney/x.png`` has source ``ai/midjourney``) and is used as the split group;
* the Kaggle "AI vs Human-Generated Images" ``train.csv`` (columns ``file_name,label``, 1 = AI;
  file names relative to the CSV's folder). It has no source column, so every image is its own group;
* a manifest TSV like the trainpool's ``MANIFEST.tsv`` (columns ``label`` = ai/real/human,
  ``kind``, ``generator_or_source``, ..., ``relpath`` relative to the TSV's folder), or a folder
  that holds one. An optional ``group`` column overrides the split group (``source:<source>``):
  aligned pairs carry their real image's group, so a pair never straddles a split.

Splits keep every group on one side, so near-identical siblings (one prompt series, one
photographer's set) never straddle training and validation. ``source_folds`` and
``leave_sources_out`` hold whole sources out to estimate how the model does on generators it
has never seen.
"""
from __future__ import annotations

import csv
import json
import math
import os
import random
import sys
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from model.files import IMAGE_SUFFIXES

AI, HUMAN = 1, 0
LABEL_NAMES = {AI: "ai", HUMAN: "human"}
_LABEL_WORDS = {
    "ai": AI, "fake": AI, "generated": AI, "synthetic": AI, "1": AI,
    "real": HUMAN, "human": HUMAN, "authentic": HUMAN, "0": HUMAN,
}
MANIFEST_NAME = "MANIFEST.tsv"


class DataError(Exception):
    """A data set that cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Sample:
    path: str  # absolute path of the image file
    label: int  # 1 = AI-generated, 0 = human-made
    source: str  # generator or collection, for per-source reports and leave-source-out
    kind: str = ""  # photo / art / generated, when known
    group: str = ""  # split unit; siblings share one. Empty = the image is its own group
    origin: str = ""  # which data set description it came from
    repo: str = ""  # where the file was published (manifest ``repo``: owner/name, pypi:..., debian:...)

    @property
    def split_group(self) -> str:
        return self.group or f"image:{self.path}"

    @property
    def label_name(self) -> str:
        return LABEL_NAMES[self.label]


def parse_label(value: str) -> int:
    try:
        return _LABEL_WORDS[value.strip().lower()]
    except KeyError:
        raise DataError(f"unknown label {value!r}: use ai / real / human (or 1 = AI, 0 = human)") from None


# --- readers ----------------------------------------------------------------------------------

def read_folder(root: str | os.PathLike) -> list[Sample]:
    """Images under ``root/<label>/...``; a second folder level names the source and the group."""
    root = Path(root).resolve()
    samples: list[Sample] = []
    label_dirs = [d for d in sorted(root.iterdir()) if d.is_dir() and d.name.lower() in _LABEL_WORDS]
    if not label_dirs:
        raise DataError(f"{root} has no label folders: expected top-level folders named ai/ and real/ (or human/)")
    for label_dir in label_dirs:
        label = parse_label(label_dir.name)
        for path in sorted(label_dir.rglob("*")):
            if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            parts = path.relative_to(label_dir).parts
            if len(parts) > 1:
                source = f"{label_dir.name}/{parts[0]}"
                group = f"{root}:{source}"
            else:
                source, group = label_dir.name, ""
            samples.append(Sample(str(path), label, source, "", group, str(root)))
    return samples


def read_kaggle_csv(csv_path: str | os.PathLike, image_root: str | os.PathLike | None = None) -> list[Sample]:
    """The Kaggle "AI vs Human-Generated Images" train.csv: ``file_name,label`` with label 1 = AI."""
    csv_path = Path(csv_path).resolve()
    root = Path(image_root).resolve() if image_root else csv_path.parent
    samples = []
    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"file_name", "label"} <= set(reader.fieldnames):
            raise DataError(f"{csv_path.name} needs the columns file_name and label (1 = AI, 0 = human)")
        for row in reader:
            label = parse_label(row["label"])
            samples.append(Sample(str(root / row["file_name"]), label, f"kaggle {LABEL_NAMES[label]}",
                                  "", "", str(csv_path)))
    return samples


def read_manifest(tsv_path: str | os.PathLike, root: str | os.PathLike | None = None) -> list[Sample]:
    """A trainpool-style manifest: label, kind, generator_or_source, ..., relpath (tab separated)."""
    tsv_path = Path(tsv_path).resolve()
    root = Path(root).resolve() if root else tsv_path.parent
    samples = []
    with open(tsv_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        if not reader.fieldnames or not {"label", "relpath"} <= set(reader.fieldnames):
            raise DataError(f"{tsv_path} needs at least the columns label and relpath")
        has_source = "generator_or_source" in reader.fieldnames
        for row in reader:
            label = parse_label(row["label"])
            source = (row.get("generator_or_source") or "").strip() if has_source else ""
            samples.append(Sample(
                path=str(root / row["relpath"]),
                label=label,
                source=source or LABEL_NAMES[label],
                kind=(row.get("kind") or "").strip(),
                group=(row.get("group") or "").strip() or (f"source:{source}" if source else ""),
                origin=str(tsv_path),
                repo=(row.get("repo") or "").strip(),
            ))
    return samples


def read_any(spec: str | os.PathLike) -> list[Sample]:
    """One data description: a manifest .tsv, a Kaggle-style .csv, a folder holding MANIFEST.tsv,
    or a folder with ai/ and real/ (human/) folders."""
    path = Path(spec)
    if not path.exists():
        raise DataError(f"data not found: {path}")
    if path.is_file() and path.suffix.lower() == ".tsv":
        return read_manifest(path)
    if path.is_file() and path.suffix.lower() == ".csv":
        return read_kaggle_csv(path)
    if path.is_dir() and (path / MANIFEST_NAME).is_file():
        return read_manifest(path / MANIFEST_NAME)
    if path.is_dir():
        return read_folder(path)
    raise DataError(f"{path} is neither a folder, a manifest .tsv nor a Kaggle-style .csv")


def load_data(specs: Iterable[str | os.PathLike], skip_missing: bool = True, log=print) -> list[Sample]:
    """Read and combine several data descriptions. An image listed twice is kept once (the first);
    files that do not exist are skipped with a note (or fail when ``skip_missing`` is False)."""
    seen: set[str] = set()
    samples: list[Sample] = []
    for spec in specs:
        found = read_any(spec)
        missing = [s for s in found if not os.path.isfile(s.path)]
        if missing and not skip_missing:
            raise DataError(f"{len(missing)} listed image(s) of {spec} do not exist, e.g. {missing[0].path}")
        if missing:
            log(f"note: {len(missing)} listed image(s) of {spec} do not exist and are skipped "
                f"(first: {missing[0].path})")
        missing_paths = {s.path for s in missing}
        for sample in found:
            key = os.path.normcase(sample.path)
            if sample.path in missing_paths or key in seen:
                continue
            seen.add(key)
            samples.append(sample)
    if not samples:
        raise DataError("no images found in " + ", ".join(map(str, specs)))
    return samples


# --- splits -----------------------------------------------------------------------------------

def _groups_by_label(samples: Sequence[Sample]) -> dict[int, dict[str, int]]:
    sizes: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for sample in samples:
        sizes[sample.label][sample.split_group] += 1
    return sizes


def _closest_subset(sizes: dict[str, int], target: float, rng: random.Random, tries: int) -> set[str]:
    """Groups whose total is closest to ``target``: best of several shuffled greedy fills."""
    names = sorted(sizes)
    best: set[str] = set()
    best_gap = float("inf")
    for _ in range(tries):
        rng.shuffle(names)
        chosen, total = set(), 0
        for name in names:
            if abs(total + sizes[name] - target) < abs(total - target):
                chosen.add(name)
                total += sizes[name]
        gap = abs(total - target)
        if gap < best_gap or (gap == best_gap and sorted(chosen) < sorted(best)):
            best, best_gap = set(chosen), gap
    return best


def group_split(samples: Sequence[Sample], val_fraction: float = 0.2, seed: int = 0,
                max_group_share: float = 0.25, log=print) -> tuple[list[Sample], list[Sample]]:
    """Training and validation lists with every split group wholly on one side.

    The rule, per class: groups holding more than ``max_group_share`` of the class always stay in
    training (one dominant generator would otherwise leave training without it); from the other
    groups, validation takes whole groups whose image count comes closest to ``val_fraction`` of
    those groups' images. A class with a single group cannot be split by group: its images are
    split at random instead, with a warning.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError("val_fraction must be between 0 and 1")
    rng = random.Random(seed)
    val_groups: set[str] = set()
    split_images: set[str] = set()
    for label, sizes in sorted(_groups_by_label(samples).items()):
        total = sum(sizes.values())
        if len(sizes) == 1:
            log(f"warning: every {LABEL_NAMES[label]} image comes from one source; its images are split at random")
            (only,) = sizes
            paths = sorted(s.path for s in samples if s.split_group == only)
            rng.shuffle(paths)
            split_images.update(paths[:max(1, round(val_fraction * len(paths)))] if len(paths) > 1 else [])
            continue
        eligible = {g: n for g, n in sizes.items() if n <= max_group_share * total}
        if not eligible:
            largest = max(sizes, key=lambda g: (sizes[g], g))
            eligible = {g: n for g, n in sizes.items() if g != largest}
        target = max(1.0, val_fraction * sum(eligible.values()))
        chosen = _closest_subset(eligible, target, rng, tries=64 if len(eligible) < 2000 else 2)
        if not chosen:  # always validate on at least one group when the class has two or more
            chosen = {min(eligible, key=lambda g: (eligible[g], g))}
        val_groups |= chosen
    train = [s for s in samples if s.split_group not in val_groups and s.path not in split_images]
    val = [s for s in samples if s.split_group in val_groups or s.path in split_images]
    return train, val


def random_split(samples: Sequence[Sample], val_fraction: float = 0.2,
                 seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """Stratified by label, ignoring groups (only for data without any source information)."""
    rng = random.Random(seed)
    val_paths: set[str] = set()
    for label in sorted({s.label for s in samples}):
        paths = sorted(s.path for s in samples if s.label == label)
        rng.shuffle(paths)
        val_paths.update(paths[:round(val_fraction * len(paths))])
    return [s for s in samples if s.path not in val_paths], [s for s in samples if s.path in val_paths]


def source_folds(samples: Sequence[Sample], k: int, seed: int = 0) -> list[set[str]]:
    """Partition the split groups into ``k`` folds, each holding groups of both classes, with image
    counts per class as even as whole groups allow (largest group first into the emptiest fold)."""
    if k < 2:
        raise ValueError("k-fold needs k >= 2")
    rng = random.Random(seed)
    folds: list[set[str]] = [set() for _ in range(k)]
    for label, sizes in sorted(_groups_by_label(samples).items()):
        if len(sizes) < k:
            raise DataError(f"{k} folds by source need at least {k} sources per class, but the "
                            f"{LABEL_NAMES[label]} images come from {len(sizes)}")
        names = sorted(sizes)
        rng.shuffle(names)
        names.sort(key=lambda g: -sizes[g])  # stable: ties keep the shuffled order
        counts = [0] * k
        for name in names:
            target = min(range(k), key=lambda i: (counts[i], i))
            folds[target].add(name)
            counts[target] += sizes[name]
    return folds


def fold_split(samples: Sequence[Sample], k: int, fold: int, seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """Fold ``fold`` (0-based) of :func:`source_folds` as validation, the others as training."""
    if not 0 <= fold < k:
        raise ValueError(f"fold must be in 0..{k - 1}")
    held = source_folds(samples, k, seed)[fold]
    return [s for s in samples if s.split_group not in held], [s for s in samples if s.split_group in held]


def leave_sources_out(samples: Sequence[Sample], sources: Iterable[str]) -> tuple[list[Sample], list[Sample]]:
    """Hold out every image of the named sources (exact ``source`` names); train on the rest."""
    held = set(sources)
    unknown = held - {s.source for s in samples}
    if unknown:
        known = ", ".join(sorted({s.source for s in samples}))
        raise DataError(f"unknown source(s) {sorted(unknown)}; the data has: {known}")
    return [s for s in samples if s.source not in held], [s for s in samples if s.source in held]


def check_disjoint(train: Sequence[Sample], val: Sequence[Sample]) -> None:
    """Raise when a split group or an image is on both sides."""
    train_groups = {s.split_group for s in train}
    shared = sorted({s.split_group for s in val} & train_groups)
    if shared:
        raise AssertionError(f"split group {shared[0]!r} is in both training and validation")


# --- summaries and files ------------------------------------------------------------------------

def summarize(samples: Sequence[Sample]) -> dict:
    """Counts for a model card: per label, per kind and per (label, source)."""
    by_label = Counter(s.label_name for s in samples)
    by_kind = Counter(s.kind or "unknown" for s in samples)
    by_source = Counter((s.label_name, s.source) for s in samples)
    return {
        "images": len(samples),
        "by_label": dict(sorted(by_label.items())),
        "by_kind": dict(sorted(by_kind.items())),
        "sources": [{"label": label, "source": source, "images": n}
                    for (label, source), n in sorted(by_source.items(), key=lambda item: (-item[1], item[0]))],
    }


def save_samples(path: str | os.PathLike, **lists: Sequence[Sample]) -> None:
    """Write named sample lists (e.g. train=..., val=...) as JSON."""
    data = {name: [asdict(s) for s in items] for name, items in lists.items()}
    tmp = Path(f"{path}.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def load_samples(path: str | os.PathLike, name: str | None = None) -> dict[str, list[Sample]] | list[Sample]:
    """Read :func:`save_samples`' file: all lists, or the one called ``name``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    lists = {key: [Sample(**row) for row in rows] for key, rows in data.items()}
    if name is None:
        return lists
    if name not in lists:
        raise DataError(f"{path} has no list {name!r} (it has: {', '.join(lists)})")
    return lists[name]


def subsample(samples: Sequence[Sample], limit: int, seed: int = 0,
              spread: Callable[[Sample], str] = lambda s: s.source) -> list[Sample]:
    """At most ``limit`` images: each class keeps its share, and within a class the images are
    drawn round-robin over ``spread`` (the source, or e.g. the generator family) so that small groups stay present."""
    if limit <= 0 or limit >= len(samples):
        return list(samples)
    rng = random.Random(seed)
    chosen: list[Sample] = []
    labels = sorted({s.label for s in samples})
    for position, label in enumerate(labels):
        of_label = [s for s in samples if s.label == label]
        quota = limit - len(chosen) if position == len(labels) - 1 else round(limit * len(of_label) / len(samples))
        buckets: dict[str, list[Sample]] = defaultdict(list)
        for sample in of_label:
            buckets[spread(sample)].append(sample)
        for items in buckets.values():
            rng.shuffle(items)
        taken = 0
        while taken < min(quota, len(of_label)):
            for key in sorted(buckets):
                if buckets[key] and taken < quota:
                    chosen.append(buckets[key].pop())
                    taken += 1
    order = {s.path: i for i, s in enumerate(samples)}
    return sorted(chosen, key=lambda s: order[s.path])


def sample_weights(samples: list[Sample], balance: str) -> np.ndarray:
    """Loss weights averaging 1: ``class`` gives both classes equal total weight; ``class+source``
    also evens out sources within a class (weight per image ~ 1/sqrt(images of its source))."""
    n = len(samples)
    weights = np.ones(n, dtype=np.float64)
    if balance == "none" or n == 0:
        return weights
    labels = np.array([s.label for s in samples])
    if balance == "class+source":
        counts: dict[tuple, int] = {}
        for s in samples:
            counts[(s.label, s.source)] = counts.get((s.label, s.source), 0) + 1
        weights = np.array([1.0 / math.sqrt(counts[(s.label, s.source)]) for s in samples])
    present = [c for c in (0, 1) if (labels == c).any()]
    for c in present:
        mask = labels == c
        weights[mask] *= (n / len(present)) / weights[mask].sum()
    return weights


def stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
