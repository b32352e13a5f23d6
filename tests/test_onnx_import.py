"""ONNX importer: zoo models exported with torch.onnx.export give the same IR as the torch.fx path."""

from __future__ import annotations

import sys
import warnings

import pytest

from accelsim.errors import WorkloadError
from accelsim.extras import MissingExtraError
from accelsim.workload.onnx_import import from_onnx

torch = pytest.importorskip("torch")


def key(layer):
    return (layer.op, layer.in_shape, layer.out_shape, layer.kernel, layer.stride, layer.groups, layer.macs,
            layer.bias, layer.activation, dict(layer.attrs).get("kind"), layer.dilation, layer.block)


def export(module, shape, path):
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the TorchScript exporter announces its deprecation
        torch.onnx.export(module, (torch.zeros((1,) + shape),), str(path), dynamo=False, opset_version=17)
    return path


def test_missing_onnx_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingExtraError, match=r'needs onnx: pip install "accelsim-codesign\[onnx\]"'):
        from_onnx("model.onnx")


CASES = [
    ("mobilenet_v3_small", lambda z: z.MobileNetV3("small"), (3, 224, 224)),        # hardswish, SE gates
    ("resnet18", lambda z: z.ResNet(z.BasicBlock, (2, 2, 2, 2)), (3, 224, 224)),    # max pool, add + relu
    ("efficientnet_b0", lambda z: z.EfficientNetB0(), (3, 224, 224)),              # SiLU = x * sigmoid(x)
    ("ds_cnn_m", lambda z: z.DSCNN("m"), (1, 49, 10)),                              # asymmetric Pad
    ("lraspp", lambda z: z.LRASPPMobileNetV3(), (3, 128, 128)),                     # dilation, bilinear resize
    ("vit_2_blocks", lambda z: z.ViT(depth=2), (3, 224, 224)),                      # GELU, matmuls, layer norm
    ("nb201", lambda z: z.NB201Net(), (3, 32, 32)),                                 # repeated ReLUs, avg pools
]


@pytest.mark.parametrize("name,make,shape", CASES, ids=[c[0] for c in CASES])
def test_onnx_export_matches_fx_layer_by_layer(tmp_path, name, make, shape):
    pytest.importorskip("onnx")
    from accelsim.workload import torch_zoo
    from accelsim.workload.torch_import import from_torch
    module = make(torch_zoo)
    fx = from_torch(module, shape, name=name)
    onnx_net = from_onnx(export(module, shape, tmp_path / f"{name}.onnx"))
    assert onnx_net.name == name
    assert [key(l) for l in onnx_net.layers] == [key(l) for l in fx.layers]
    assert (onnx_net.macs, onnx_net.params) == (fx.macs, fx.params)


def test_onnx_conv_transpose_matches_fx(tmp_path):
    pytest.importorskip("onnx")
    from accelsim.workload.torch_import import from_torch
    nn = torch.nn
    module = nn.Sequential(nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1, bias=False),
                           nn.BatchNorm2d(4), nn.ReLU(), nn.ConvTranspose2d(4, 6, 2, stride=2, groups=2))
    fx = from_torch(module.eval(), (8, 5, 6), name="up")
    onnx_net = from_onnx(export(module, (8, 5, 6), tmp_path / "up.onnx"))
    assert [l.op for l in onnx_net.layers] == ["conv_transpose", "conv_transpose"]
    assert [key(l) for l in onnx_net.layers] == [key(l) for l in fx.layers]
    assert (onnx_net.macs, onnx_net.params) == (fx.macs, fx.params)


def test_unsupported_onnx_op_names_type_and_node(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])
    node = helper.make_node("LRN", ["x"], ["y"], name="norm1", size=3)
    model = helper.make_model(helper.make_graph([node], "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "lrn.onnx"
    onnx.save(model, str(path))
    with pytest.raises(WorkloadError, match=r"from_onnx\(lrn\): unsupported op LRN at node 'norm1' \(LRN\); supported"):
        from_onnx(path)


def test_unreadable_file(tmp_path):
    pytest.importorskip("onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(WorkloadError, match="bad.onnx"):
        from_onnx(bad)
