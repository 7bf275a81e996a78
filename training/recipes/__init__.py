"""How models are trained: the frozen-feature default recipe, the full fine-tune for GPUs, augmentation, caches.

Imports ``model``, ``training.data`` and ``training.evaluation`` (a recipe scores, calibrates and exports what
it trains); nothing imports a recipe but another recipe.
"""
