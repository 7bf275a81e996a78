"""Backbone weights: a pretrained file into the CNN branch with its own learning rate; timm's own weights."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from model import create_model


def test_pretrained_file_loads_into_the_cnn_branch_and_gets_its_own_lr(tmp_path):
    import timm
    from safetensors.torch import save_file

    from training.recipes.weights import WeightsError, freeze, load_backbone_file, parameter_groups

    preset_cnn = timm.create_model("convnext_atto", num_classes=10, dims=(8, 16, 24, 32), depths=(1, 1, 1, 1))
    tensors = {k: v.contiguous() for k, v in preset_cnn.state_dict().items()}
    save_file(tensors, str(tmp_path / "cnn.safetensors"), metadata={"arch": "convnext_atto"})
    network = create_model("convitx_test")
    assert load_backbone_file(network, tmp_path / "cnn.safetensors") == ["cnn"]
    assert torch.equal(network.cnn.stem[0].weight, preset_cnn.stem[0].weight)
    groups = parameter_groups(network, ["cnn"], lr=1e-3, backbone_lr=1e-4, weight_decay=0.05)
    by_name = {g["name"]: g for g in groups}
    assert by_name["pretrained"]["lr"] == 1e-4 and by_name["new"]["lr"] == 1e-3
    assert by_name["new/no_decay"]["weight_decay"] == 0.0

    save_file(tensors, str(tmp_path / "other.safetensors"), metadata={"arch": "resnet50"})
    with pytest.raises(WeightsError, match="resnet50"):
        load_backbone_file(network, tmp_path / "other.safetensors")
    tensors.pop("stem.0.weight")
    save_file(tensors, str(tmp_path / "short.safetensors"))
    with pytest.raises(WeightsError, match="'stem.0.weight' is missing"):
        load_backbone_file(network, tmp_path / "short.safetensors")

    frozen = freeze(network, first_stages=1)
    assert not network.cnn.stem[0].weight.requires_grad and not network.cnn.stages[0].blocks[0].gamma.requires_grad
    assert network.cnn.stages[1].blocks[0].gamma.requires_grad and network.head[1].weight.requires_grad
    assert not network.swin.patch_embed.proj.weight.requires_grad and len(frozen) == 4


def test_timm_pretrained_skips_resized_branches_and_explains_a_failure(monkeypatch):
    import timm

    from training.recipes.weights import WeightsError, load_timm_pretrained

    assert load_timm_pretrained(create_model("convitx_test")) == []  # both branches are resized: nothing to fetch

    def offline(*args, **kwargs):
        raise OSError("no internet")

    network = create_model("convitx_test")
    network.preset = replace(network.preset, cnn_kwargs={})  # pretend the CNN branch is timm's own convnext_atto
    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(WeightsError, match="timm could not provide pretrained convnext_atto.*--pretrained PATH"):
        load_timm_pretrained(network)
