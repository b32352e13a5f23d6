"""The rows fast path (accelsim.workload.packed, codesign.spaces.space.packed_network) equals the
Layer path field for field: layer table, MACs, parameters, memory figures and simulated results, on
random genomes of every network space (classifiers, task heads, product models with their transforms)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import accelsim
from accelsim.config import load_hardware
from accelsim.engine import memory_figures
from accelsim.engine.tables import pack_network
from accelsim.errors import MappingError, WorkloadError
from accelsim.workload.arena import padded_param_bytes, plan_arena
from accelsim.workload.ir import NetworkBuilder
from accelsim.workload.packed import PackedNetwork, RowBuilder
from codesign.search import problems as P
from codesign.search.algorithms import random_genome
from codesign.spaces import space as S
from codesign.spaces.model_space import model_space_from_dict
from codesign.spaces.space import NetworkGenome, NetworkSpace, build_network, packed_network
from codesign.spaces.zoo_genomes import ZOO_GENOMES, zoo_genome

HW = [load_hardware("neural_engine"), load_hardware("eyeriss_like"), load_hardware("camera_like")]


def assert_same(genome: NetworkGenome, hws=HW) -> None:
    net = build_network(genome, name="n")
    rows = packed_network(genome, name="n")
    assert rows.n_layers == len(net.layers)
    np.testing.assert_array_equal(rows.lay, pack_network(net))
    assert (rows.macs, rows.params) == (net.macs, net.params)
    for hw in hws:
        assert memory_figures(rows, hw) == memory_figures(net, hw)


def _space_genomes(space: NetworkSpace, n: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


@pytest.mark.parametrize("heads", [("classifier",), ("ssdlite", "lraspp", "deeplabv3")])
def test_random_genomes_of_the_network_space_pack_equal(heads):
    S.clear_caches()
    space = NetworkSpace(heads=heads, output_strides=(8, 16, 32), stage_precisions=("int8", "int16", "fp16"),
                         kernels=(3, 5, 7), expansions=(1, 2.5, 3, 6), resolutions=(96, 128, 160, 224, 257))
    for g in _space_genomes(space, 40, seed=len(heads)):
        assert_same(g)


def test_genomes_with_squeeze_excite_activations_dilation_and_hidden_layers_pack_equal():
    rng = np.random.default_rng(5)
    for name in ZOO_GENOMES:
        g = zoo_genome(name)
        assert_same(g)
        # every stage's se, activation and block drawn at random, a hidden classifier layer, no head conv
        stages = tuple(dataclasses.replace(s, se=str(rng.choice(["", "mobilenet_v3", "efficientnet"])),
                                           activation=str(rng.choice(["", "relu", "hardswish", "silu"])),
                                           block=str(rng.choice(["ibn", "fused_ibn"])),
                                           expansion=float(rng.choice([1, 2.5, 4])))
                       for s in g.stages)
        extra = {} if g.head is not None else {"classifier_hidden": 96}
        assert_same(dataclasses.replace(g, stages=stages, head_channels=int(rng.choice([0, 320])), **extra))


def test_product_model_space_designs_pack_equal_through_their_transforms():
    for model in ("mobilenet_v3_large", "ssdlite_mobilenet_v2", "deeplabv3_mobilenet_v2"):
        space = model_space_from_dict({"type": "from_model", "model": model, "search": {
            "block": ["ibn", "fused_ibn"], "width_multiplier": [0.5, 0.75, 1.0], "depth_multiplier": [0.5, 1.0, 1.5],
            "channel_multiple": [1, 8, 16], "resolution": [160, 224]}})
        axis = P.ModelAxis(space)
        rng = np.random.default_rng(3)
        for _ in range(12):
            assert_same(axis.genome(random_genome(axis.choices, rng)), HW[:1])


def _assert_same_rows(got: PackedNetwork, want: PackedNetwork) -> None:
    assert (got.name, got.input_shape, got.input_precision) == (want.name, want.input_shape, want.input_precision)
    for field in ("table", "offsets", "in_ptr", "lay"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)
    assert (got.macs, got.params) == (want.macs, want.params)
    for hw in HW:
        assert memory_figures(got, hw) == memory_figures(want, hw)


def test_a_batch_of_genomes_packs_equal_to_each_genome_on_its_own():
    """packed_networks builds the classifiers of a batch in one compiled call (stems, stages, heads,
    hidden layers, stage precisions, squeeze-excite, expansions 2.5, depth multipliers) and the task
    heads one by one: each network equal to packed_network's, in the batch's order."""
    rng = np.random.default_rng(21)
    space = NetworkSpace(heads=("classifier", "ssdlite", "deeplabv3"), stage_precisions=("int8", "int16", "fp16"),
                         kernels=(3, 5, 7), expansions=(1, 2.5, 3, 6), resolutions=(32, 96, 160, 257),
                         depth_multipliers=(0.5, 1.0, 1.4))
    genomes = _space_genomes(space, 60, seed=21)
    for name in ZOO_GENOMES:
        g = zoo_genome(name)
        stages = tuple(dataclasses.replace(s, se=str(rng.choice(["", "mobilenet_v3", "efficientnet"])),
                                           expansion=float(rng.choice([1, 2.5, 4]))) for s in g.stages)
        genomes += [g, dataclasses.replace(g, stages=stages, head_channels=int(rng.choice([0, 320])),
                                           **({} if g.head is not None else {"classifier_hidden": 96}))]
    assert sum(g.head is None for g in genomes) > 30 and sum(g.head is not None for g in genomes) > 30
    names = [f"n{i}" for i in range(len(genomes))]
    for got, g, name in zip(S.packed_networks(genomes, names), genomes, names):
        _assert_same_rows(got, packed_network(g, name))
    assert [n.name for n in S.packed_networks(genomes[:3])] == [f"net-{g.key()}" for g in genomes[:3]]


def test_a_batch_member_above_the_limits_fails_as_it_does_on_its_own():
    g = NetworkSpace().sample(np.random.default_rng(0))
    bad = dataclasses.replace(g, stem_channels=2 ** 21)
    with pytest.raises(WorkloadError) as want:
        packed_network(bad, "b")
    with pytest.raises(WorkloadError) as got:
        S.packed_networks([g, bad, g], ["a", "b", "c"])
    assert str(got.value) == str(want.value) and "above the size limits" in str(got.value)


def test_simulated_results_of_rows_equal_the_network_path_and_reports_ask_for_the_network():
    rng = np.random.default_rng(11)
    space = NetworkSpace(heads=("classifier", "ssdlite", "lraspp"))
    genomes = _space_genomes(space, 12, seed=11)
    hws = [HW[int(i)] for i in rng.integers(0, len(HW), len(genomes))]
    a = accelsim.simulate_many([build_network(g, "n") for g in genomes], hws, pairs=True)
    b = accelsim.simulate_many([packed_network(g, "n") for g in genomes], hws, pairs=True)
    np.testing.assert_array_equal(a.per_layer, b.per_layer)
    np.testing.assert_array_equal(a.latency_ms, b.latency_ms)
    np.testing.assert_array_equal(a.memory_bytes, b.memory_bytes)
    np.testing.assert_array_equal(a.failing_share, b.failing_share)
    with pytest.raises(MappingError, match="simulate the Network"):
        b.report(0)


def test_a_search_scores_the_same_metrics_from_rows_as_from_networks():
    ne = HW[0]
    rng = np.random.default_rng(2)
    for axis in (P.MobileAxis(NetworkSpace(heads=("classifier", "deeplabv3"))),):
        fast = P.SearchProblem(axis, P.HardwareAxis(S.HardwareSpace(), ne), ("latency_ms", "energy_mj"))
        gs = [random_genome(fast.choices, rng) for _ in range(16)]
        got = fast.evaluate(gs)
        nets = [fast.network(g) for g in gs]
        want = fast._metrics(nets, [fast.hardware(g) for g in gs], None)
        assert got == want


def test_row_builder_runs_the_network_builder_calls_and_handles_are_indices():
    b = RowBuilder("t", (8, 8, 3))
    x = b.conv(b.input, 8, 3, 2, activation="relu")
    y = b.ibn(x, 8, expansion=2, kernel=3, se=2)
    z = b.concat(x, y)
    b.linear(b.global_avg_pool(z), 10)
    net = b.build()
    assert (x, y) == (0, 8)   # stem; expand, dw, SE pool/reduce/expand/mul, project, add
    ref = NetworkBuilder("t", (8, 8, 3))
    rx = ref.conv(ref.input, 8, 3, 2, activation="relu")
    ry = ref.ibn(rx, 8, expansion=2, kernel=3, se=2)
    ref.linear(ref.global_avg_pool(ref.concat(rx, ry)), 10)
    want = ref.build()
    np.testing.assert_array_equal(net.lay, pack_network(want))
    plan = plan_arena(want, alignment=16)
    assert net.memory_bytes(alignment=16) == (padded_param_bytes(want, alignment=16), plan.peak_bytes,
                                              plan.lower_bound_bytes)
    # the hand count: stem 3*3*3*8 + 8, expand 8*16 + 16, dw 9*16 + 16, SE 16*2 + 2 + 2*16 + 16, project 16*8 + 8,
    # classifier 16*10 + 10 (pool, concat, add, mul: none)
    assert net.params == 224 + 144 + 160 + 82 + 136 + 170 == want.params


def test_row_errors_name_the_network_and_what_is_wrong():
    b = RowBuilder("tiny", (4, 4, 3))
    with pytest.raises(WorkloadError, match="network tiny: layer 'c' has an empty output"):
        b.conv(b.input, 8, 7, 1, padding=0, name="c")
    with pytest.raises(WorkloadError, match="network big: layer 0 is above the size limits"):
        PackedNetwork("big", (4, 4, 3), np.array([(0, 4, 4, 3, 2 ** 21, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1)]),
                      np.array([1]))


def _replace_all(base, g):
    """The genome's config as one Hardware.replace of every field (what build_hardware validates by group)."""
    return base.replace(name=S.hardware_name(base, g), **S.hardware_changes(base, g))


def test_hardware_built_by_validated_groups_equals_one_full_replace():
    rng = np.random.default_rng(4)
    for space in (S.HardwareSpace(clocks_mhz=(500, 1000)), S.DatasetHardwareSpace()):
        base = space.base_hardware()
        for _ in range(60):
            g = space.sample(rng)
            assert S.build_hardware(base, g) == _replace_all(base, g)


def test_hardware_genome_with_lists_builds_as_with_tuples():
    """A genome written by hand may hold lists where the spaces draw tuples (formats, MACs/PE, vector
    ops): the same config, kept sections or not."""
    base = HW[0]
    g = S.DatasetHardwareSpace().sample(np.random.default_rng(5))
    listed = dataclasses.replace(g, precisions=list(g.precisions), macs_per_pe=list(g.macs_per_pe),
                                 vector_ops=list(g.vector_ops))
    S.clear_caches()
    assert S.build_hardware(base, listed) == S.build_hardware(base, g) == _replace_all(base, g)


@pytest.mark.parametrize("change, where", [({"rows": -3}, "array.rows"), ({"cols": 0}, "array.cols"),
                                           ({"dataflow": "xs"}, "array.dataflow"),
                                           ({"clock_mhz": -5.0}, "array.clock_mhz"),
                                           ({"ifmap_kb": -1.0}, "memory.sram.ifmap_kb")])
def test_an_invalid_group_value_fails_as_the_full_replace_does(change, where):
    base = HW[0]
    g = S.HardwareSpace().sample(np.random.default_rng(0))
    bad = dataclasses.replace(g, **change)
    with pytest.raises(accelsim.errors.ConfigError, match=where) as want:
        _replace_all(base, bad)
    with pytest.raises(accelsim.errors.ConfigError) as got:
        S.build_hardware(base, bad)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("change", [{"filter_kb": 1e12}, {"ofmap_kb": -2.0}, {"ifmap_kb": 0.0, "ofmap_kb": -2.0}])
def test_separate_buffer_sizes_checked_one_by_one_fail_as_the_full_replace_does(change):
    """build_hardware checks each separate buffer size beside sizes already known valid: with that
    reference in place (a valid config built first) a bad size still fails as the whole replace words it."""
    base = HW[0]
    space = S.HardwareSpace(unified_probability=0.0)
    S.clear_caches()
    good = space.sample(np.random.default_rng(1))
    assert S.build_hardware(base, good) == _replace_all(base, good)
    bad = dataclasses.replace(good, **change)
    with pytest.raises(accelsim.errors.ConfigError, match="memory.sram") as want:
        _replace_all(base, bad)
    with pytest.raises(accelsim.errors.ConfigError) as got:
        S.build_hardware(base, bad)
    assert str(got.value) == str(want.value)
    # and every valid triple still builds the config one replace builds
    for g in (space.sample(np.random.default_rng(k)) for k in range(20)):
        assert S.build_hardware(base, g) == _replace_all(base, g)


def _nb201_cells(n: int, seed: int) -> list:
    from codesign.spaces import nb201
    rng = np.random.default_rng(seed)
    cells = [tuple(int(i) for i in rng.integers(0, len(nb201.OPS), 6)) for _ in range(n)]
    # the corner cases of the lowering: all 'none' (zero nodes), all identities (a cell that is its
    # input, so ReLUs are shared across cells), a cell whose output is an inner node, pools only
    return cells + [(0,) * 6, (1,) * 6, (3, 1, 0, 0, 1, 0), (4,) * 6, (2, 3, 2, 3, 2, 3)]


@pytest.mark.parametrize("options", [dict(channels=8, cells=2), dict(), dict(channels=4, cells=1, num_classes=3,
                                                                            resolution=16, precision="int16")])
def test_nas_bench_201_batches_of_cells_equal_the_lowered_rows(options):
    """The compiled NB201 emitter (accelsim.engine.nb201_rows) gives the rows the operator list and
    its lowering give, network for network, in batches that span several compiled calls."""
    from codesign.spaces import nb201
    cells = _nb201_cells(40 if options.get("cells") != 5 and options else 12, seed=len(options))
    many = nb201.network_rows_many(cells, **options)
    assert len(many) == len(cells)
    for ops, got in zip(cells, many):
        _assert_same_rows(got, nb201.network_rows(nb201.arch_str(ops), **options))
    for hw in HW[:2]:
        assert memory_figures(many[0], hw) == memory_figures(nb201.network(nb201.arch_str(cells[0]), **options), hw)
    # arch strings and op names name the same cells
    assert [n.macs for n in nb201.network_rows_many([nb201.arch_str(c) for c in cells[:3]], **options)] == \
        [n.macs for n in many[:3]]
    assert nb201.network_rows_many([], **options) == []
    # numpy op indices, as a caller holding an array of cells passes them
    assert accelsim.workload.nb201.nb201_rows_many([np.array(cells[1])], **options)[0].macs == many[1].macs


@pytest.mark.parametrize("options, match", [
    (dict(resolution=33), "add broadcasting"),          # the reduction's branches disagree in size
    (dict(resolution=2), "empty output"),
    (dict(channels=0), "channels 3->0"),
    (dict(precision="int3"), "int3"),
    (dict(channels=8.5), None),                            # not a plain integer: the slow path decides
])
def test_nas_bench_201_batches_fail_as_one_network_does(options, match):
    from codesign.spaces import nb201
    arch = nb201.arch_str((3, 3, 4, 1, 3, 1))
    try:
        want = nb201.network_rows(arch, **options)
    except Exception as exc:   # noqa: BLE001 - whatever the one-network path raises, the batch raises
        assert match is None or match in str(exc)
        with pytest.raises(type(exc)) as got:
            nb201.network_rows_many([arch, arch], **options)
        assert str(got.value) == str(exc)
    else:
        assert match is None
        _assert_same_rows(nb201.network_rows_many([arch], **options)[0], want)
    with pytest.raises(WorkloadError, match="six op indices"):
        accelsim.workload.nb201.nb201_rows_many([(0, 1, 2)])
    with pytest.raises(WorkloadError, match="NAS-Bench-201 arch"):
        accelsim.workload.nb201.nb201_rows_many(["|nor_conv_3x3~0|"])


def test_the_nb201_axis_scores_a_batch_as_it_scores_one_genome():
    from codesign.spaces import nb201
    rng = np.random.default_rng(3)
    axis = P.NB201Axis(channels=8, cells=2)
    gs = [random_genome(axis.choices, rng) for _ in range(6)]
    for g, got in zip(gs, axis.packed_many(gs)):
        _assert_same_rows(got, axis.packed(g))
    prob = P.SearchProblem(axis, P.FixedHardware(HW[0]), ("latency_ms", "energy_mj", "memory_mb"))
    one = [P.SearchProblem(axis, P.FixedHardware(HW[0]), ("latency_ms", "energy_mj", "memory_mb")).evaluate([g])[0]
           for g in gs]
    assert prob.evaluate(gs) == one
    assert nb201.network_rows_many([axis.key(g) for g in gs], channels=8, cells=2)[0].n_layers > 0


@pytest.mark.slow
def test_every_nas_bench_201_cell_as_a_batch_equals_its_lowered_rows():
    from codesign.spaces import nb201
    archs = nb201.all_archs()
    many = nb201.network_rows_many(archs, channels=4, cells=2)
    for arch, got in zip(archs, many):
        _assert_same_rows(got, nb201.network_rows(arch, channels=4, cells=2))


def test_nas_bench_201_cells_as_rows_equal_their_networks():
    from codesign.spaces import nb201
    rng = np.random.default_rng(8)
    archs = [nb201.arch_str([nb201.OPS[int(i)] for i in rng.integers(0, len(nb201.OPS), 6)]) for _ in range(25)]
    archs += [nb201.arch_str(["none"] * 6), nb201.arch_str(["skip_connect"] * 6)]
    for arch in archs:
        net = nb201.network(arch, channels=8, cells=2)
        rows = nb201.network_rows(arch, channels=8, cells=2)
        np.testing.assert_array_equal(rows.lay, pack_network(net))
        assert (rows.macs, rows.params) == (net.macs, net.params)
        for hw in HW:
            assert memory_figures(rows, hw) == memory_figures(net, hw)
    with pytest.raises(WorkloadError, match="prune needs the Network"):
        accelsim.workload.nb201.nb201_network(archs[0], rows=True, prune=True)
    # the compiled and eager forms build on the builder directly: rows for them too
    for form in ("compiled", "eager"):
        net = accelsim.workload.nb201.nb201_network(archs[0], 8, 2, form=form)
        rows = accelsim.workload.nb201.nb201_network(archs[0], 8, 2, form=form, rows=True)
        np.testing.assert_array_equal(rows.lay, pack_network(net))
