"""Estimator training data covers the hardware space (issue 14): the dataset's hardware ranges hold
every shipped config, every latency-relevant field varies (continuous ones log-uniformly), a
search's HardwareSpace samples what it always did, and a feature that never varied in training
cannot turn a small hardware change into an absurd prediction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import accelsim
from codesign.errors import CodesignError
from codesign.estimator import features as F
from codesign.estimator.dataset import DatasetRequest, generate, load_dataset
from codesign.estimator.model import TrainConfig, _fit_rows, _standardize, train_estimator
from codesign.spaces.space import DatasetHardwareSpace, HardwareGenome, HardwareSpace, build_hardware, hardware_pool

HW_CONFIGS = Path(__file__).resolve().parent.parent / "hw_configs"


def test_every_shipped_config_lies_inside_the_dataset_ranges():
    """A new shipped config outside the default ranges fails here: widen DatasetHardwareSpace."""
    space = DatasetHardwareSpace()
    # the dataset's configs are systolic; roofline configs (kind: roofline) have no array to range over
    paths = [p for p in sorted(HW_CONFIGS.glob("*.yaml")) if accelsim.load_hardware(p).kind == "systolic"]
    assert len(paths) >= 7
    outside = {p.name: space.outside(accelsim.load_hardware(p)) for p in paths}
    assert outside == {p.name: [] for p in paths}


def test_outside_names_each_field_and_its_range():
    ne = accelsim.load_hardware("neural_engine")
    hw = ne.replace(array__clock_mhz=3000.0, dram__latency_ns=2000.0, channel_alignment=3)
    assert DatasetHardwareSpace().outside(hw) == ["clock_mhz: 3000 (expected 100..2000)",
                                                   "dram_latency_ns: 2000 (expected 10..1000)",
                                                   "memory.channel_alignment: 3 (expected one of 1, 2, 4, 8, 14, "
                                                   "16, 32, 64, 128)"]
    narrow = DatasetHardwareSpace(clock_mhz=(900.0, 1100.0), unified_probability=0.0, zero_latency_probability=0.0)
    assert narrow.outside(accelsim.load_hardware("eyeriss_like")) == [
        "clock_mhz: 200 (expected 900..1100)", "sram.unified_kb: a unified buffer (expected separate buffers)"]
    assert narrow.outside(accelsim.load_hardware("scalesim_scale"))[0] == "dram_latency_ns: 0 (expected 10..1000)"


def test_the_dataset_pool_varies_every_field_over_its_range():
    space = DatasetHardwareSpace()
    pool = hardware_pool(space, 7, 400)[1:]
    assert all(space.outside(h) == [] for h in pool)
    clock = np.array([h.array.clock_mhz for h in pool])
    bw = np.array([h.dram.bandwidth_gb_per_s for h in pool])
    lat = np.array([h.dram.latency_ns for h in pool])
    # log-uniform: half the draws below the geometric mean of the range, a tenth in its lowest tenth (in log)
    assert 0.42 < np.mean(clock < np.sqrt(100 * 2000)) < 0.58
    assert 0.05 < np.mean(bw < np.exp(np.log(1) + 0.1 * np.log(800))) < 0.16
    assert len(np.unique(clock)) > 380 and len(np.unique(bw)) > 380
    assert 0.05 < np.mean(lat == 0) < 0.16 and lat.max() > 500
    unified = np.array([h.sram.unified_kb is not None for h in pool])
    assert 0.32 < unified.mean() < 0.48
    assert {h.activation_policy for h in pool} == {"dram", "resident"}
    assert {h.weights_resident for h in pool} == {True, False}
    assert {h.channel_alignment for h in pool} == set(space.channel_alignments)
    assert {h.array.dataflow for h in pool} == {"os", "ws", "is"}
    assert {p.macs_per_pe_per_cycle for h in pool for p in h.precisions} == {1, 2, 4}
    assert {v for h in pool for _, v in h.vector.ops_per_lane_per_cycle} == {1.0, 2.0, 4.0}
    rows = np.array([h.array.rows for h in pool])
    assert rows.min() < 10 and rows.max() > 200 and len(np.unique(rows)) > 100
    # the engine's per-cycle units span what the shipped configs need
    cyc = np.array([h.dram_latency_cycles for h in pool])
    assert cyc.max() > 1000 and np.sort(cyc)[len(pool) // 10 + 5] < 10


def test_a_search_space_samples_what_it_always_did():
    """The genomes (and so the configs and their keys) of HardwareSpace are those before the dataset
    ranges existed; the new genome fields are left out of its dict at their defaults."""
    g = HardwareSpace().sample(np.random.default_rng(3))
    assert g.key() == "774bab535fea54ab"
    assert set(g.to_dict()) == {"rows", "cols", "dataflow", "vector_lanes", "unified_kb", "ifmap_kb", "filter_kb",
                                "ofmap_kb", "dram_gb_per_s", "precisions"}
    assert HardwareSpace(clocks_mhz=(500.0, 800.0)).sample(np.random.default_rng(0)).key() == "92d879a858eea35a"
    assert [h.name for h in hardware_pool(HardwareSpace(), 5, 3)] == \
        ["neural_engine", "neural_engine-657958d9", "neural_engine-cbfcc76d"]


def test_a_genome_sets_each_new_field_on_the_config():
    ne = accelsim.load_hardware("neural_engine")
    g = HardwareGenome(rows=12, cols=14, dataflow="ws", vector_lanes=4, unified_kb=108.0, ifmap_kb=0.0,
                       filter_kb=0.0, ofmap_kb=0.0, dram_gb_per_s=1.6, precisions=("int16", "int8"),
                       clock_mhz=200.0, dram_latency_ns=150.0, macs_per_pe=(1, 4), vector_ops=(1.0, 2.0),
                       activation_policy="dram", weights_resident=1, channel_alignment=14)
    hw = build_hardware(ne, g)
    assert (hw.array.clock_mhz, hw.dram.latency_ns, hw.dram_latency_cycles) == (200.0, 150.0, 30.0)
    assert [(p.name, p.macs_per_pe_per_cycle) for p in hw.precisions] == [("int16", 1), ("int8", 4)]
    assert hw.vector.ops_per_lane_per_cycle == (("int16", 1.0), ("int8", 2.0))
    assert (hw.activation_policy, hw.weights_resident, hw.channel_alignment) == ("dram", True, 14)
    assert hw.dram_bytes_per_cycle == pytest.approx(8.0)
    with pytest.raises(CodesignError, match=r"^hardware genome: macs_per_pe: expected one number per format of "
                                            r"precisions \(2\), got 1$"):
        build_hardware(ne, HardwareGenome(**{**g.__dict__, "macs_per_pe": (2,)}))


@pytest.mark.parametrize("settings, message", [
    ({"clock_mhz": (2000.0, 100.0)}, "dataset hardware space: clock_mhz: expected (low, high) with 0 < low <= high, "
                                     "got (2000.0, 100.0)"),
    ({"dram_latency_ns": (0.0, 100.0)}, "dataset hardware space: dram_latency_ns: expected (low, high) with "
                                        "0 < low <= high, got (0.0, 100.0)"),
    ({"zero_latency_probability": 1.5}, "dataset hardware space: zero_latency_probability: expected a probability "
                                        "in [0, 1], got 1.5"),
    ({"macs_per_pe": ()}, "dataset hardware space: macs_per_pe: expected a non-empty tuple of positive numbers, "
                          "got ()"),
    ({"activation_policies": ("spill",)}, "dataset hardware space: activation_policies: expected a non-empty tuple "
                                          "of dram, resident, fused, got ('spill',)"),
    ({"precision_sets": (("int8", "int3"),)}, "dataset hardware space: precision_sets: expected a non-empty tuple "
                                              "of format tuples from"),
    ({"base": ""}, "dataset hardware space: base: expected a hardware config name or path, got ''"),
])
def test_bad_dataset_space_settings_are_one_line(settings, message):
    with pytest.raises(CodesignError) as info:
        DatasetHardwareSpace(**settings)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_a_request_defaults_to_the_dataset_ranges():
    req = DatasetRequest()
    assert req.hardware_space == DatasetHardwareSpace()
    with pytest.raises(CodesignError, match="^dataset request: hardware_space: expected a DatasetHardwareSpace or "
                                            "HardwareSpace, got str$"):
        DatasetRequest(hardware_space="neural_engine").validate()


def test_a_feature_constant_in_training_does_not_explode_when_it_moves():
    """The root cause of issue 14: DRAM latency was 100 cycles in every training row; its float32
    round-off spread (~1e-5) standardised a 20 % clock change into a 32,000-sigma input."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 3)).astype(np.float32)
    X[:, 2] = np.float32(np.log2(101.0))          # constant, as log_latency was
    mean, std = _standardize(X)
    assert std[2] == 1.0 and abs(mean[2] - np.log2(101.0)) < 1e-6
    assert np.allclose(std[:2], X[:, :2].astype(np.float64).std(axis=0))
    Y = (X[:, :1] * 0.5 + X[:, 1:2] ** 2 * 0.1).astype(np.float32)
    val = rng.random(4000) < 0.1
    cfg = TrainConfig(hidden=16, depth=2, epochs=3, threads=1)
    fm, _ = _fit_rows(X, Y, val, cfg, torch.Generator().manual_seed(0))
    moved = X[:50].copy()
    moved[:, 2] = np.log2(121.0)                   # the clock 20 % faster
    with torch.no_grad():
        a = fm.mlp(torch.from_numpy(((X[:50] - fm.x_mean) / fm.x_std).astype(np.float32))).numpy()
        b = fm.mlp(torch.from_numpy(((moved - fm.x_mean) / fm.x_std).astype(np.float32))).numpy()
    assert np.abs(a - b).max() < 0.5


def test_the_features_read_clock_and_latency_in_cycles():
    ne = accelsim.load_hardware("neural_engine")
    slow = ne.replace(array__clock_mhz=500.0)
    hw = F.hardware_table([ne, slow])
    assert hw["dram_latency_cycles"].tolist() == [100.0, 50.0]
    assert hw["dram_bytes_per_cycle"].tolist() == pytest.approx([25.6, 51.2])
    assert "log_tile_latency" in F.FEATURE_NAMES and "log_tile_latency_over_base" in F.FEATURE_NAMES


@pytest.mark.slow
def test_issue_14_clock_and_shipped_configs_stay_close_to_the_engine(tmp_path):
    """A small estimator trained on the dataset's default ranges predicts MobileNetV2 on eyeriss_like
    and on neural_engine with a 20 % faster clock within 25 % of the engine (it predicted 6.2e9 ms
    for eyeriss_like when the training data never varied clock or DRAM latency)."""
    from accelsim.engine.simulate import simulate_many
    from accelsim.workload.zoo import load_model
    generate(DatasetRequest(operators=6000, blocks=2000, networks=80, hardware=12, hw_per_network=4, format="npz"),
             tmp_path / "train", progress=False)
    est = train_estimator(load_dataset(tmp_path / "train"), TrainConfig(hidden=64, depth=2, epochs=8, threads=1),
                          progress=False)
    net = load_model("mobilenet_v2")
    ne = accelsim.load_hardware("neural_engine")
    hws = [ne, ne.replace(array__clock_mhz=1200.0), accelsim.load_hardware("eyeriss_like")]
    pred = est.predict(net, hws)["latency_ms"][0]
    true = simulate_many([net] * 3, hws, pairs=True).total_cycles.reshape(-1) / \
        np.array([h.array.clock_mhz * 1e3 for h in hws])
    assert np.all(np.abs(pred / true - 1) < 0.25), (pred, true)
