"""`python -m convitx_desktop` starts the app (what `make run` does)."""
import sys

from convitx_desktop.app import main

if __name__ == "__main__":
    sys.exit(main())
