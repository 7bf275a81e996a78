"""Training pipeline for ConViTX, in three parts: ``data`` (where images come from), ``recipes`` (how a model
is trained) and ``evaluation`` (how well it does, and its card). ``training/README.md`` maps them and explains
the whole loop. Nothing here is imported by the app.
"""
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]  # the repository root: the recipes' default paths are relative to it
