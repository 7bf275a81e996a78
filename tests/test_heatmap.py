"""Our Grad-CAM against pytorch-grad-cam's on the same model and layers."""
import numpy as np
import pytest
import torch

from conftest import save_image
from model import create_model
from model.heatmap import Heatmap, cam_layers, grad_cam, overlay, to_nchw

TOLERANCE = 1e-4  # max absolute difference between the two [0, 1] maps


class OneColumn(torch.nn.Module):
    """pytorch-grad-cam wants (N, classes) outputs; ConViTX gives (N,)."""

    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, x):
        return self.network(x)[:, None]


@pytest.mark.parametrize("preset", ["convitx_test", "convitx_lite", "convitx_hybrid"])
def test_matches_pytorch_grad_cam(preset):
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    torch.manual_seed(0)
    network = create_model(preset).eval()
    size = network.preset.input_size
    batch = torch.randn(2, 3, size, size)
    ours, _ = grad_cam(network, batch)

    layers = cam_layers(network)
    swin_channels = layers[1][1]
    reference = GradCAM(model=OneColumn(network), target_layers=[layer for layer, _ in layers],
                        reshape_transform=lambda t: to_nchw(t, swin_channels))
    theirs = reference(input_tensor=batch, targets=[ClassifierOutputTarget(0)] * 2)
    assert ours.shape == theirs.shape == (2, size, size)
    assert np.abs(ours - theirs).max() < TOLERANCE
    assert ours.max() > 0.99 and ours.min() < 0.01  # a real map, not a constant


def test_heatmap_covers_the_whole_image_and_works_under_inference_mode(tmp_path, detector):
    save_image(tmp_path / "wide.png", width=150, height=70)
    with torch.inference_mode():
        heatmap = detector.heatmap(tmp_path / "wide.png")
    assert heatmap.cam.shape == (heatmap.image.size[1], heatmap.image.size[0])
    assert heatmap.cam.dtype == np.float32 and 0 <= heatmap.cam.min() and heatmap.cam.max() <= 1
    assert heatmap.cam.std() > 0


def test_overlay_keeps_size_and_changes_pixels():
    from PIL import Image

    image = Image.new("RGB", (20, 10), (128, 128, 128))
    cam = np.zeros((10, 20), np.float32)
    cam[:, 10:] = 1.0
    painted = np.asarray(overlay(Heatmap(image, cam), opacity=0.6)).astype(int)
    assert painted.shape == (10, 20, 3)
    assert np.abs(painted[:, 15] - 128).sum() > np.abs(painted[:, 5] - 128).sum()  # hot side changes more
