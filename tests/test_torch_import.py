"""torch.fx importer: op coverage, folding/fusion rules, the genome fast path, and bad models."""

from __future__ import annotations


import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from accelsim.errors import WorkloadError  # noqa: E402
from accelsim.workload import NetworkBuilder  # noqa: E402
from accelsim.workload.torch_import import SUPPORTED_OPS, from_torch  # noqa: E402
from accelsim.workload.torch_zoo import InvertedResidual  # noqa: E402


def key(layer):
    return (layer.op, layer.in_shape, layer.out_shape, layer.kernel, layer.stride, layer.groups, layer.macs)


def compute_layers(net):
    """Layers other than free reshapes."""
    return [l for l in net.layers if dict(l.attrs).get("kind") != "reshape"]


# ---- folding and fusion --------------------------------------------------------------------------
def test_conv_bn_relu_folds_into_one_layer():
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU6())
    net = from_torch(m, (3, 32, 32), name="cbr")
    assert [(l.name, l.op, l.out_shape, l.bias, l.activation) for l in net.layers] == \
        [("0", "conv", (32, 32, 8), True, "relu6")]
    assert net.params == 3 * 9 * 8 + 8 and net.macs == 32 * 32 * 8 * 27


def test_activation_with_two_consumers_stays_standalone():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 1)
            self.act = nn.Hardswish()

        def forward(self, x):
            y = self.conv(x)
            return self.act(y) + y

    net = from_torch(M(), (4, 8, 8))
    assert [(l.op, l.activation, dict(l.attrs).get("kind")) for l in net.layers] == \
        [("conv", "", None), ("act", "", "hardswish"), ("add", "", None)]


def test_batchnorm_without_a_conv_before_it_is_a_vector_layer():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
            self.bn, self.relu = nn.BatchNorm2d(4), nn.ReLU()

        def forward(self, x):
            return self.relu(self.bn(self.a(x) + self.b(x)))

    net = from_torch(M(), (4, 8, 8))
    assert [(l.op, dict(l.attrs).get("kind"), l.activation) for l in net.layers] == \
        [("conv", None, ""), ("conv", None, ""), ("add", None, ""), ("act", "batchnorm", ""), ("act", "relu", "")]


def test_residual_relu_fuses_into_the_add():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.relu = nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()

        def forward(self, x):
            return self.relu(self.conv(x) + x)

    net = from_torch(M(), (4, 8, 8))
    assert [(l.op, l.activation) for l in net.layers] == [("conv", ""), ("add", "relu")]


def test_functional_ops_and_free_views():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(8, 4, 3, 3))
            self.fc = nn.Linear(8 * 4 * 4, 10)

        def forward(self, x):
            y = F.relu(F.conv2d(x, self.w, None, 1, 1))
            y = F.max_pool2d(y, 2)
            y = torch.sigmoid(y) * 2.0 - 1.0
            y = y.view(y.size(0), -1)
            return F.dropout(self.fc(y), 0.5, training=False)

    net = from_torch(M(), (4, 8, 8))
    ops = [(l.op, dict(l.attrs).get("kind"), l.activation) for l in net.layers]
    assert ops == [("conv", None, "relu"), ("pool", "max", ""), ("act", "sigmoid", ""), ("act", "mul_const", ""),
                   ("act", "sub_const", ""), ("concat", "reshape", ""), ("conv", None, "")]
    assert net.layers[-1].in_shape == (1, 1, 128) and net.layers[-1].out_shape == (1, 1, 10)
    assert not net.layers[0].bias and net.layers[-1].bias


def test_pools_concat_upsample():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 6, 1)
            self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.avg = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
            self.up = nn.Upsample(scale_factor=2, mode="bilinear")

        def forward(self, x):
            y = torch.cat([self.a(x), self.b(x)], dim=1)               # 10 channels
            p = self.pool(y)                                           # ceil((15-3)/2)+1 = 7
            q = F.adaptive_avg_pool2d(self.avg(p), (7, 7))
            return F.interpolate(self.up(q), size=(20, 20), mode="nearest")

    net = from_torch(M(), (3, 15, 15))
    shapes = [(l.op, l.out_shape) for l in net.layers]
    assert shapes == [("conv", (15, 15, 4)), ("conv", (15, 15, 6)), ("concat", (15, 15, 10)), ("pool", (7, 7, 10)),
                      ("pool", (7, 7, 10)), ("pool", (7, 7, 10)), ("upsample", (14, 14, 10)),
                      ("upsample", (20, 20, 10))]
    assert [dict(l.attrs).get("mode") for l in net.layers[-2:]] == ["bilinear", "nearest"]
    assert net.layers[-2].kernel == (2, 2) and net.layers[-1].kernel == (1, 1)


def test_grouped_dilated_and_padded_convs():
    m = nn.Sequential(nn.ZeroPad2d((1, 2, 4, 5)), nn.Conv2d(4, 8, (10, 4), (2, 1)),
                      nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4),
                      nn.Conv2d(8, 8, 3, padding=1, groups=8))
    net = from_torch(m, (4, 49, 10))
    a, b, c = net.layers
    assert a.out_shape == (25, 10, 8) and a.padding == (4, 5, 1, 2)
    # dilation keeps the MACs of a plain 3x3 conv with the same output
    assert b.out_shape == (25, 10, 8) and b.kernel == (3, 3) and b.groups == 4 and b.macs == 25 * 10 * 8 * 9 * 2
    assert b.dilation == (2, 2) and b.padding == (2, 2) and b.effective_kernel == (5, 5)
    assert c.is_depthwise and c.macs == 25 * 10 * 8 * 9


def test_transposed_conv_bn_relu_imports_as_one_layer():
    m = nn.Sequential(nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1, bias=False),
                      nn.BatchNorm2d(4), nn.ReLU(), nn.ConvTranspose2d(4, 4, 2, stride=2, groups=4))
    m.eval()
    net = from_torch(m, (8, 5, 6), name="up")
    assert [(l.op, l.in_shape, l.out_shape, l.kernel, l.stride, l.padding, l.groups, l.bias, l.activation)
            for l in net.layers] == [
        ("conv_transpose", (5, 6, 8), (10, 12, 4), (3, 3), (2, 2), (1, 1), 1, True, "relu"),
        ("conv_transpose", (10, 12, 4), (20, 24, 4), (2, 2), (2, 2), (0, 0), 4, True, "")]
    # useful MACs: rows 2 + 3 * 4 = 14 (input, tap) pairs, columns 2 + 3 * 5 = 17; then 2x2 stride 2
    # meets every output pixel exactly once, one input channel per group
    assert [l.macs for l in net.layers] == [14 * 17 * 8 * 4, 20 * 24 * 4]
    assert net.params == 8 * 4 * 9 + 4 + 4 * 4 + 4


def test_squeeze_excite_gate_is_a_broadcast_mul():
    from accelsim.workload.torch_zoo import SqueezeExcite
    net = from_torch(SqueezeExcite(16, 4, gate=nn.Hardsigmoid), (16, 7, 7))
    assert [(l.op, l.out_shape, l.activation) for l in net.layers] == [
        ("pool", (1, 1, 16), ""), ("conv", (1, 1, 4), "relu"), ("conv", (1, 1, 16), "hardsigmoid"),
        ("add", (7, 7, 16), "")]
    assert dict(net.layers[-1].attrs)["kind"] == "mul"


def test_attention_becomes_batched_matmuls():
    from accelsim.workload.torch_zoo import Attention

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Conv2d(3, 32, 4, 4)
            self.attn = Attention(32, 4)

        def forward(self, x):
            t = self.embed(x).flatten(2).transpose(1, 2)      # (1, 16, 32)
            return self.attn(t).mean(dim=1)

    net = from_torch(M(), (3, 16, 16))
    mm = [l for l in net.layers if l.op == "matmul"]
    assert [(l.in_shape, l.out_shape, l.macs) for l in mm] == [((16, 4, 8), (16, 4, 16), 16 * 4 * 16 * 8),
                                                               ((16, 4, 16), (16, 4, 8), 16 * 4 * 8 * 16)]
    linears = [l for l in net.layers if l.op == "conv" and l.kernel == (1, 1)]
    assert [l.in_shape for l in linears] == [(16, 1, 32)] * 4
    assert net.layers[-1].op == "pool" and net.layers[-1].out_shape == (1, 1, 32)
    assert any(dict(l.attrs).get("kind") == "softmax" for l in net.layers)


def test_matmul_with_a_parameter_is_a_linear_layer_and_bmm_works():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(6, 5))

        def forward(self, x):          # x: (1, 4, 6)
            y = x @ self.w             # (1, 4, 5)
            return torch.bmm(y.transpose(1, 2), y)   # (1, 5, 5)

    net = from_torch(M(), (1, 4, 6), batched=True)
    assert [(l.op, l.in_shape, l.out_shape, l.bias) for l in compute_layers(net)] == [
        ("conv", (4, 1, 6), (4, 1, 5), False), ("matmul", (5, 1, 4), (5, 1, 5), False)]


def test_multiple_outputs_and_training_mode_is_restored():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
            self.head = nn.Conv2d(4, 2, 1)

        def forward(self, x):
            y = self.conv(x)
            return y, self.head(y)

    m = M().train()
    net = from_torch(m, (1, 3, 8, 8))
    assert m.training and m.conv[1].training
    assert [l.op for l in net.layers] == ["conv", "conv"] and net.layers[0].bias


def test_precision_is_applied():
    net = from_torch(nn.Conv2d(3, 4, 3), (3, 8, 8), precision="int16")
    assert net.precisions_used() == {"int16"}


# ---- the genome fast path against the traced module ---------------------------------------------------
def random_stack(rng):
    blocks, c = [], int(rng.choice([8, 16, 24]))
    res = int(rng.choice([16, 28, 32]))
    for _ in range(int(rng.integers(2, 7))):
        blocks.append(dict(fused=bool(rng.integers(2)), out=int(rng.choice([8, 16, 24, 32, c])),
                           expansion=float(rng.choice([1, 3, 4, 6])), kernel=int(rng.choice([3, 5, 7])),
                           stride=int(rng.choice([1, 1, 2]))))
    return res, c, blocks


def build_fast(res, c, blocks):
    b = NetworkBuilder("genome", (res, res, c))
    x = b.input
    for i, blk in enumerate(blocks):
        f = b.fused_ibn if blk["fused"] else b.ibn
        x = f(x, blk["out"], blk["expansion"], blk["kernel"], blk["stride"], name=f"b{i}")
    return b.build()


def build_torch(res, c, blocks):
    layers = []
    for blk in blocks:
        mid = int(round(c * blk["expansion"]))
        layers.append(InvertedResidual(c, blk["out"], blk["kernel"], blk["stride"], mid, act=nn.ReLU6,
                                       fused=blk["fused"]))
        c = blk["out"]
    return nn.Sequential(*layers)


def test_genome_fast_path_agrees_with_fx_layer_by_layer():
    rng = np.random.default_rng(2024)
    for _ in range(12):
        res, c, blocks = random_stack(rng)
        fast = build_fast(res, c, blocks)
        traced = from_torch(build_torch(res, c, blocks), (c, res, res))
        full = [(key(l), l.bias, l.activation) for l in fast.layers]
        assert full == [(key(l), l.bias, l.activation) for l in traced.layers], blocks
        assert (fast.macs, fast.params) == (traced.macs, traced.params)


# ---- bad models ------------------------------------------------------------------------------
class FFT(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return torch.fft.fft(self.conv(x)).real


class Branchy(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x
        return -x


class Doubler(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2


class UsesFunction(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return Doubler.apply(self.conv(x))


class Sliced(nn.Module):
    def forward(self, x):
        return x[:, :2]


class FloorDiv(nn.Module):
    def forward(self, x):
        return x // 2


@pytest.mark.parametrize("module,shape,message", [
    (nn.Sequential(nn.Conv2d(3, 4, 1), FFT()), (3, 8, 8), r"unsupported op torch\.fft\.fft at 1 \(FFT\)"),
    (nn.Sequential(nn.Conv2d(3, 4, 1), nn.Sequential(nn.ReLU(), Branchy())), (3, 8, 8),
     r"cannot trace the module \(TraceError: symbolically traced variables cannot be used as inputs to control "
     r"flow\) at 1\.1 \(Branchy\)"),
    (nn.Sequential(nn.ReLU(), UsesFunction()), (3, 8, 8),
     r"unsupported op custom autograd\.Function Doubler at 1 \(UsesFunction\)"),
    (nn.Sequential(nn.LSTM(8, 8)), (1, 1, 4, 8), r"unsupported op nn\.LSTM at 0 \(LSTM\)"),
    (nn.Sequential(nn.Conv2d(3, 4, 1), Sliced()), (3, 8, 8), r"tensor indexing/slicing .* at 1 \(Sliced\)"),
    (nn.Sequential(nn.Conv2d(3, 4, 1), FloorDiv()), (3, 8, 8), r"unsupported op .*floordiv on a tensor at 1 "),
])
def test_bad_models_name_the_op_and_the_module_path(module, shape, message):
    with pytest.raises(WorkloadError, match=message) as info:
        from_torch(module, shape)
    text = str(info.value)
    assert "\n" not in text and text.endswith(SUPPORTED_OPS)


def test_autograd_functions_work_again_after_tracing():
    with pytest.raises(WorkloadError):
        from_torch(UsesFunction(), (3, 8, 8))
    assert Doubler.apply(torch.ones(2)).tolist() == [2.0, 2.0]


def test_forward_failure_and_bad_arguments():
    with pytest.raises(WorkloadError, match=r"forward on a zero input of shape \(1, 3, 8, 8\) failed at .*"
                                            r"RuntimeError: .*channels"):
        from_torch(nn.Conv2d(4, 4, 3), (3, 8, 8))
    with pytest.raises(WorkloadError, match="batch"):
        from_torch(nn.Conv2d(3, 4, 3), (2, 3, 8, 8))
    with pytest.raises(WorkloadError, match="expected a torch.nn.Module"):
        from_torch(lambda x: x, (3, 8, 8))


class ChannelMeanAdd(nn.Module):
    def forward(self, x):
        return x + x.mean(dim=1, keepdim=True)


def test_unsupported_broadcast_is_an_error():
    with pytest.raises(WorkloadError, match=r"add broadcasting \(1, 3, 8, 8\) with \(1, 1, 8, 8\) at <root> "
                                            r"\(ChannelMeanAdd\); supported ops: Conv2d"):
        from_torch(ChannelMeanAdd(), (3, 8, 8))
    with pytest.raises(WorkloadError, match=r"upsample mode 'bicubic' .* at 0 \(Upsample\); supported ops"):
        from_torch(nn.Sequential(nn.Upsample(scale_factor=2, mode="bicubic")), (3, 8, 8))


def test_lazy_package_attributes():
    import accelsim.workload as w
    assert w.from_torch is from_torch
    assert w.from_onnx.__module__ == "accelsim.workload.onnx_import"
