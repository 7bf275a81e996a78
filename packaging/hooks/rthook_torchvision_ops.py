"""PyInstaller runtime hook: let `import torchvision` succeed when torchvision's own `_C` cannot load.

Why: the Linux CPU bundle pairs the CPU-only torch wheel with the only torchvision release for it on
PyPI, whose `_C.so` is linked against CUDA torch and so does not load. torchvision then carries on
without its C++ ops, but `torchvision/_meta_registrations.py` calls `torch.library.register_fake`
for `torchvision::nms`/`qnms` unconditionally and dies with "operator torchvision::nms does not
exist". timm imports torchvision at import time (only FrozenBatchNorm2d and transforms); ConViTX
never calls a torchvision operator.

What: if (and only if) torchvision's `_C` fails to load, declare the operator *schemas* (no kernels)
under the `torchvision` namespace, copied from a working torchvision (`torch.ops.torchvision.<op>
.default._schema`). Any call to one of them then fails loudly ("no kernel registered"), never
silently. Where `_C` loads (Windows/macOS wheels, a matched Linux pair) this hook does nothing.

It only locates torchvision's files; it does not import torchvision (that would run the failing
code). It also runs from source: `python -c "import runpy; runpy.run_path('packaging/hooks/
rthook_torchvision_ops.py')"` before importing timm, which is how `make package` checks the venv.
"""


def _install_torchvision_schema_stubs():
    import importlib.util
    import os
    import sys

    if not sys.platform.startswith("linux"):
        return "skipped"  # only the Linux CPU bundle needs it; elsewhere torchvision loads its own DLL paths
    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return "absent"
    folder = list(spec.submodule_search_locations)[0]
    # `_C.so` up to 0.28, `_C_stable.so` from 0.29 on: whichever torchvision itself will load.
    candidates = sorted(n for n in os.listdir(folder) if n.startswith("_C") and n.endswith(".so"))
    for name in candidates:
        try:
            torch.ops.load_library(os.path.join(folder, name))
            return "native"  # the real ops are there; torchvision's own load is then a no-op
        except (OSError, RuntimeError):
            pass
    lib = torch.library.Library("torchvision", "DEF")
    for schema in TORCHVISION_SCHEMAS:
        lib.define(schema)
    # A Library's registrations are removed when the object is collected: keep it for the process.
    torch._convitx_torchvision_stub_library = lib
    return "stubbed"


# From torchvision 0.29.1 (the dev venv) == torchvision 0.28.0's _C.so strings; `torchvision::` left off.
TORCHVISION_SCHEMAS = (
    "_cuda_version() -> int",
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "box_iou_rotated(Tensor boxes1, Tensor boxes2) -> Tensor",
    "roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
    "int sampling_ratio, bool aligned) -> Tensor",
    "_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width, "
    "int sampling_ratio, bool aligned) -> Tensor",
    "qroi_align(Tensor input, Tensor rois, float input_scale, int input_zero_point, float rois_scale, "
    "int rois_zero_point, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
    "int sampling_ratio, bool aligned) -> Tensor",
    "ps_roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
    "int sampling_ratio) -> (Tensor, Tensor)",
    "_ps_roi_align_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, "
    "SymInt pooled_height, SymInt pooled_width, int sampling_ratio, SymInt batch_size, SymInt channels, "
    "SymInt height, SymInt width) -> Tensor",
    "roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width) "
    "-> (Tensor, Tensor)",
    "_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width) -> Tensor",
    "ps_roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width) "
    "-> (Tensor, Tensor)",
    "_ps_roi_pool_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, "
    "SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, "
    "SymInt width) -> Tensor",
    "deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, SymInt stride_h, "
    "SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, SymInt dilation_w, SymInt groups, "
    "SymInt offset_groups, bool use_mask) -> Tensor",
    "_deform_conv2d_backward(Tensor grad, Tensor input, Tensor weight, Tensor offset, Tensor mask, "
    "Tensor bias, SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, "
    "SymInt dilation_w, SymInt groups, SymInt offset_groups, bool use_mask) -> (Tensor, Tensor, Tensor, "
    "Tensor, Tensor)",
)

TORCHVISION_OPS_STATE = _install_torchvision_schema_stubs()
