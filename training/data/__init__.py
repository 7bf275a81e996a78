"""Where training images come from: sample lists and manifests, package sources, pools, pairs, exclusion, tiers.

Imports ``model`` and nothing else of ``training`` (never ``recipes`` or ``evaluation``), so every other part may
use it.
"""
