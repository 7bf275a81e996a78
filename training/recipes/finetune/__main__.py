"""``python -m training.recipes.finetune`` (or ``torchrun ... -m training.recipes.finetune``)."""
import sys

from .cli import main

sys.exit(main())
