import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import make_tiny_checkpoint
from model import CheckpointError, Thresholds, create_model, list_presets, load_checkpoint, read_info
from model.checkpoint import METADATA_KEY


def test_round_trip_keeps_weights_and_metadata(tmp_path):
    path = make_tiny_checkpoint(tmp_path / "m.safetensors", training={"images": 12})
    loaded = load_checkpoint(path)
    assert loaded.info.name == "tiny-test-model" and loaded.info.training == {"images": 12}
    assert loaded.info.thresholds == Thresholds(0.4, 0.6)
    assert loaded.info.preprocess.mode == "multicrop"
    saved = load_file(str(path))
    for key, tensor in loaded.network.state_dict().items():
        assert torch.equal(tensor, saved[key])
    assert not loaded.network.training


def test_pickle_files_are_refused_with_the_converter_named(tmp_path):
    (tmp_path / "seed.pth").write_bytes(b"\x80\x04pickle")
    with pytest.raises(CheckpointError, match="convert_checkpoint"):
        load_checkpoint(tmp_path / "seed.pth")


def test_mismatched_tensor_names_the_first_bad_key(tmp_path):
    path = make_tiny_checkpoint(tmp_path / "m.safetensors")
    tensors = load_file(str(path))
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata()
    tensors["head.1.weight"] = torch.zeros(3, 3)
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata=metadata)
    with pytest.raises(CheckpointError, match=r"'head.1.weight' has shape \(3, 3\)"):
        load_checkpoint(tmp_path / "bad.safetensors")


def test_missing_metadata_and_garbage_files(tmp_path):
    save_file({"x": torch.zeros(1)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CheckpointError, match="no ConViTX metadata"):
        read_info(tmp_path / "plain.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(tmp_path / "junk.safetensors")


def test_unknown_preset_and_future_format_are_explained(tmp_path):
    path = make_tiny_checkpoint(tmp_path / "m.safetensors")
    tensors = load_file(str(path))
    for change, message in [({"preset": "convitx_huge"}, "unknown ConViTX preset"),
                            ({"format_version": 99}, "format version 99")]:
        info = json.loads(read_info_raw(path))
        info.update(change)
        save_file(tensors, str(tmp_path / "x.safetensors"), metadata={METADATA_KEY: json.dumps(info)})
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(tmp_path / "x.safetensors")


def test_a_checkpoint_whose_clip_view_disagrees_with_its_preset_is_refused_before_any_scan(tmp_path):
    """The decoders read the preprocessing, the head the preset: features of one layout fed to the other
    would fail on every file, so the model is refused at load with one message."""
    from model import default_info, save_checkpoint
    from model.config import PreprocessConfig

    network = create_model("convitx_clip_test")
    for clip in ({"clip_blocks": (5,), "clip_embedding": False}, {"clip_blocks": (3, 5)}, {"clip_blocks": None}):
        info = default_info("convitx_clip_test", preprocess=PreprocessConfig(mode="native", crop_size=32, **clip))
        path = save_checkpoint(network, info, tmp_path / "clip.safetensors")
        with pytest.raises(CheckpointError, match="reads the CLIP view as .* its preset convitx_clip_test as"):
            read_info(path)
    fine = default_info("convitx_clip_test", preprocess=PreprocessConfig(mode="native", crop_size=32, clip_blocks=(5,)))
    assert read_info(save_checkpoint(network, fine, tmp_path / "fine.safetensors")).preprocess.clip.blocks == (5,)


def read_info_raw(path):
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        return handle.metadata()[METADATA_KEY]


def test_presets_build_and_give_one_logit():
    assert {"convitx_large", "convitx_lite", "convitx_atto"} <= set(list_presets())
    network = create_model("convitx_lite").eval()
    assert network.cnn.num_features + network.swin.num_features == network.head[0].num_features
    with torch.inference_mode():
        assert network(torch.zeros(2, 3, 224, 224)).shape == (2,)


def test_hybrid_preset_reads_block_statistics_and_gives_the_swin_branch_the_cnns_map():
    from model.frozen import freeze_for_cpu

    network = create_model("convitx_hybrid").eval()
    batch = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        features, swin_input = network.cnn_outputs(batch)
        assert features.shape == (2, 2 * (16 + 24 + 40 + 80 + 112 + 192 + 320) + 1280)
        assert swin_input.shape == (2, 40, 28, 28)  # block 2, stride 8
        logits = network(batch)
        assert torch.allclose(logits, network.fuse(features, swin_input))
        frozen = freeze_for_cpu(network, 224)  # the CPU scorer traces it faithfully
        assert torch.allclose(frozen(batch.contiguous(memory_format=torch.channels_last)), logits, atol=1e-4)


def test_large_preset_is_the_original_design():
    head = create_model("convitx_large").head
    widths = [m.out_features for m in head if isinstance(m, torch.nn.Linear)]
    assert head[0].num_features == 2560 and widths == [1024, 512, 256, 128, 1]
