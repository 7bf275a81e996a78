"""Train a ConViTX detector: ``python -m training.recipes.finetune --help``.

One process on a CPU or GPU, or several through ``torchrun`` (DistributedDataParallel: NCCL on
GPUs, Gloo on CPUs). Everything a run writes goes to ``--out``:

  config.json        the resolved settings (``--resume`` reuses them)
  split.json         the training and validation images (evaluate/calibrate read it)
  last.safetensors   the latest weights, an app checkpoint (``convitx scan --model``)
  best.safetensors   the best epoch by the validation metric (EMA weights with --ema)
  state.pt           optimiser, schedule, EMA and random states for ``--resume``
  metrics.csv/.json  one row per epoch; plots/*.png loss curves, ROC, confusion matrix
  val_scores.csv     p_ai per validation image at the best epoch
  done.json          written when the run has finished (all epochs, the time budget or --stop-after)
"""
