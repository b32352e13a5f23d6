"""Dilated convolutions in the IR: shapes worked out by hand, MACs and weights unchanged, and the
dilation carried through the torch.fx and ONNX importers and the zoo's dilated LR-ASPP."""

from __future__ import annotations

import warnings

import pytest

from accelsim.errors import WorkloadError
from accelsim.workload.ir import Layer, NetworkBuilder
from accelsim.workload.lowering import Op, lower


# ------------------------------------------------------------------------------------ builder
def test_dilated_conv_shapes_by_hand():
    b = NetworkBuilder("dil", (17, 17, 8))
    # 3x3 dilation 2 spans 5x5: (17 + 2*2 - 5) / 1 + 1 = 17
    same = b.conv(b.input, 8, 3, 1, 2, dilation=2, name="same")
    # default 'same' padding for a dilated odd kernel is d*(k//2) = 2
    auto = b.conv(same, 8, 3, dilation=2, name="auto")
    # stride 2: (17 + 4 - 5) // 2 + 1 = 9
    down = b.conv(auto, 8, 3, 2, 2, dilation=2, name="down")
    net = b.build()
    assert net.layer(same).out_shape == (17, 17, 8)
    assert net.layer(auto).padding == (2, 2) and net.layer(auto).out_shape == (17, 17, 8)
    assert net.layer(down).out_shape == (9, 9, 8)
    assert net.layer(same).dilation == (2, 2) and net.layer(same).effective_kernel == (5, 5)


def test_dilation_4_no_padding_and_rectangular():
    b = NetworkBuilder("dil", (20, 20, 4))
    # 3x3 dilation 4 spans 9: 20 - 9 + 1 = 12
    x = b.conv(b.input, 4, 3, 1, 0, dilation=4, name="d4")
    # (dh, dw) = (1, 3) on a 3x5 kernel spans 3x13: 20 - 3 + 1 = 18 rows, 20 - 13 + 1 = 8 columns
    y = b.conv(b.input, 4, (3, 5), 1, 0, dilation=(1, 3), name="rect")
    net = b.build()
    assert net.layer(x).out_shape == (12, 12, 4) and net.layer(x).effective_kernel == (9, 9)
    assert net.layer(y).out_shape == (18, 8, 4) and net.layer(y).effective_kernel == (3, 13)


def test_dilation_leaves_macs_and_weights_unchanged():
    b = NetworkBuilder("dil", (17, 17, 16))
    plain = b.conv(b.input, 32, 3, 1, 1, name="plain")
    dil = b.conv(b.input, 32, 3, 1, 2, dilation=2, name="dilated")
    dw = b.conv(b.input, 16, 3, 1, 3, groups=16, dilation=3, name="dw")
    net = b.build()
    p, d = net.layer(plain), net.layer(dil)
    assert p.out_shape == d.out_shape == (17, 17, 32)
    assert d.macs == p.macs == 17 * 17 * 32 * 9 * 16
    assert d.weight_elements == p.weight_elements == 9 * 16 * 32 and d.param_count == p.param_count
    assert net.layer(dw).is_depthwise and net.layer(dw).macs == 17 * 17 * 16 * 9


def test_dilated_pool_shape():
    b = NetworkBuilder("pool", (20, 20, 4))
    y = b.pool(b.input, 3, 1, 0, dilation=2)   # spans 5: 20 - 5 + 1 = 16
    assert b.build().layer(y).out_shape == (16, 16, 4) and b.build().layer(y).dilation == (2, 2)


def test_positional_layer_keeps_defaults():
    layer = Layer("c", "conv", ("input",), (8, 8, 3), (8, 8, 4), (3, 3), (1, 1), (1, 1), 1, False, "relu",
                  "int8", "int8", ())
    assert layer.dilation == (1, 1) and layer.block == "" and layer.effective_kernel == (3, 3)


@pytest.mark.parametrize("dilation", [0, (1, 0), (-2, 2)])
def test_bad_dilation_is_rejected(dilation):
    b = NetworkBuilder("bad", (8, 8, 4))
    with pytest.raises(WorkloadError, match="dilation must be positive"):
        b.conv(b.input, 4, 3, dilation=dilation, name="c")


def test_dilation_that_cannot_be_expressed_names_the_op():
    def conv(shape, **attrs):
        a = dict(out_channels=4, kernel=(3, 3), stride=(1, 1), padding=(0, 0, 0, 0), groups=1, bias=False)
        a.update(attrs)
        return Op("%c", "conv", ("input",), shape, "c", "c (Conv2d)", a)

    # 17 - 5 + 1 = 13 rows; an output of 12 would need end padding -1
    with pytest.raises(WorkloadError, match=r"dilation 2x2 with negative padding.* at c \(Conv2d\)"):
        lower([conv((1, 4, 12, 12), dilation=(2, 2))], (1, 4, 17, 17), ("%c",), "n")
    # an output no end padding can give is a shape mismatch, also named
    with pytest.raises(WorkloadError, match=r"IR shape \(13, 13, 4\).*\(11, 11, 4\) at c \(Conv2d\)"):
        lower([conv((1, 4, 11, 11), dilation=(2, 2))], (1, 4, 17, 17), ("%c",), "n")
    with pytest.raises(WorkloadError, match=r"dilation \(0, 1\).* at c \(Conv2d\)"):
        lower([conv((1, 4, 15, 15), dilation=(0, 1))], (1, 4, 17, 17), ("%c",), "n")
    net = lower([conv((1, 4, 13, 13), dilation=(2, 2))], (1, 4, 17, 17), ("%c",), "n")
    assert net.layers[0].dilation == (2, 2) and net.layers[0].out_shape == (13, 13, 4)


# ------------------------------------------------------------------------------------ importers
def _torch():
    return pytest.importorskip("torch")


def test_torch_dilated_conv_carries_dilation():
    torch = _torch()
    import torch.nn as nn
    import torch.nn.functional as F
    from accelsim.workload.torch_import import from_torch

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(4, 8, 3, padding=2, dilation=2)
            self.b = nn.Conv2d(8, 8, (3, 5), stride=2, padding=(3, 2), dilation=(3, 1))
            self.w = nn.Parameter(torch.zeros(8, 8, 3, 3))

        def forward(self, x):
            y = self.b(self.a(x))
            return F.conv2d(y, self.w, None, 1, 4, 4)

    m = M()
    net = from_torch(m, (4, 33, 30))
    with torch.no_grad():
        ya = m.a(torch.zeros(1, 4, 33, 30))
        yb = m.b(ya)
        yc = m(torch.zeros(1, 4, 33, 30))
    a, b, c = net.layers
    assert a.dilation == (2, 2) and a.out_shape == (ya.shape[2], ya.shape[3], 8) == (33, 30, 8)
    assert b.dilation == (3, 1) and b.out_shape == (yb.shape[2], yb.shape[3], 8)
    assert c.dilation == (4, 4) and c.out_shape == (yc.shape[2], yc.shape[3], 8)
    assert a.macs == 33 * 30 * 8 * 9 * 4


def test_torch_same_padding_and_dilated_max_pool():
    torch = _torch()
    import torch.nn as nn
    from accelsim.workload.torch_import import from_torch
    m = nn.Sequential(nn.Conv2d(4, 4, 4, padding="same", dilation=3), nn.MaxPool2d(3, 2, 1, dilation=2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # torch notes that even-kernel 'same' padding copies the input
        net = from_torch(m, (4, 21, 21))
        with torch.no_grad():
            out = m(torch.zeros(1, 4, 21, 21))
    conv, pool = net.layers
    assert conv.dilation == (3, 3) and conv.out_shape == (21, 21, 4)
    assert conv.padding == (4, 5, 4, 5)   # total 9, the odd pixel at the end, as torch does
    assert pool.op == "pool" and pool.dilation == (2, 2) and pool.out_shape == (out.shape[2], out.shape[3], 4)


def test_onnx_dilated_conv_carries_dilation(tmp_path):
    torch = _torch()
    pytest.importorskip("onnx")
    import torch.nn as nn
    from accelsim.workload.onnx_import import from_onnx
    m = nn.Sequential(nn.Conv2d(4, 8, 3, padding=2, dilation=2), nn.ReLU(),
                      nn.Conv2d(8, 8, 3, padding=4, dilation=4, groups=8)).eval()
    path = tmp_path / "dil.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (torch.zeros(1, 4, 17, 17),), str(path), dynamo=False, opset_version=17)
    net = from_onnx(path)
    assert [(l.dilation, l.out_shape, l.activation) for l in net.layers] == [
        ((2, 2), (17, 17, 8), "relu"), ((4, 4), (17, 17, 8), "")]
    assert net.layers[1].is_depthwise and net.macs == 17 * 17 * 8 * 9 * (4 + 1)


def test_lraspp_carries_dilation_on_its_depthwise_convs():
    _torch()
    from accelsim.workload import load_model
    net = load_model("lraspp_mobilenet_v3")
    dilated = [l for l in net.layers if l.dilation != (1, 1)]
    # the last stage of the dilated MobileNetV3-Large: three depthwise 5x5 convs, stride 1, dilation 2
    assert len(dilated) == 3
    for l in dilated:
        assert l.dilation == (2, 2) and l.is_depthwise and l.kernel == (5, 5) and l.stride == (1, 1)
        assert l.padding == (4, 4) and l.out_shape == l.in_shape == (33, 33, l.in_channels)
        assert l.effective_kernel == (9, 9)
    assert net.macs == 2_086_219_688   # as pinned in test_torch_zoo: dilation adds no MACs
