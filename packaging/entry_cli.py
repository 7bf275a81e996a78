"""Frozen entry of the console tool `convitx` (same bundle as the app): `convitx scan PATH... --csv OUT.csv`."""
import multiprocessing
import os
import sys

if __name__ == "__main__":
    # A console executable started without a console (a scheduler, a service) can also get None streams;
    # tqdm and the summary line would then raise.
    for _name in ("stdout", "stderr"):
        if getattr(sys, _name) is None:
            setattr(sys, _name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115
    multiprocessing.freeze_support()
    from model.cli import main

    sys.exit(main())
