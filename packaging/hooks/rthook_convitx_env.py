"""PyInstaller runtime hook (runs before either entry script): no run-time download, ever.

Models come from resources/ inside the bundle (model.resources.resources_dir() finds them through
sys._MEIPASS); timm is only asked for pretrained=False, and huggingface_hub is left out of the bundle
(build.spec excludes it; timm imports it under try/except). These variables make any stray hub or
torch.hub call fail fast instead of reaching the network. sys.stdout/sys.stderr being None in the
windowed app is handled in packaging/entry_gui.py (it needs to know which executable it is).
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
