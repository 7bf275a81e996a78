"""training.evaluation.compare_scores: two models' AUCs on the images both scored, with the noise of the difference."""
from __future__ import annotations

import csv

from training.evaluation.compare_scores import main


def _write(path, rows, columns):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def test_compares_on_the_shared_images_only(tmp_path, capsys):
    labels = ["ai", "human"] * 20
    _write(tmp_path / "a.csv", [{"path": f"/{i}.png", "label": l, "p_ai": "0.5"} for i, l in enumerate(labels)],
           ["path", "label", "p_ai"])  # A cannot tell: AUC 0.5
    right = [{"path": f"/{i}.png", "p_ai": "0.9" if l == "ai" else "0.1"} for i, l in enumerate(labels)]
    _write(tmp_path / "b.csv", right[:30] + [{"path": "/elsewhere.png", "p_ai": "0.9"}], ["path", "p_ai"])
    assert main([str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]) == 0
    out = capsys.readouterr().out
    assert "30 images scored by both (15 AI): ROC-AUC A 0.500, B 1.000" in out
    assert "[0.500, 0.500]" in out
