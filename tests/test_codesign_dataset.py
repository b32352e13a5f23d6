"""codesign spaces and dataset: determinism, records equal to the engine, caching, resume after a kill."""

from __future__ import annotations

import importlib
import json
import re

import numpy as np
import pytest

import accelsim
from codesign.estimator import dataset as dataset_module
from codesign.estimator.dataset import DatasetRequest, generate, load_dataset, run_shard
from codesign.errors import CodesignError
from codesign.spaces.space import (HardwareSpace, NetworkGenome, NetworkSpace, build_network, hardware_key, hardware_pool)

SMALL = dict(operators=120, blocks=40, networks=6, hardware=4, hw_per_network=2, format="npz")


def small_request(**changes) -> DatasetRequest:
    return DatasetRequest(**{**SMALL, **changes})


# ------------------------------------------------------------------------------------ spaces
def test_network_space_is_seeded_and_builds():
    space = NetworkSpace()
    g1 = space.sample(np.random.default_rng(7))
    g2 = space.sample(np.random.default_rng(7))
    assert g1 == g2 and g1.key() == g2.key()
    assert NetworkGenome.from_dict(json.loads(json.dumps(g1.to_dict()))) == g1
    net = build_network(g1)
    assert net.input_shape == (g1.resolution, g1.resolution, 3)
    blocks = {".".join(l.name.split(".")[:2]) for l in net.layers if re.match(r"s\d+\.b\d+\.", l.name)}
    assert len(blocks) == sum(g1.stage_depths())
    assert net.layers[-1].out_shape == (1, 1, 1000)


def test_curated_channels_are_multiples_and_free_ones_are_not():
    curated = NetworkSpace(channel_multiple=16)
    free = NetworkSpace(channel_mode="free")
    for stage in range(len(curated.base_channels)):
        assert all(c % 16 == 0 for c in curated.channel_choices(stage))
    assert any(c % 8 for c in free.channel_choices(2))
    rng = np.random.default_rng(0)
    widths = [s.channels for _ in range(20) for s in free.sample(rng).stages]
    assert any(w % 8 for w in widths)
    with pytest.raises(CodesignError, match="channel_mode"):
        NetworkSpace(channel_mode="any")


def test_hardware_space_and_pool():
    space = HardwareSpace()
    g = space.sample(np.random.default_rng(3))
    hw = space.build(g)
    assert hw.array.rows == g.rows and hw.array.cols == g.cols and hw.array.dataflow == g.dataflow
    assert set(hw.precision_names) == set(g.precisions)
    assert 8 <= hw.array.rows <= 128
    short, long = hardware_pool(space, 5, 4), hardware_pool(space, 5, 9)
    assert [hardware_key(h) for h in short] == [hardware_key(h) for h in long[:4]]
    assert short[0] == accelsim.load_hardware("neural_engine")
    # every sampled config runs int8 networks (all precision sets include it)
    assert all("int8" in h.precision_names for h in long)


# ------------------------------------------------------------------------------------ records
def test_records_equal_the_engine(tmp_path):
    req = small_request()
    generate(req, tmp_path / "d", progress=False)
    ds = load_dataset(tmp_path / "d")
    P = ds.pairs
    assert set(P["kind"]) == {"op", "block", "network"}
    assert len(ds.layers["pair"]) == int(P["n_layers"].sum())
    pool = hardware_pool(req.hardware_space, req.hardware_seed, req.hardware)
    checked = 0
    for i in np.nonzero(P["kind"] == "network")[0][:4]:
        net = build_network(NetworkGenome.from_dict(json.loads(P["spec"][i])))
        rep = accelsim.simulate(net, pool[P["hw_pool_index"][i]])
        assert P["total_cycles"][i] == pytest.approx(rep.total_cycles, rel=1e-12)
        assert P["energy_pj"][i] == pytest.approx(rep.energy_pj, rel=1e-12)
        assert P["memory_bytes"][i] == pytest.approx(rep.memory_bytes)
        s, n = P["layer_start"][i], P["n_layers"][i]
        assert np.allclose(ds.layers["total_cycles"][s:s + n], rep.column("total_cycles"))
        checked += 1
    assert checked == 4
    # every layer row carries the engine's inputs and outputs
    for col in ("in_c", "out_c", "kh", "groups", "wprec", "compute_cycles", "dram_read_bytes", "energy_pj"):
        assert col in ds.layers
    # operators in every precision the sampled hardware supports, channels aligned and not
    ops = P["kind"] == "op"
    assert len({json.loads(s)["wp"] for s in P["spec"][ops]}) >= 3
    cin = ds.layers["in_c"][np.isin(ds.layers["pair"], np.nonzero(ops)[0])]
    assert (cin % 8 == 0).any() and (cin % 8 != 0).any()


def test_shards_are_deterministic():
    req = small_request()
    a = run_shard(req, "op", 0, 50)
    b = run_shard(req, "op", 0, 50)
    assert np.array_equal(a["layers"]["total_cycles"], b["layers"]["total_cycles"])
    assert list(a["pairs"]["hw"]) == list(b["pairs"]["hw"])
    c = run_shard(small_request(seed=1), "op", 0, 50)
    assert list(a["pairs"]["workload"]) != list(c["pairs"]["workload"])


def test_repeated_request_is_a_cache_hit(tmp_path, monkeypatch):
    req = small_request(operators=30, blocks=0, networks=2)
    first = generate(req, tmp_path / "d", progress=False)
    assert not first.cached and first.computed_shards == 2

    def no_engine(*a, **k):
        raise AssertionError("the engine ran on a cache hit")

    monkeypatch.setattr(importlib.import_module("accelsim.engine.simulate"), "simulate_many", no_engine)
    again = generate(req, tmp_path / "d", progress=False)
    assert again.cached and again.computed_shards == 0 and again.pairs == first.pairs
    with pytest.raises(CodesignError, match="another request"):
        generate(small_request(operators=31, blocks=0, networks=2), tmp_path / "d", progress=False)


def test_resume_after_a_kill(tmp_path, monkeypatch):
    monkeypatch.setitem(dataset_module.SHARD_SIZE, "op", 50)
    req = small_request(operators=150, blocks=0, networks=0)  # 3 op shards
    done = []

    def kill_after_two(summary):
        done.append(summary["shard"])
        if len(done) == 2:
            raise KeyboardInterrupt  # what a Ctrl-C between shards looks like

    with pytest.raises(KeyboardInterrupt):
        generate(req, tmp_path / "d", progress=False, on_shard=kill_after_two)
    assert len(list((tmp_path / "d" / "shards").iterdir())) == 2
    with pytest.raises(CodesignError, match="incomplete"):
        load_dataset(tmp_path / "d")
    resumed = generate(req, tmp_path / "d", progress=False)
    assert resumed.skipped_shards == 2 and resumed.computed_shards == 1
    whole = generate(req, tmp_path / "e", progress=False)
    a, b = load_dataset(tmp_path / "d"), load_dataset(tmp_path / "e")
    assert np.array_equal(a.pairs["total_cycles"], b.pairs["total_cycles"])
    assert not any(p.name.startswith(".tmp") for p in (tmp_path / "d" / "shards").iterdir())
    assert whole.pairs == resumed.pairs == 150


def test_parquet_and_npz_hold_the_same_records(tmp_path):
    pytest.importorskip("pyarrow")
    req = small_request(operators=60, blocks=20, networks=2)
    generate(req, tmp_path / "npz", progress=False)
    generate(DatasetRequest(**{**SMALL, "operators": 60, "blocks": 20, "networks": 2, "format": "parquet"}),
             tmp_path / "pq", progress=False)
    a, b = load_dataset(tmp_path / "npz"), load_dataset(tmp_path / "pq")
    assert list((tmp_path / "pq" / "shards" / "op-00000").iterdir())[0].suffix == ".parquet"
    for col in ("total_cycles", "energy_pj", "dram_bytes"):
        assert np.array_equal(a.pairs[col], b.pairs[col])
    assert list(a.pairs["name"]) == list(b.pairs["name"])
    assert np.array_equal(a.layers["in_c"], b.layers["in_c"])


@pytest.mark.parametrize("change,match", [
    (dict(operators=-1), "operators"),
    (dict(hw_per_network=9), "hw_per_network"),
    (dict(zoo=("no_such_model",)), "no_such_model"),
    (dict(format="csv"), "format"),
    (dict(adaptive_model="/nonexistent.pt"), "no such file"),
])
def test_bad_requests(tmp_path, change, match):
    with pytest.raises(CodesignError, match=match):
        generate(small_request(**change), tmp_path / "d", progress=False)


def test_corrupt_shard_is_a_clear_error(tmp_path):
    generate(small_request(operators=20, blocks=0, networks=0), tmp_path / "d", progress=False)
    (tmp_path / "d" / "shards" / "op-00000" / "pairs.npz").write_bytes(b"not a zip")
    with pytest.raises(CodesignError, match="pairs.npz"):
        load_dataset(tmp_path / "d")
    with pytest.raises(CodesignError, match="not a codesign dataset"):
        load_dataset(tmp_path)


def test_cli_dataset(tmp_path, capsys):
    from codesign.cli import main
    args = ["dataset", "--out", str(tmp_path / "d"), "--operators", "40", "--blocks", "10", "--networks", "2",
            "--hardware", "3", "--hw-per-network", "2", "--format", "npz", "--quiet"]
    assert main(args) == 0
    assert "54 records" in capsys.readouterr().out
    assert main(args) == 0
    assert "cache hit" in capsys.readouterr().out
    assert main(args[:-1] + ["--zoo", "nope", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("codesign: error:") and "nope" in err[0]


def test_process_runner_gives_the_serial_records(tmp_path, monkeypatch):
    monkeypatch.setitem(dataset_module.SHARD_SIZE, "op", 100)
    req = small_request(operators=300, blocks=50, networks=4)
    # every runner takes workers (the serial one has no use for it; it used to raise TypeError)
    generate(req, tmp_path / "serial", runner="serial", workers=2, progress=False)
    generate(req, tmp_path / "procs", runner="processes", workers=2, progress=False)
    a, b = load_dataset(tmp_path / "serial"), load_dataset(tmp_path / "procs")
    assert np.array_equal(a.pairs["total_cycles"], b.pairs["total_cycles"])
