"""Training pipeline for ConViTX: data sets, augmentation, training, evaluation, calibration, export.

Run the stages as modules (``python -m training.train --help`` and so on); ``training/README.md``
explains the whole loop. Nothing here is imported by the app.
"""
