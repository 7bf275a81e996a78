# Two commands for people: `make run` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test test-slow bench fuzz package train-default lint

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt torch torchvision
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	$(PY) packaging/fetch_clip.py
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m convitx_desktop

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m "not slow"

test-slow: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m slow || [ $$? -eq 5 ]

# Rebuild the built-in model (about 90 minutes on 2 CPU cores once the data is there: the frozen towers' outputs, then folds; see training/README.md).
# Git copies (clones or bare) of madebyollin/taesd and of pool 2's and pool 3's repositories (training/README.md says how).
MIRRORS ?= data/mirrors
train-default: $(STAMP)
	$(PY) -m training.data.public --out data/public
	$(PY) -m training.data.aligned_pairs --taesd-git $(MIRRORS)/madebyollin+taesd/repo --out data/pairs \
		--data ../shared/data/trainpool/MANIFEST.tsv --data data/public/MANIFEST.tsv
	test -f data/pool2/MANIFEST.tsv || $(PY) ../shared/data/pool2/build.py --mirrors $(MIRRORS) --out data/pool2 \
		../shared/data/pool2/ai.tsv ../shared/data/pool2/photo.tsv ../shared/data/pool2/art.tsv
	test -f data/pool3/MANIFEST.tsv || $(PY) ../shared/data/pool2/build.py --mirrors $(MIRRORS) --out data/pool3 \
		../shared/data/pool3/ai.tsv ../shared/data/pool3/ai_modern.tsv ../shared/data/pool3/photo.tsv \
		../shared/data/pool3/art.tsv
	$(PY) -m training.recipes.default

# The Linux one-folder bundle in dist/ConViTX (CPU torch, its own .venv-package; see README "Packaging").
package:
	PYTHON=$(PYTHON) bash packaging/build_linux.sh

bench: $(STAMP)
	$(PY) bench/benchmark.py

# 10,000 mutated image files (fixed seed) scanned headless: rows, decoder crashes and hangs, slowest file, peak RSS.
fuzz: $(STAMP)
	$(PY) tests/fuzz.py --files $(or $(FILES),10000) --out fuzz-out
