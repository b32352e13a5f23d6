"""Network IR: shape inference, MobileNetV2 against published counts, tensor lifetimes, topology CSVs."""

from __future__ import annotations

import pytest

from accelsim.errors import WorkloadError
from accelsim.workload import NetworkBuilder, load_model, load_topology
from accelsim.workload.zoo import make_divisible


def test_mobilenet_v2_matches_published_counts():
    net = load_model("mobilenet_v2")
    # Sandler et al. 2018 / the TF-slim table: 300 M MACs, 3.47 M parameters (weights + biases).
    assert net.macs == pytest.approx(300e6, rel=0.02)
    assert net.macs == 300_774_272
    assert net.params == pytest.approx(3.47e6, rel=0.02)
    weights = sum(l.weight_elements for l in net.layers)
    assert weights == 3_469_760  # conv + FC weights alone


@pytest.mark.parametrize("width,resolution,macs_m,params_m", [
    (0.5, 224, 97, 1.95), (0.75, 224, 209, 2.61), (1.4, 224, 582, 6.06), (1.0, 160, 154, 3.47),
])
def test_mobilenet_v2_width_and_resolution(width, resolution, macs_m, params_m):
    # The published table of MobileNetV2 variants (TF-slim): MACs and parameters in millions.
    net = load_model("mobilenet_v2", width=width, resolution=resolution)
    assert net.macs / 1e6 == pytest.approx(macs_m, rel=0.02)
    assert net.params / 1e6 == pytest.approx(params_m, rel=0.02)


def test_make_divisible():
    assert [make_divisible(v) for v in (32 * 0.35, 16 * 0.5, 24 * 1.4, 1280 * 1.4)] == [16, 8, 32, 1792]


def test_shapes_follow_conv_arithmetic():
    b = NetworkBuilder("t", (224, 224, 3))
    x = b.conv(b.input, 32, 3, 2)                  # 'same' padding, stride 2 -> 112
    y = b.conv(x, 32, 5, 1, padding=0)             # valid -> 108
    z = b.pool(y, 3, 2)                            # floor((108 - 3) / 2) + 1 = 53
    g = b.global_avg_pool(z)
    f = b.linear(g, 10)
    net = b.build()
    assert [l.out_shape for l in net.layers] == [(112, 112, 32), (108, 108, 32), (53, 53, 32), (1, 1, 32),
                                                 (1, 1, 10)]
    assert net.layer(f).macs == 320 and net.layer(f).param_count == 330


def test_ibn_and_fused_ibn_structure():
    b = NetworkBuilder("blocks", (56, 56, 24))
    x = b.ibn(b.input, 24, expansion=6, kernel=5, name="a")
    b.fused_ibn(x, 32, expansion=4, kernel=3, stride=2, name="f")
    net = b.build()
    ops = [(l.name, l.op, l.kernel, l.groups, l.out_shape) for l in net.layers]
    assert ops == [("a.expand", "conv", (1, 1), 1, (56, 56, 144)), ("a.dw", "conv", (5, 5), 144, (56, 56, 144)),
                   ("a.project", "conv", (1, 1), 1, (56, 56, 24)), ("a.add", "add", (1, 1), 1, (56, 56, 24)),
                   ("f.expand", "conv", (3, 3), 1, (28, 28, 96)), ("f.project", "conv", (1, 1), 1, (28, 28, 32))]
    assert net.layer("a.dw").is_depthwise
    # fused-IBN expand: 28*28*96 outputs x 3*3*24 taps
    assert net.layer("f.expand").macs == 28 * 28 * 96 * 9 * 24


def test_peak_activation_from_lifetimes():
    # input 10x10x4 (400 B) -> a (10x10x8, 800 B) -> b (10x10x4, 400 B) -> add(input, b)
    b = NetworkBuilder("res", (10, 10, 4))
    a = b.conv(b.input, 8, 1)
    c = b.conv(a, 4, 1)
    b.add(b.input, c)
    net = b.build()
    # While running conv a: input (kept for the residual) + a = 1200. While running c: input + a + c = 1600.
    # While running add: input + c + out = 1200.
    assert net.peak_activation_bytes == 1600
    assert net.with_precision("int16").peak_activation_bytes == 3200
    assert net.param_bytes == (4 * 8 + 8) + (8 * 4 + 4)


def test_builder_errors():
    b = NetworkBuilder("bad", (8, 8, 6))
    with pytest.raises(WorkloadError, match="not divisible by groups=4"):
        b.conv(b.input, 8, 3, groups=4)
    with pytest.raises(WorkloadError, match="empty output"):
        b.conv(b.input, 8, 11, padding=0)
    with pytest.raises(WorkloadError, match="add needs >= 2 inputs of one shape"):
        b.add(b.input, b.conv(b.input, 3, 1))
    with pytest.raises(WorkloadError, match="unknown precision 'int3'"):
        NetworkBuilder("p", (8, 8, 3), precision="int3")
    with pytest.raises(WorkloadError, match="unknown model"):
        load_model("no_such_net")
    with pytest.raises(WorkloadError, match="unknown option 'depth'"):
        load_model("mobilenet_v2", depth=3)


TOPOLOGY = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
Conv1, 224, 224, 3, 3, 3, 32, 2,
Conv2, 112, 112, 1, 1, 32, 64, 1,
FC, 1, 1, 1, 1, 1024, 1000, 1,
"""


def test_topology_reader_uses_scalesim_output_size(tmp_path):
    p = tmp_path / "net.csv"
    p.write_text(TOPOLOGY)
    net = load_topology(p)
    # SCALE-Sim: ceil((224 - 3) / 2) + 1 = 112, no padding
    assert [l.out_shape for l in net.layers] == [(112, 112, 32), (112, 112, 64), (1, 1, 1000)]
    assert net.layers[0].macs == 112 * 112 * 32 * 27


@pytest.mark.parametrize("text,message", [
    ("a,b,c\n1,2,3\n", "row 1: expected header"),
    (TOPOLOGY.replace("Conv2, 112, 112, 1, 1, 32, 64, 1,", "Conv2, 112, 112, 1, 1, 32, 64,"),
     "row 3: expected 8 columns"),
    (TOPOLOGY.replace("Conv2, 112, 112, 1, 1, 32, 64, 1,", "Conv2, 112, x, 1, 1, 32, 64, 1,"),
     r"row 3 \(Conv2\): expected 7 integers"),
    (TOPOLOGY.replace("Conv2, 112, 112, 1, 1, 32, 64, 1,", "Conv2, 112, 112, 1, 1, 0, 64, 1,"),
     r"row 3 \(Conv2\): Channels must be positive"),
    (TOPOLOGY.replace("Conv2, 112, 112, 1, 1, 32, 64, 1,", "Conv1, 112, 112, 1, 1, 32, 64, 1,"),
     "row 3: layer name 'Conv1' is empty or repeated"),
    (TOPOLOGY.replace("FC, 1, 1, 1, 1,", "FC, 1, 1, 3, 3,"), "filter 3x3 is larger than the ifmap 1x1"),
    (TOPOLOGY.replace("Conv2, 112, 112, 1, 1, 32, 64, 1,", "Conv2, 112, 112, 1, 1, 32, 64, 1, 2:4,"),
     r"row 3 \(Conv2\): sparsity ratio '2:4' given, but sparsity is not modelled"),
])
def test_topology_errors_name_the_row(tmp_path, text, message):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(WorkloadError, match=message):
        load_topology(p)
