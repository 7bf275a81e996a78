"""Rebuild the embedded default model, reproducibly: ``python -m training.recipes.default --help``.

The recipe (fixed here, recorded in the work folder and in the model card):

* preset ``convitx_clip_mid``: EfficientNet-Lite0 with ImageNet weights
  (``data/public/backbones/tf_efficientnet_lite0.safetensors``, written by training/data/public/),
  frozen, its block statistics and a Swin branch over its stride-8 map on native crops; beside them the
  frozen CLIP ViT-B/16 image tower on the whole image at 224 px (model/clip_view.py: the class token
  after blocks 5 and 7, the tower cut after block 7), all fused by one head. Only the Swin branch and the head are
  trained (random initialisation, seed 0), on tower outputs computed once per image and tier
  (training/recipes/tier_features.py): that is what lets five leave-source-out folds and the final model
  fit on 2 CPU cores;
* tiers (training/data/tiers.py): every image is seen, in training and in every evaluation, as saved
  (*clean*), as a *web* copy (longer side 768-1600 px, JPEG or WebP q60-90) and as a *hard* copy (at most
  512 px, JPEG q35-60 or a PNG screenshot), both classes alike, fixed seeds;
* data: each manifest with the most images taken from it, spread over its sources (``--data PATH:N``):
  ``../shared/data/trainpool`` 500, ``data/public`` all, the aligned pairs ``data/pairs`` 300, pool 2
  (today's generators, camera photos, human art) 900 and pool 3 (old, scanned, noisy and re-shared
  photos, book and museum art, GANs beyond faces, class-conditional diffusion) 700;
* native crops: the file's own pixel grid, crop 224, the first and the last of up to 4 evenly spread
  crops (``keep_crops="ends"``), in training, in every evaluation and in the app (mean logit);
* the exclusion check (training/data/exclusion.py): no excluded repository or package, no near-duplicate of
  an evaluation image; training refuses to start without the lists;
* loss balanced per class and source.

Stages, each skipped when its output is already there (``--force STAGE`` redoes one):

  outputs    <work>/features/: both towers' outputs per image and tier, and samples.json (the images kept)
  loso       <work>/loso/: --folds folds holding out whole AI generator families and human sources; a
             model per fold scores its held-out images in every tier (scores.csv), and scores up to
             --check-images of them the way the app does, also after JPEG q90 and as 256 px crops
  train      <work>/train/model.safetensors: the head trained on every image
  calibrate  <work>/calibrated.safetensors: threshold and uncertain band on the held-out scores of the
             folds (sources each fold never saw) in all three tiers together, the band narrowed to hold
             at most 10% of them
  evaluate   <work>/eval/report.json/md: the held-out scores under the calibrated band, per tier, kind,
             source and family, with the robustness rows of the app-path checks
  export     resources/models/convitx_default.safetensors and its card resources/models/convitx_default.md

One module per stage (outputs in ``rebuild``, then ``loso``, ``train``, ``calibrate``, ``evaluate``, ``export``),
``rebuild`` for the settings and work folder they share, ``cli`` for the command line.
"""
