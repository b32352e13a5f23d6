"""Accuracy signals: the NAS-Bench-201 table, zero-shot proxies against hand-worked values, short
training with early stopping, bad inputs, and the genome's torch module against the IR."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from accelsim.workload.torch_import import from_torch
from accelsim.workload.torch_zoo import NB201Net
from codesign.spaces.nb201 import OPS as NB201_OPS
from codesign.accuracy import (DEFAULT_TABLE, PROXIES, NB201Table, arch_str, flop_count, grad_norm, naswot,
                               op_indices, param_count, reset_parameters, score, score_all, synflow, train_short)
from codesign.errors import CodesignError
from codesign.spaces.space import NetworkGenome, StageGene, build_network
from codesign.accuracy.torch_models import genome_module

# The full source table the packaged npz was made from (experiments/tools/pack_nb201.py), where a
# development checkout has it beside the repository; the provenance check below skips without it.
SOURCE_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "nb201_accuracy.csv"
ARCH0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
ARCH1 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.fixture(scope="module")
def table():
    return NB201Table.load()


def _raises_naming(path, *words):
    """pytest.raises for a CodesignError whose message names ``path`` and each of ``words``."""
    pattern = re.escape(str(path)) + "".join(f"(?=.*{re.escape(w)})" for w in words)
    return pytest.raises(CodesignError, match=pattern)


# ------------------------------------------------------------------------------------ NB201 table
def test_packaged_table_known_rows(table):
    assert DEFAULT_TABLE.is_file() and len(table) == 15625
    # rows 0, 1 and 3 of the source CSV
    assert table.index(ARCH0) == 0 and table.index(ARCH1) == 1
    assert table.accuracy(ARCH1) == pytest.approx(93.66, abs=1e-4)
    assert table.accuracy(ARCH0, "cifar100") == pytest.approx(52.91333329, abs=1e-4)
    assert table.accuracy(ARCH1, "imagenet16_120") == pytest.approx(44.03333332, abs=1e-4)
    assert table.flops[3] == pytest.approx(7.78305, rel=1e-6) and table.params[3] == pytest.approx(0.073306, rel=1e-6)
    assert table.accuracies["cifar10"].max() == pytest.approx(94.37333333, abs=1e-4)   # the published optimum
    assert tuple(table.ops[1]) == (3, 3, 4, 1, 3, 1) == op_indices(ARCH1)
    assert table.accuracy((3, 3, 4, 1, 3, 1)) == table.accuracy(ARCH1)
    assert table.index(["nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3",
                        "skip_connect"]) == 1


def test_arch_string_round_trip(table):
    assert arch_str(op_indices(ARCH0)) == ARCH0
    assert np.array_equal(table.indices(table.ops), np.arange(15625))
    for i in (0, 1, 777, 15624):
        s = table.arch_str(table.ops[i])
        assert op_indices(s) == tuple(table.ops[i]) and table.index(s) == i
    # every op shows up at every edge position
    assert all(set(np.unique(table.ops[:, e])) == set(range(len(NB201_OPS))) for e in range(6))


@pytest.mark.skipif(not SOURCE_CSV.is_file(), reason="source CSV not present")
def test_packaged_table_equals_source_csv(table):
    csv_table = NB201Table.load(SOURCE_CSV)
    assert np.array_equal(csv_table.ops, table.ops)
    for d in table.accuracies:
        assert np.array_equal(csv_table.accuracies[d], table.accuracies[d])
    assert np.array_equal(csv_table.flops, table.flops) and np.array_equal(csv_table.params, table.params)


def test_table_save_load_round_trip(table, tmp_path):
    path = tmp_path / "t.npz"
    table.save(path)
    again = NB201Table.load(path)
    assert np.array_equal(again.ops, table.ops) and np.array_equal(again.accuracies["cifar100"],
                                                                   table.accuracies["cifar100"])


@pytest.mark.parametrize("bad", ["|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "|none~0|", (0, 1, 2),
                                 (0, 1, 2, 3, 4, 5), (0, 0, 0, 0, 0, "conv")])
def test_bad_arch(table, bad):
    with pytest.raises(CodesignError, match="NAS-Bench-201 arch"):
        table.index(bad)


def test_bad_table_files(table, tmp_path):
    with _raises_naming(tmp_path / "nope.npz", "not found"):
        NB201Table.load(tmp_path / "nope.npz")
    junk = tmp_path / "junk.npz"
    junk.write_text("not a zip archive")
    with _raises_naming(junk, "not a readable .npz"):
        NB201Table.load(junk)
    partial = tmp_path / "partial.npz"
    np.savez(partial, format=np.int16(1), op_names=np.array(NB201_OPS), ops=table.ops)
    with _raises_naming(partial, "acc_cifar10"):
        NB201Table.load(partial)
    reordered = tmp_path / "reordered.npz"
    arrays = {f"acc_{d}": a for d, a in table.accuracies.items()}
    np.savez(reordered, format=np.int16(1), op_names=np.array(NB201_OPS[::-1]), ops=table.ops,
             flops_M=table.flops, params_M=table.params, **arrays)
    with _raises_naming(reordered, "op_names"):
        NB201Table.load(reordered)
    repeated = tmp_path / "repeated.npz"
    ops = table.ops.copy()
    ops[1] = ops[0]
    np.savez(repeated, format=np.int16(1), op_names=np.array(NB201_OPS), ops=ops, flops_M=table.flops,
             params_M=table.params, **arrays)
    with _raises_naming(repeated, "exactly once"):
        NB201Table.load(repeated)
    csv = tmp_path / "t.csv"
    csv.write_text("arch_index,cifar10_test_acc\n0,90\n")
    with _raises_naming(csv, "arch_str"):
        NB201Table.load(csv)


# ------------------------------------------------------------------------------------ proxies
def _linear_chain(first, second, hidden_act=nn.ReLU6, bn=False):
    a, b = nn.Linear(len(first[0]), len(first), bias=False), nn.Linear(len(second[0]), len(second), bias=False)
    with torch.no_grad():
        a.weight.copy_(torch.tensor(first, dtype=torch.float32))
        b.weight.copy_(torch.tensor(second, dtype=torch.float32))
    layers = [a]
    if bn:
        norm = nn.BatchNorm1d(len(first))
        with torch.no_grad():   # far from identity, so a BN that were kept would change the score
            norm.weight.fill_(5.0)
            norm.bias.fill_(-3.0)
            norm.running_var.fill_(0.01)
        layers.append(norm)
    return nn.Sequential(*layers, hidden_act(), b)


def test_synflow_by_hand():
    # R = 1' |V| |W| 1: |W| row sums (9, 15, 6, 9), column sums of |V| (1, 4, 3, 1) -> R = 9 + 60 + 18 + 9 = 96.
    # For a bias-free chain each layer's sum of w * dR/dw is R (Euler), so synflow = 2R = 192.
    # The hidden units reach 15 > 6: a ReLU6 left in place would clip them and lower the score.
    W = [[3, -6, 0], [9, 3, -3], [0, 0, 6], [-3, 3, 3]]
    V = [[1, -1, 2, 0], [0, 3, -1, 1]]
    for bn in (False, True):
        model = _linear_chain(W, V, bn=bn)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        assert synflow(model, torch.randn(5, 3)) == pytest.approx(math.log(192.0), abs=1e-12)
        # the caller's model is untouched (signs, dtype, BN)
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
        assert model[0].weight.dtype == torch.float32
    # conv: a 2x2 kernel over a 3x3 all-ones input has 4 positions; R = 4 sum|K| and synflow = R
    conv = nn.Conv2d(1, 2, 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1.0, -2.0], [0.5, 0.0]]], [[[-1.0, 1.0], [1.0, 3.0]]]]))
    assert score(conv, "synflow", torch.zeros(2, 1, 3, 3)) == pytest.approx(math.log(4 * 9.5), abs=1e-12)


def test_synflow_is_float64():
    # two 1x1 layers of weight 1e30: R = 1e60 overflows float32 (max 3.4e38) but not float64
    model = _linear_chain([[1e30]], [[-1e30]], hidden_act=nn.ReLU)
    w = float(np.float32(1e30))
    assert synflow(model, torch.ones(1, 1)) == pytest.approx(math.log(2.0 * w * w), rel=1e-14)


def test_params_and_flops_by_hand():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, 10))
    x = torch.randn(4, 3, 8, 8)
    # conv 3*8*9, BN 2*8, depthwise 8*9 + 8 bias, linear 8*10 + 10
    assert param_count(model) == 216 + 16 + 80 + 90
    # per sample on 8x8: conv 64*27*8, depthwise 64*9*8 + 64*8 bias adds, linear 80 + 10
    assert flop_count(model, x) == 13824 + 4608 + 512 + 90
    assert score(model, "flops", x) == flop_count(model, x[:1])


@pytest.mark.parametrize("index", [0, 1, 3])
def test_baselines_match_nb201_counting(table, index):
    model = NB201Net(table.arch_str(table.ops[index]))
    assert param_count(model) == round(float(table.params[index]) * 1e6)
    assert flop_count(model, torch.zeros(1, 3, 32, 32)) == round(float(table.flops[index]) * 1e6)


def test_naswot_by_hand():
    relu = nn.Sequential(nn.ReLU())   # the codes are the signs of the inputs themselves
    # units agree on 1 of 3 -> K = [[3, 1], [1, 3]], det 8; on 2 of 3 -> [[3, 2], [2, 3]], det 5
    distinct = torch.tensor([[1.0, -1.0, 1.0], [1.0, 1.0, -1.0]])
    similar = torch.tensor([[1.0, -1.0, 1.0], [1.0, -1.0, -1.0]])
    assert naswot(relu, distinct) == pytest.approx(math.log(8.0), abs=1e-12)
    assert naswot(relu, similar) == pytest.approx(math.log(5.0), abs=1e-12)
    assert naswot(relu, torch.ones(2, 3)) == float("-inf")   # identical codes: K singular
    # ReLU6 is hooked too, and K is invariant to the order of the batch and of the units
    x = torch.randn(6, 40, generator=torch.Generator().manual_seed(1))
    model = nn.Sequential(nn.Linear(40, 30), nn.ReLU6())
    base = score(model, "naswot", x)
    assert math.isfinite(base)
    assert score(model, "naswot", x[torch.tensor([3, 0, 5, 1, 4, 2])]) == pytest.approx(base, abs=1e-9)
    with pytest.raises(CodesignError, match="at least 2"):
        score(model, "naswot", x[:1])


def test_grad_norm_by_hand_and_deterministic():
    # zero weights: softmax is uniform, dL/dlogits = (-0.5, 0.5) for label 0, dL/dW = that x (3, 4)'
    lin = nn.Linear(2, 2, bias=False)
    nn.init.zeros_(lin.weight)
    assert grad_norm(lin, torch.tensor([[3.0, 4.0]]), torch.tensor([0])) == pytest.approx(math.sqrt(12.5), rel=1e-6)

    model = reset_parameters(NB201Net(ARCH1, cells=1), 0)
    x = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    model.eval()
    g0 = score(model, "grad_norm", x, seed=0)
    assert g0 > 0 and g0 == score(model, "grad_norm", x, seed=0)
    assert g0 != score(model, "grad_norm", x, seed=1)   # other random labels
    # no side effects: RNG, mode, weights and BN statistics are as before
    assert torch.equal(torch.get_rng_state(), rng) and not model.training
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_score_all_and_errors():
    model = reset_parameters(NB201Net(ARCH1, cells=1), 3)
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    scores = score_all(model, x)
    assert tuple(scores) == PROXIES and all(math.isfinite(v) for v in scores.values())
    assert scores == score_all(reset_parameters(NB201Net(ARCH1, cells=1), 3), x)   # init is a function of the seed
    with pytest.raises(CodesignError, match="snip"):
        score(model, "snip", x)


def test_synflow_of_a_disconnected_cell_is_minus_inf():
    cut = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    model = NB201Net(cut, cells=1)
    assert score(model, "synflow", torch.zeros(2, 3, 16, 16)) == float("-inf")


# ------------------------------------------------------------------------------------ short training
def _separable(n=240, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(2, size=n)
    x = (rng.normal(0.0, 0.3, size=(n, 1, 4, 4)) + np.where(y == 1, 1.0, -1.0)[:, None, None, None])
    return x.astype(np.float32), y


def _tiny_net():
    return reset_parameters(nn.Sequential(nn.Flatten(), nn.Linear(16, 2)), 0)


def test_train_short_learns_and_stops_early(tmp_path):
    x, y = _separable()
    path = tmp_path / "sep.npz"
    np.savez(path, x=x, y=y)
    model = _tiny_net()
    rng = torch.get_rng_state()
    result = train_short(model, path, epochs=40, batch_size=32, lr=0.05, patience=2, device="cpu")
    assert result["best_val_acc"] == 100.0
    assert result["stopped"] == "patience" and result["epochs_run"] == result["best_epoch"] + 2 < 40
    # a few epochs of a 34-parameter model: well under a second, the bound only catches a runaway loop
    assert len(result["history"]) == result["epochs_run"] and result["seconds"] < 20
    assert torch.equal(torch.get_rng_state(), rng)
    # the same data as a torch Dataset, the same seed and init: the same run
    ds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    again = train_short(_tiny_net(), ds, epochs=40, batch_size=32, lr=0.05, patience=2, device="cpu")
    assert [h["val_acc"] for h in again["history"]] == [h["val_acc"] for h in result["history"]]
    assert [h["train_loss"] for h in again["history"]] == [h["train_loss"] for h in result["history"]]
    # the model keeps its best weights and is accurate on all the data
    with torch.no_grad():
        assert (model(torch.from_numpy(x)).argmax(1).numpy() == y).mean() > 0.97
    timed = train_short(_tiny_net(), ds, epochs=40, patience=40, max_minutes=1e-9, device="cpu")
    assert timed["stopped"] == "time" and timed["epochs_run"] == 1


def test_train_short_bad_npz(tmp_path):
    x, y = _separable(20)
    cases = {"no_y.npz": dict(x=x), "no_x.npz": dict(y=y), "flat_x.npz": dict(x=x.reshape(20, 16), y=y),
             "short_y.npz": dict(x=x, y=y[:10]), "float_y.npz": dict(x=x, y=y.astype(np.float32)),
             "int_x.npz": dict(x=(x * 10).astype(np.int64), y=y)}
    expect = {"no_y.npz": "'y'", "no_x.npz": "'x'", "flat_x.npz": "x:", "short_y.npz": "y:", "float_y.npz": "y:",
              "int_x.npz": "x:"}
    for name, arrays in cases.items():
        np.savez(tmp_path / name, **arrays)
        with _raises_naming(tmp_path / name, expect[name]):
            train_short(_tiny_net(), tmp_path / name, device="cpu")
    (tmp_path / "text.npz").write_text("x, y")
    with _raises_naming(tmp_path / "text.npz", "not a readable .npz"):
        train_short(_tiny_net(), tmp_path / "text.npz", device="cpu")
    np.save(tmp_path / "plain.npy", x)
    with _raises_naming(tmp_path / "plain.npy", "not a readable .npz"):
        train_short(_tiny_net(), tmp_path / "plain.npy", device="cpu")
    with _raises_naming(tmp_path / "missing.npz", "not found"):
        train_short(_tiny_net(), tmp_path / "missing.npz", device="cpu")
    np.savez(tmp_path / "labels.npz", x=x, y=y + 5)
    with pytest.raises(CodesignError, match="label 6 does not fit"):
        train_short(_tiny_net(), tmp_path / "labels.npz", device="cpu")
    with pytest.raises(CodesignError, match="patience"):
        train_short(_tiny_net(), tmp_path / "no_y.npz", patience=0)


# ------------------------------------------------------------------------------------ genome module
GENOMES = (
    # every block kind; expansion 1 (an IBN without its expand conv); residual and strided blocks
    NetworkGenome(resolution=64, stem_channels=16, head_channels=320, depth_multiplier=1.0, num_classes=10,
                  stages=(StageGene("ibn", 3, 1, 1, 16, 1), StageGene("fused_ibn", 3, 4, 2, 24, 2),
                          StageGene("ibn", 5, 6, 2, 40, 2), StageGene("ibn", 7, 3, 1, 40, 1))),
    NetworkGenome(resolution=96, stem_channels=24, head_channels=640, depth_multiplier=1.25, num_classes=100,
                  stages=(StageGene("fused_ibn", 5, 1, 1, 16, 1), StageGene("fused_ibn", 3, 3, 2, 32, 2),
                          StageGene("ibn", 3, 4, 3, 48, 2), StageGene("fused_ibn", 7, 6, 1, 64, 2))),
)


@pytest.mark.parametrize("genome", GENOMES)
def test_genome_module_matches_build_network(genome):
    def key(layer):
        return (layer.op, layer.in_shape, layer.out_shape, layer.kernel, layer.stride, layer.groups, layer.bias,
                layer.activation, layer.macs, layer.param_count)

    ir = build_network(genome)
    traced = from_torch(genome_module(genome), (3, genome.resolution, genome.resolution))
    assert [key(layer) for layer in traced.layers] == [key(layer) for layer in ir.layers]
    assert traced.macs == ir.macs and traced.params == ir.params


def test_proxies_score_a_genome_module():
    model = reset_parameters(genome_module(GENOMES[0]), 0)
    scores = score_all(model, torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(0)))
    assert all(math.isfinite(v) for v in scores.values())
    # FLOPs in NB201 counting are the IR's MACs plus the classifier's bias adds (the convs have BN, no bias)
    assert scores["flops"] == build_network(GENOMES[0]).macs + GENOMES[0].num_classes
