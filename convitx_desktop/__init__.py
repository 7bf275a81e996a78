"""ConViTX Desktop: drop images, see how likely each is AI-generated, with a heatmap and honest wording.

All model work runs in one background worker (``worker.py``); widgets only show results.
"""
APP_NAME = "ConViTX Desktop"
APP_ID = "convitx-desktop"  # folder name under the user's config, data and log dirs
