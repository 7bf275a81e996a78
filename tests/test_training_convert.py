"""training.convert_checkpoint on fake original-design .pth files (convitx_test-shaped, original-style names)."""
from __future__ import annotations

from collections import OrderedDict

import pytest
import torch

from model import create_model, load_checkpoint
from model.model_file import CONVERTER_HINT
from training.convert_checkpoint import ConversionError, build_parser, convert, main


class NotATensor:
    """Anything that is not a tensor makes weights_only loading refuse the file."""


def seed_style_state_dict(seed: int = 0) -> tuple[OrderedDict, dict]:
    """A convitx_test network's weights under the names the original code used:
    ``module.convnext.*``, ``module.swin.*``, ``module.fc.*``, plus the backbone's ImageNet classifier."""
    torch.manual_seed(seed)
    reference = create_model("convitx_test").state_dict()
    renamed = OrderedDict()
    for key, value in reference.items():
        part, rest = key.split(".", 1)
        renamed["module." + {"cnn": "convnext", "swin": "swin", "head": "fc"}[part] + "." + rest] = value.clone()
    renamed["module.convnext.head.fc.weight"] = torch.randn(1000, 32)
    renamed["module.convnext.head.fc.bias"] = torch.randn(1000)
    return renamed, reference


def test_seed_style_pth_converts_and_loads_in_the_app(tmp_path):
    state, reference = seed_style_state_dict()
    torch.save({"epoch": 7, "state_dict": state}, tmp_path / "seed.pth")
    out = convert(tmp_path / "seed.pth", tmp_path / "seed.safetensors", preset="convitx_test")
    loaded = load_checkpoint(out)
    for key, value in reference.items():
        assert torch.equal(loaded.network.state_dict()[key], value), key
    assert loaded.info.preset == "convitx_test" and loaded.info.preprocess.mode == "resize"
    assert loaded.info.training == {"converted_from": "seed.pth"} and "calibrate" in loaded.info.card


def test_head_layers_are_matched_in_order(tmp_path):
    state, reference = seed_style_state_dict(seed=1)
    # the original head as nn.Sequential(BatchNorm1d, Dropout, Linear, ReLU, Linear): indices 0, 2, 4
    reordered = OrderedDict((k, v) for k, v in state.items() if not k.startswith("module.fc."))
    for ours, theirs in (("0", "0"), ("1", "2"), ("4", "4")):
        for key, value in state.items():
            if key.startswith(f"module.fc.{ours}."):
                reordered[f"module.classifier.{theirs}." + key.rsplit(".", 1)[1]] = value
    torch.save(reordered, tmp_path / "reordered.pth")
    loaded = load_checkpoint(convert(tmp_path / "reordered.pth", tmp_path / "r.safetensors", preset="convitx_test"))
    assert torch.equal(loaded.network.head[1].weight, reference["head.1.weight"])
    assert torch.equal(loaded.network.head[4].bias, reference["head.4.bias"])


@pytest.mark.parametrize("change, message", [
    (lambda sd: sd.update({"module.aux_head.weight": torch.zeros(3)}), r"key 'module\.aux_head\.weight' is not mapped"),
    (lambda sd: sd.update({"module.fc.4.weight": torch.zeros(1, 7)}), r"key 'module\.fc\.4\.weight' is not mapped.*"
                                                                      r"does not fit layer 3"),
    (lambda sd: sd.update({"module.swin.extra_token": torch.zeros(3)}), r"'module\.swin\.extra_token' is not mapped"),
    (lambda sd: sd.pop("module.swin.norm.weight"), r"no weights for 'swin\.norm\.weight'"),
])
def test_unmappable_files_name_the_first_bad_key(tmp_path, change, message):
    state, _ = seed_style_state_dict()
    change(state)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(ConversionError, match=message):
        convert(tmp_path / "bad.pth", tmp_path / "bad.safetensors", preset="convitx_test")
    assert not (tmp_path / "bad.safetensors").exists()


def test_pickled_objects_are_refused_and_the_cli_says_why(tmp_path, capsys):
    state, _ = seed_style_state_dict()
    torch.save({"state_dict": state, "extra": NotATensor()}, tmp_path / "pickled.pth")
    with pytest.raises(ConversionError, match="holds more than tensors"):
        convert(tmp_path / "pickled.pth", tmp_path / "x.safetensors", preset="convitx_test")
    assert main(["--preset", "convitx_test", str(tmp_path / "pickled.pth"), str(tmp_path / "x.safetensors")]) == 2
    assert "state_dict()" in capsys.readouterr().err


def test_the_apps_hint_is_a_valid_command_line():
    argv = CONVERTER_HINT.split()
    assert argv[:3] == ["python", "-m", "training.convert_checkpoint"]
    args = build_parser().parse_args(argv[3:])
    assert (args.preset, args.input, args.output) == ("convitx_large", "IN.pth", "OUT.safetensors")
