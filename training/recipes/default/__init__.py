"""Rebuild the embedded default model, reproducibly: ``python -m training.recipes.default --help``.

The recipe (fixed here, recorded in the work folder and in the model card):

* preset ``convitx_hybrid``: EfficientNet-Lite0 with ImageNet weights
  (``data/public/backbones/tf_efficientnet_lite0.safetensors``, written by training/data/public/),
  frozen; its block statistics and a Swin branch over its stride-8 map, fused by the head. Only the
  Swin branch and the head are trained (random initialisation, seed 0), on CNN outputs computed once
  (training/recipes/frozen_cnn.py): that is what lets five leave-source-out folds and the final model fit
  two hours on 2 CPU cores;
* data: ``../shared/data/trainpool/MANIFEST.tsv`` + ``data/public/MANIFEST.tsv`` + the aligned pairs
  ``data/pairs/MANIFEST.tsv`` + up to --pool2-limit images of pool 2 (``data/pool2/MANIFEST.tsv``,
  modern generators, camera photos and human art), spread over its sources;
* native preprocessing: the file's own pixel grid, crop 224, up to 4 evenly spread crops (mean
  logit); one more view per image from a native region with the ``native`` augmentation (rescaled
  0.4-1x by one of four filters, JPEG/WebP round trips, for both classes alike);
* the exclusion check (training/data/exclusion.py): no excluded repository, no near-duplicate of an
  evaluation image; training refuses to start without the lists;
* loss balanced per class and source.

Stages, each skipped when its output is already there (``--force STAGE`` redoes one):

  outputs    <work>/outputs/: the frozen CNN's outputs per image, and samples.json (the images kept)
  loso       <work>/loso/: --folds folds holding out whole AI generator families and human sources; a
             model per fold scores its held-out images (scores.csv), and scores up to --check-images
             of them the way the app does, also after JPEG q90 and as 256 px crops (fold*/eval)
  train      <work>/train/model.safetensors: the head trained on every image
  calibrate  <work>/calibrated.safetensors: threshold and uncertain band on the held-out scores of the
             folds (sources each fold never saw), the band narrowed to hold at most 10% of them
  evaluate   <work>/eval/report.json/md: the held-out scores under the calibrated band, per source and
             family, with the robustness rows of the app-path checks
  export     resources/models/convitx_default.safetensors and its card resources/models/convitx_default.md

One module per stage (outputs in ``rebuild``, then ``loso``, ``train``, ``calibrate``, ``evaluate``, ``export``),
``rebuild`` for the settings and work folder they share, ``cli`` for the command line.
"""
