"""``python -m training.recipes.default``: rebuild the built-in model (``--smoke`` for a quick check)."""
import sys

from .cli import main

sys.exit(main())
