"""How well a model does, and what its card says: metrics, leave-source-out folds, calibration, evaluation the
way the app scores, comparison of two models, plots, and the export of the checkpoint with its card.

Imports ``model`` and ``training.data`` (never ``recipes``), so every recipe may use it.
"""
