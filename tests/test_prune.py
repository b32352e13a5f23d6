"""Network.prune_dead: the graph pass a deployment compiler runs (zero ops, dead layers, duplicates,
constant subgraphs), on hand-built networks, on NAS-Bench-201 cells worked out by hand, and in the CLI.

MACs below are worked out by hand: a conv does H_out * W_out * C_out * k * k * C_in / groups.
"""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.cli import main
from accelsim.errors import WorkloadError
from accelsim.workload.ir import NetworkBuilder
from accelsim.workload.nb201 import nb201_network
from codesign.spaces import nb201 as space


# ------------------------------------------------------------------------------------ toy networks
def test_dead_branch_is_removed_transitively():
    b = NetworkBuilder("toy", (8, 8, 4))
    c1 = b.conv(b.input, 8, 3, name="c1")                 # 8*8*8*9*4  = 18,432 MACs
    d1 = b.conv(c1, 8, 1, name="dead1")                   # 8*8*8*1*8  =  4,096 MACs, feeds only dead2
    b.pool(d1, 2, name="dead2")                           # feeds nothing, not the output
    b.conv(c1, 8, 3, name="c2")                           # 8*8*8*9*8  = 36,864 MACs, the output
    net = b.build()
    assert net.macs == 18_432 + 4_096 + 36_864
    pruned = net.prune_dead()
    assert [l.name for l in pruned.layers] == ["c1", "c2"]
    assert pruned.pruned_layers == 2 and net.pruned_layers == 0
    assert pruned.macs == 18_432 + 36_864
    # the pool is the output when named so: then nothing is dead
    assert net.prune_dead(outputs=["dead2", "c2"]).pruned_layers == 0


def _zero_branch(activation=""):
    b = NetworkBuilder("zero", (8, 8, 4))
    x = b.conv(b.input, 4, 1, name="c")                   # 8*8*4*4 = 1,024 MACs
    z = b.activation(x, "mul_const", name="z", zero=True)     # x * 0
    y = b.conv(z, 4, 3, bias=False, name="cz")            # conv of zeros without a bias: zeros
    r = b.activation(y, "relu", name="r")                  # relu(0) = 0
    s = b.add(x, r, name="s", activation=activation)       # x + 0
    b.conv(s, 4, 1, name="out")                            # 1,024 MACs
    return b.build()


def test_zero_multiply_and_the_add_it_feeds_are_removed():
    net = _zero_branch()
    assert net.macs == 1_024 + 8 * 8 * 4 * 9 * 4 + 1_024
    pruned = net.prune_dead()
    assert [(l.name, l.inputs) for l in pruned.layers] == [("c", ("input",)), ("out", ("c",))]
    assert pruned.pruned_layers == 4 and pruned.macs == 2_048
    # an activation fused into the add stays, as a layer of its own: relu(x + 0) = relu(x)
    fused = _zero_branch("relu").prune_dead()
    assert [(l.name, l.op, l.kind, l.inputs) for l in fused.layers] == [
        ("c", "conv", "", ("input",)), ("s", "act", "relu", ("c",)), ("out", "conv", "", ("s",))]
    assert fused.pruned_layers == 3


def test_a_constant_operand_folds_into_a_bias():
    b = NetworkBuilder("const", (8, 8, 4))
    x = b.conv(b.input, 4, 1, name="c")
    z = b.activation(x, "mul_const", name="z", zero=True)
    k = b.conv(z, 4, 3, name="k")                          # with a bias: a constant, not zero
    g = b.activation(k, "sigmoid", name="g")               # still constant
    m = b.mul(x, g, name="m")                             # a live product with a constant: kept
    b.add(m, k, name="s")                                  # m + constant: the constant is a bias
    pruned = b.build().prune_dead()
    assert [l.name for l in pruned.layers] == ["c", "z", "k", "g", "m"]
    assert pruned.pruned_layers == 1
    # a product with a zero factor is zero, and a network whose output is constant is one trivial layer
    b = NetworkBuilder("all_zero", (8, 8, 4))
    x = b.conv(b.input, 4, 1, name="c")
    b.conv(b.mul(x, b.activation(x, "mul_const", name="z", zero=True), name="m"), 4, 1, name="k")
    pruned = b.build().prune_dead()
    assert [(l.name, l.op, l.kind, l.inputs) for l in pruned.layers] == [("constant", "act", "identity", ("input",))]
    assert pruned.pruned_layers == 3 and pruned.macs == 0


def test_identical_parallel_layers_are_merged():
    b = NetworkBuilder("twins", (8, 8, 4))
    x = b.conv(b.input, 4, 1, name="c")
    left = b.pool(b.activation(x, "relu", name="relu_a"), 3, 1, 1, kind="avg", name="pool_a")
    right = b.pool(b.activation(x, "relu", name="relu_b"), 3, 1, 1, kind="avg", name="pool_b")
    b.add(left, right, name="s")
    pruned = b.build().prune_dead()
    assert [(l.name, l.inputs) for l in pruned.layers] == [
        ("c", ("input",)), ("relu_a", ("c",)), ("pool_a", ("relu_a",)), ("s", ("pool_a", "pool_a"))]
    assert pruned.pruned_layers == 2


def test_identical_convs_merge_only_when_they_share_weights():
    def twins(weights):
        b = NetworkBuilder("convs", (8, 8, 4))
        x = b.conv(b.input, 4, 1, name="c")                                    # 1,024 MACs
        left = b.conv(x, 8, 3, name="left", weights=weights)                  # 8*8*8*9*4 = 18,432 MACs
        right = b.conv(x, 8, 3, name="right", weights=weights)
        b.add(left, right, name="s")
        return b.build()
    shared = twins("w").prune_dead()
    assert [(l.name, l.inputs) for l in shared.layers] == [("c", ("input",)), ("left", ("c",)),
                                                         ("s", ("left", "left"))]
    assert shared.macs == 1_024 + 18_432 and shared.pruned_layers == 1
    # two convs of one input with weights of their own compute different tensors (NB201's parallel edges)
    own = twins("")
    assert own.prune_dead().layers == own.layers and own.prune_dead().macs == 1_024 + 2 * 18_432


def test_unknown_output_is_one_line_error():
    with pytest.raises(WorkloadError, match="network zero: prune_dead output 'nope' is not a layer"):
        _zero_branch().prune_dead(outputs=["nope"])


# ------------------------------------------------------------------------------------ NAS-Bench-201
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
# node 1 is a conv of the input, node 2 zero, node 3 a conv of node 2: BN(conv(ReLU(0))), a constant
CONST_CELL = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|"
# node 2 is zero and feeds nothing live; node 3 = input + conv1x1(ReLU(node 1))
ZERO_NODE = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
# the same cell, except that node 2 is a conv3x3 of the input that reaches no output (dead)
DEAD_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
# stem 3x3 conv 3->16 at 32x32; two reduction blocks of 3x3 s2, 3x3, 1x1 shortcut; linear 64->10
SKELETON_MACS = 32 * 32 * 16 * 9 * 3 + 2 * (16 * 16 * 32 * 9 * 16 + 16 * 16 * 32 * 9 * 32 + 16 * 16 * 32 * 16) + 64 * 10
CELL_CONV3 = 32 * 32 * 16 * 9 * 16     # a cell's 3x3 conv costs the same in all three stages (C doubles, H*W quarters)
CELL_CONV1 = 32 * 32 * 16 * 16


@pytest.mark.parametrize("form", ["traced", "compiled"])
@pytest.mark.parametrize("arch", [ALL_NONE, CONST_CELL])
def test_nb201_constant_cell_folds_the_network(arch, form):
    net = nb201_network(arch, form=form, prune=True)
    assert [l.name for l in net.layers] == ["constant"] and net.macs == 0
    assert net.pruned_layers == len(nb201_network(arch, form=form)) - 1


def test_nb201_zero_node_and_dead_conv_counted_by_hand():
    assert SKELETON_MACS == 7_783_040    # the NB201 minimum (all-skip cells), as test_torch_zoo pins
    # traced form, per cell: ReLU(x), conv3x3 (+BN, + node 1's ReLU fused), x*0, conv1x1 (+BN), add = 5;
    # reduction: ReLU, conv a (+ReLU of b fused), conv b, pool, shortcut conv, add = 6;
    # stem conv 1, head BN, ReLU, pool, linear 4: 1 + 15 * 5 + 2 * 6 + 4 = 92 layers
    written = nb201_network(ZERO_NODE)
    assert len(written) == 92 and written.macs == SKELETON_MACS + 15 * (CELL_CONV3 + CELL_CONV1) == 47_104_640
    pruned = nb201_network(ZERO_NODE, prune=True)
    assert (len(pruned), pruned.pruned_layers, pruned.macs) == (92 - 15, 15, written.macs)   # the x*0 of each cell
    assert not any(l.is_zero for l in pruned.layers)
    # node 2 a dead conv3x3 instead: ReLU(x) is shared, so each cell loses the conv only
    dead = nb201_network(DEAD_CONV)
    assert (len(dead), dead.macs) == (92, 47_104_640 + 15 * CELL_CONV3)
    dead_pruned = nb201_network(DEAD_CONV, prune=True)
    assert (len(dead_pruned), dead_pruned.pruned_layers, dead_pruned.macs) == (77, 15, 47_104_640)
    # compiled form, per cell: ReLU, conv, global pool + x*0 (node 2), ReLU, conv, add = 7 -> 5 pruned
    compiled = nb201_network(ZERO_NODE, form="compiled")
    assert len(compiled) == 1 + 15 * 7 + 2 * 7 + 3
    assert nb201_network(ZERO_NODE, form="compiled", prune=True).pruned_layers == 15 * 2


def _random_archs(n, seed=0):
    rng = np.random.default_rng(seed)
    return [space.arch_str(rng.integers(0, len(space.OPS), 6)) for _ in range(n)]


def test_nb201_pruning_keeps_exactly_the_live_edges_on_200_archs():
    """The general pass against the special case it replaced (``live_edges``): the pruned compiled network
    has exactly the convs of the live edges, in order, with the same MACs, and folds exactly the cells
    that ``live_edges`` calls constant."""
    conv_key = (lambda l: (l.name, l.kernel, l.stride, l.in_shape, l.out_shape))
    for arch in _random_archs(200):
        live, constant = space.live_edges(space.parse_cell(arch))
        pruned = space.compiled_network(arch, prune=True)
        if constant:
            assert [l.name for l in pruned.layers] == ["constant"], arch
            continue
        kept = {(op, i, j) for j, node in enumerate(live, start=1) for op, i in node}
        only_live = space.arch_str([op if (op, i, j) in kept else "none"
                                    for j, node in enumerate(space.parse_cell(arch), start=1) for op, i in node])
        reference = space.compiled_network(only_live)    # the graph as written with only the live edges
        assert pruned.macs == reference.macs and pruned.params == reference.params, arch
        assert [conv_key(l) for l in pruned.layers if l.op == "conv"] == \
            [conv_key(l) for l in reference.layers if l.op == "conv"], arch


@pytest.mark.parametrize("form", ["traced", "compiled"])
def test_pruning_never_adds_work_and_is_idempotent(form):
    for arch in _random_archs(100, seed=1):
        net = nb201_network(arch, form=form)
        once = net.prune_dead()
        assert once.macs <= net.macs and len(once) <= len(net), arch
        assert once.pruned_layers == len(net) - len(once)
        twice = once.prune_dead()
        assert twice.layers == once.layers and twice.pruned_layers == once.pruned_layers, arch


# ------------------------------------------------------------------------------------ importer, CLI
def test_torch_import_prunes_a_dead_module_and_a_zero_product():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(3, 8, 1), nn.Conv2d(3, 8, 1)

        def forward(self, x):
            self.c(x)                        # traced, its result never used
            return self.a(x) + self.b(x) * 0.0

    from accelsim.workload.torch_import import from_torch
    written = from_torch(Net(), (3, 8, 8), prune=False)
    assert [l.name for l in written.layers] == ["c", "a", "b", "mul", "add"]
    pruned = from_torch(Net(), (3, 8, 8))
    assert [l.name for l in pruned.layers] == ["a"] and pruned.pruned_layers == 4
    assert pruned.macs == 8 * 8 * 8 * 9 * 3


def test_cli_reports_pruned_layers(capsys):
    assert main(["simulate", "--hw", "neural_engine", "--model", "nb201", "--option", f"arch={ZERO_NODE}"]) == 0
    assert "nb201: pruned 15 layers" in capsys.readouterr().out
    assert main(["simulate", "--hw", "neural_engine", "--model", "nb201", "--option", f"arch={ZERO_NODE}",
                 "--option", "prune=false"]) == 0
    assert "pruned" not in capsys.readouterr().out


def test_cli_bad_prune_option(capsys):
    assert main(["simulate", "--hw", "neural_engine", "--model", "nb201", "--option", "prune=maybe"]) != 0
    err = capsys.readouterr().err
    assert "--option prune=maybe: expected true or false" in err and "Traceback" not in err


def test_activations_with_parameters_are_not_merged():
    b = NetworkBuilder("bn", (8, 8, 4))
    x = b.conv(b.input, 4, 1, name="c")
    b.add(b.activation(x, "batchnorm", name="bn_a"), b.activation(x, "batchnorm", name="bn_b"), name="s")
    net = b.build()
    assert net.prune_dead().layers == net.layers      # two batch norms of x: different scales and shifts


def test_nb201_eager_graph_counted_by_hand():
    """The eager form of one cell: 2 conv edges x (ReLU, conv, batch norm) + 2 'none' multiplies + 1 pool
    + sums of 1, 2 and 3 edges (an add of 0, then one add per further edge: 6) = 15 layers; 15 cells, a
    stem of 2, two reductions of 9 and a head of 4 make 249. The convs are the compiled form's."""
    arch = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"
    eager = nb201_network(arch, form="eager")
    cell = [layer for layer in eager.layers if layer.name.startswith("cells.0.")]
    kinds = sorted(dict(layer.attrs).get("kind", layer.op) for layer in cell)
    assert kinds == sorted(["relu", "conv", "batchnorm"] * 2 + ["mul_const"] * 2 + ["avg"]
                           + ["add_const"] * 3 + ["add"] * 3)
    assert len(eager.layers) == 15 * 15 + 2 + 2 * 9 + 4 == 249
    assert eager.macs == nb201_network(arch, form="compiled").macs
    # an all-'none' cell keeps its multiplies: eager frameworks prune nothing
    zero = nb201_network("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", form="eager")
    assert sum(dict(layer.attrs).get("kind") == "mul_const" for layer in zero.layers) == 6 * 15
    with pytest.raises(WorkloadError, match="expected one of traced, compiled, eager"):
        nb201_network(arch, form="jit")
