"""accelsim.system: the SimPy model of several streams sharing one engine, a host CPU and DRAM.

Laws pinned here: one stream alone takes exactly the engine's latency; utilisation never exceeds 1;
below saturation throughput equals the arrival rate, above it latency grows without bound; the
same seed gives the same trace; EDF beats FIFO on deadlines where it should; priorities are
respected; DRAM contention and host fallback give hand-computable numbers; bad scenarios fail
with one line naming the file and key.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import accelsim
from accelsim.cli import main
from accelsim.engine import tables as T
from accelsim.errors import ConfigError
from accelsim.system import (available_scenarios, build_service, load_scenario, parse_duration, parse_rate,
                             scenario_from_dict, simulate_system, smallest_meeting, sweep)
from accelsim.system.service import HOST, host_bytes, host_ops
from accelsim.workload.zoo import MODELS
from conftest import time_limit

MBV2 = {"model": "mobilenet_v2"}                                   # 1.0084 ms on neural_engine
SMALL_MBV2 = {"model": "mobilenet_v2", "options": {"width": 0.5, "resolution": 128}}   # 0.279 ms
IBN = {"model": "ibn_block"}                                       # 0.120 ms


def stream(base, rate="100Hz", deadline="10ms", process="periodic", **extra):
    arrival = {"process": process, "rate": rate}
    arrival.update(extra.pop("arrival", {}))
    return {**base, "arrival": arrival, "deadline": deadline, **extra}


def scenario(streams: dict, **top):
    return scenario_from_dict({"name": "t", "streams": streams, **top}, source="<test>")


@pytest.fixture(scope="module")
def ne():
    """neural_engine with every tensor through DRAM, unpadded: the rates below are set against its
    service times (MobileNetV2 1.0084 ms), which on-chip placement would shorten."""
    return accelsim.load_hardware("neural_engine").replace(activation_policy="dram", channel_alignment=1)


# ---------------------------------------------------------------------------------------------
# Units
# ---------------------------------------------------------------------------------------------
def test_units():
    assert parse_duration("33ms", "k") == pytest.approx(0.033)
    assert parse_duration("10s", "k") == 10.0
    assert parse_duration("250us", "k") == pytest.approx(250e-6)
    assert parse_duration("1.5min", "k") == 90.0
    assert parse_rate("15fps", "k") == 15.0
    assert parse_rate("50Hz", "k") == 50.0
    assert parse_rate("2kHz", "k") == 2000.0
    for bad in (33, "33", "33 parsecs", "", None, True):
        with pytest.raises(ConfigError, match="k: expected a duration"):
            parse_duration(bad, "k")
    with pytest.raises(ConfigError, match="positive rate, got '-5Hz'"):
        parse_rate("-5Hz", "k")
    with pytest.raises(ConfigError, match="expected a rate"):
        parse_rate(15, "k")


# ---------------------------------------------------------------------------------------------
# Sanity laws
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("hw_name,base", [("neural_engine", MBV2), ("neural_engine", SMALL_MBV2),
                                          ("edge_tpu_like", IBN)])
def test_one_stream_alone_takes_the_engine_latency(hw_name, base):
    net = accelsim.load_model(base["model"], **base.get("options", {}))
    expected = accelsim.simulate(net, hw_name).latency_ms
    sc = scenario({"only": stream(base, rate="50Hz", deadline="20ms")})
    r = simulate_system(sc, hw_name, duration="0.2s")
    s = r.stream_stats()[0]
    assert s["completed"] == 10
    lat_ms = (r.streams[0].finish - r.streams[0].arrival) * 1e3
    assert lat_ms == pytest.approx(np.full(10, expected), rel=1e-12)
    assert s["alone_latency_ms"] == pytest.approx(expected, rel=1e-12)
    assert s["queue_mean_ms"] == 0.0 and s["miss_rate"] == 0.0
    # the engine is busy exactly one latency per request
    assert r.system_stats()["engine_utilization"] == pytest.approx(10 * expected / 200, rel=1e-9)


def test_throughput_equals_arrival_rate_below_saturation(ne):
    # periodic at 60 % load and Poisson at 50 % load
    sc = scenario({"cam": stream(MBV2, rate="600Hz", deadline="10ms"),
                   "bursty": stream(IBN, rate="400Hz", deadline="10ms", process="poisson")})
    r = simulate_system(sc, ne, duration="2s", seed=3)
    cam, bursty = r.stream_stats()
    assert cam["throughput_per_s"] == pytest.approx(600, abs=1.0)
    assert bursty["arrived"] == pytest.approx(800, rel=0.1)     # Poisson count, 3.5 sigma
    assert bursty["completed"] >= bursty["arrived"] - 2          # everything that arrived got served
    assert r.system_stats()["engine_utilization"] == pytest.approx(0.6 * 1 + 400 * 0.12018e-3 * 1, rel=0.1)


def test_latency_grows_without_bound_above_saturation(ne):
    sc = scenario({"over": stream(MBV2, rate="1200Hz", deadline="5ms")})   # 1.21x the engine's capacity
    short = simulate_system(sc, ne, duration="0.5s")
    long = simulate_system(sc, ne, duration="1s")
    lat = (long.streams[0].finish - long.streams[0].arrival)
    lat = lat[~np.isnan(lat)]
    half = lat.size // 2
    assert lat[half:].mean() > 1.5 * lat[:half].mean()
    assert long.stream_stats()[0]["latency_mean_ms"] > 1.8 * short.stream_stats()[0]["latency_mean_ms"]
    # saturated: the engine never idles after the first arrival, serves at its own rate
    st = long.system_stats()
    assert 0.999 < st["engine_utilization"] <= 1.0
    assert long.stream_stats()[0]["throughput_per_s"] == pytest.approx(1 / 1.0084023960476192e-3, rel=1e-3)
    assert long.stream_stats()[0]["miss_rate"] > 0.5


@pytest.mark.parametrize("policy,preemption,background,host_ops,batch", [
    ("fifo", False, 0.0, [], 1), ("edf", True, 10.0, ["add"], 1), ("priority", True, 30.0, ["pool"], 4),
    ("edf", False, 5.0, ["s1.*"], 3)])
def test_utilisation_never_exceeds_one(ne, policy, preemption, background, host_ops, batch):
    sc = scenario({"a": stream(MBV2, rate="900Hz", deadline="3ms", process="poisson", host_ops=host_ops,
                               batch=batch, priority=1),
                   "b": stream(SMALL_MBV2, rate="1500Hz", deadline="2ms", arrival={"jitter": "0.2ms"})},
                  scheduler={"policy": policy, "preemption": preemption}, background_dram_gb_per_s=background,
                  host={"cores": 2, "gops": 50})
    r = simulate_system(sc, ne, duration="0.3s", seed=1)
    st = r.system_stats()
    for k in ("engine_utilization", "dram_utilization", "host_utilization"):
        assert 0.0 <= st[k] <= 1.0 + 1e-9, k
    # the engine runs one layer at a time and a host core one layer at a time
    el = r.engine_log
    assert np.all(el[2, 1:] >= el[3, :-1] - 1e-15)
    assert np.all(el[3] >= el[2])
    for s in r.streams:
        done = ~np.isnan(s.finish)
        assert np.all(s.finish[done] >= s.start[done]) and np.all(s.start[done] >= s.arrival[done])


def test_same_seed_same_trace_and_another_seed_differs(ne):
    sc = scenario({"a": stream(MBV2, rate="500Hz", deadline="3ms", process="poisson"),
                   "b": stream(IBN, rate="300Hz", deadline="2ms", arrival={"jitter": "1ms"})},
                  scheduler={"policy": "edf", "preemption": True}, background_dram_gb_per_s=4.0)
    one = simulate_system(sc, ne, duration="0.2s", seed=11).chrome_trace_json()
    two = simulate_system(sc, ne, duration="0.2s", seed=11).chrome_trace_json()
    three = simulate_system(sc, ne, duration="0.2s", seed=12).chrome_trace_json()
    assert one == two
    assert one != three


# ---------------------------------------------------------------------------------------------
# Scheduling
# ---------------------------------------------------------------------------------------------
def test_edf_with_preemption_beats_fifo_on_deadline_misses(ne):
    # A 1 ms network every 4 ms with a loose deadline, and a 0.12 ms block every 1 ms that must finish
    # within 0.3 ms. FIFO makes the block wait behind the whole network; EDF lets it cut in at the next
    # layer boundary (the longest MobileNetV2 layer is 84 us).
    streams = {"long": stream(MBV2, rate="250Hz", deadline="4ms"),
               "short": stream(IBN, rate="1000Hz", deadline="0.3ms", arrival={"offset": "0.4ms"})}
    fifo = simulate_system(scenario(streams, scheduler={"policy": "fifo"}), ne, duration="0.2s")
    edf = simulate_system(scenario(streams, scheduler={"policy": "edf", "preemption": True}), ne, duration="0.2s")
    f_short, e_short = fifo.stream_stats()[1], edf.stream_stats()[1]
    assert f_short["miss_rate"] >= 0.2
    assert e_short["miss_rate"] == 0.0
    assert edf.stream_stats()[0]["miss_rate"] == 0.0
    assert e_short["latency_max_ms"] <= 0.12018 + 0.084 + 1e-6


def test_priority_ordering_is_respected(ne):
    streams = {"low": stream(MBV2, rate="400Hz", deadline="100ms", priority=0),
               "high": stream(IBN, rate="700Hz", deadline="100ms", priority=5, arrival={"offset": "0.3ms"})}
    longest_layer_ms = accelsim.simulate(accelsim.load_model("mobilenet_v2"), ne).column("total_cycles").max() / 1e6
    pre = simulate_system(scenario(streams, scheduler={"policy": "priority", "preemption": True}), ne, duration="0.2s")
    non = simulate_system(scenario(streams, scheduler={"policy": "priority"}), ne, duration="0.2s")
    ibn_ms = pre.stream_stats()[1]["alone_latency_ms"]
    # preemptive: the high-priority stream waits at most for one layer of the low one
    assert pre.stream_stats()[1]["latency_max_ms"] <= ibn_ms + longest_layer_ms + 1e-9
    # non-preemptive: at most for one whole low-priority request
    assert non.stream_stats()[1]["latency_max_ms"] <= ibn_ms + 1.0084023960476192 + 1e-9
    assert non.stream_stats()[1]["latency_max_ms"] > pre.stream_stats()[1]["latency_max_ms"]
    # and whenever both were waiting, the engine took a high-priority layer first: every low layer
    # started while no high request was waiting
    high = pre.streams[1]
    el = pre.engine_log
    for start in el[2, el[0] == 0]:
        waiting = (high.arrival < start - 1e-12) & ~(high.start <= start + 1e-12)
        assert not waiting.any()


def test_priority_swaps_when_reversed(ne):
    streams = {"a": stream(MBV2, rate="900Hz", deadline="50ms", priority=1),
               "b": stream(MBV2, rate="900Hz", deadline="50ms", priority=0)}
    r = simulate_system(scenario(streams, scheduler={"policy": "priority", "preemption": True}), ne, duration="0.1s")
    a, b = r.stream_stats()
    assert a["throughput_per_s"] == pytest.approx(900, abs=10)    # served as if alone
    assert b["throughput_per_s"] < 150                             # starved by the overload
    streams["a"]["priority"], streams["b"]["priority"] = 0, 1
    r = simulate_system(scenario(streams, scheduler={"policy": "priority", "preemption": True}), ne, duration="0.1s")
    a, b = r.stream_stats()
    assert b["throughput_per_s"] == pytest.approx(900, abs=10) and a["throughput_per_s"] < 150


# ---------------------------------------------------------------------------------------------
# DRAM contention, host fallback, batching: hand-computed numbers
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("background", [0.0, 6.4, 12.8, 20.0])
def test_background_dram_load_stretches_layers_as_computed_by_hand(ne, background):
    net = accelsim.load_model("mobilenet_v2")
    rep = accelsim.simulate(net, ne)
    pl = rep.per_layer
    bw = ne.dram_bytes_per_cycle                      # 25.6 B/cycle
    bg = background * 1e9 / 1e9                        # GB/s -> B/cycle at 1 GHz
    share = bw - bg if bg < bw / 2 else bw / 2         # max-min fair: the background is capped at its demand
    nbytes = pl[T.O_DRAM_R] + pl[T.O_DRAM_W]
    hide = np.maximum(pl[T.O_COMPUTE], nbytes / bw)
    expected_cycles = (pl[T.O_TOTAL] + np.maximum(0.0, nbytes / share - hide)).sum()
    sc = scenario({"only": stream(MBV2, rate="100Hz", deadline="10ms")}, background_dram_gb_per_s=background)
    r = simulate_system(sc, ne, duration="0.05s")
    lat = r.streams[0].finish - r.streams[0].arrival
    assert lat == pytest.approx(np.full(5, expected_cycles / 1e9), rel=1e-9)
    if background == 0.0:
        assert expected_cycles == pytest.approx(rep.total_cycles, rel=1e-12)
    else:
        assert expected_cycles > rep.total_cycles
    # the DRAM moved the engine's bytes plus the background's
    st = r.system_stats()
    moved = st["dram_utilization"] * ne.dram.bandwidth_gb_per_s * 1e9 * 0.05
    assert moved == pytest.approx(5 * rep.dram_bytes + min(bg, bw) * 1e9 * 0.05 - _bg_lost(r, bg, bw, share),
                                  rel=1e-6)


def _bg_lost(r, bg, bw, share):
    """Background bytes not moved while the engine's transfers took their share."""
    if bg == 0.0:
        return 0.0
    bg_rate_contended = bw - share
    el = r.engine_log
    dma_seconds = (el[4] - el[2]).sum()
    return (bg - bg_rate_contended) * 1e9 * dma_seconds


def test_layers_without_a_unit_run_on_the_host(ne):
    hw = ne.replace(vector__lanes=0, name="no_vector")
    net = accelsim.load_model("mobilenet_v2")
    sc = scenario({"only": stream(MBV2, rate="50Hz", deadline="20ms")},
                  host={"gops": 10, "dram_gb_per_s": 4, "handoff": "20us"})
    svc = build_service(sc.streams[0], net, hw)
    assert [net.layers[i].op for i in np.nonzero(svc.on_host)[0]] == ["add"] * 10 + ["pool"]
    steps = svc.steps(1, hw, sc.host)
    # by hand: engine layers take their total; each host layer max(ops / rate + handoff, bytes / host bw)
    expected = 0.0
    for unit, time, nbytes, hide, i in steps:
        layer = net.layers[i]
        if unit == HOST:
            act, w = host_bytes(net, layer)
            compute = host_ops(layer) / 10.0 + 20e3    # cycles at 1 GHz: ops / (10 ops/cycle) + handoff
            expected += max(compute, (act + w) / 4.0)
        else:
            expected += svc.report.per_layer[T.O_TOTAL, i]
    r = simulate_system(sc, hw, duration="0.1s")
    lat = r.streams[0].finish - r.streams[0].arrival
    assert lat == pytest.approx(np.full(5, expected / 1e9), rel=1e-9)
    st = r.system_stats()
    assert st["host_layers"] == 5 * 11 and st["host_utilization"] > 0
    # an add has 2 x 1 inputs + 1 output of activations on the host
    add = next(layer for layer in net.layers if layer.op == "add")
    assert host_bytes(net, add)[0] == 3 * add.output_elements and host_ops(add) == add.output_elements


def test_host_ops_listed_in_the_scenario_and_host_traffic_slows_the_engine(ne):
    # 'big' sends its last conv to the CPU; while it runs there, its DRAM traffic competes with the
    # engine's transfers for the other stream
    alone = simulate_system(scenario({"eng": stream(SMALL_MBV2, rate="1000Hz", deadline="5ms")}), ne,
                            duration="0.1s")
    both = simulate_system(scenario({"eng": stream(SMALL_MBV2, rate="1000Hz", deadline="5ms"),
                                     "big": stream(MBV2, rate="200Hz", deadline="50ms", host_ops=["conv"])},
                                    host={"cores": 4, "gops": 1000, "dram_gb_per_s": 25.6}), ne, duration="0.1s")
    assert both.system_stats()["host_layers"] > 0
    a, b = alone.stream_stats()[0], both.stream_stats()[0]
    assert b["latency_mean_ms"] > a["latency_mean_ms"] * 1.05
    assert b["latency_p50_ms"] >= a["latency_p50_ms"] - 1e-12


def test_host_ops_pattern_that_matches_nothing_is_an_error(ne):
    sc = scenario({"s": stream(MBV2, host_ops=["softmax"])})
    with pytest.raises(ConfigError, match=r"<test>: streams.s.host_ops: 'softmax' matches no op kind or layer"):
        simulate_system(sc, ne, duration="0.01s")


def test_batched_layers_read_weights_once(ne):
    net = accelsim.load_model("mobilenet_v2")
    sc = scenario({"b": stream(MBV2, rate="100Hz", deadline="50ms", batch={"size": 4})})
    svc = build_service(sc.streams[0], net, ne)
    one, four = svc.steps(1, ne, sc.host), svc.steps(4, ne, sc.host)
    pl = svc.report.per_layer
    for (_, t1, b1, _, i), (_, t4, b4, h4, _) in zip(one, four):
        layer = net.layers[i]
        w = min(layer.weight_elements, pl[T.O_DRAM_R, i])      # int8: one byte per weight
        assert b4 == pytest.approx(4 * b1 - 3 * w)
        assert t1 <= t4 <= 4 * t1 + 1e-9
        assert t4 >= b4 / ne.dram_bytes_per_cycle - 1e-9 and t4 >= 4 * pl[T.O_COMPUTE, i]
    assert sum(s[1] for s in four) < 4 * sum(s[1] for s in one)


def test_batching_raises_capacity_and_waits_for_a_full_batch(ne):
    # MobileNetV2 at 96x96 takes 0.351 ms alone (capacity 2,850/s) and 0.259 ms per request in batches
    # of 8 (3,870/s): 3,300 requests/s overload the engine one by one but not in batches
    over = {"b": stream({"model": "mobilenet_v2", "options": {"resolution": 96}}, rate="3300Hz", deadline="20ms")}
    unbatched = simulate_system(scenario(over), ne, duration="0.3s")
    over["b"]["batch"] = {"size": 8}
    batched = simulate_system(scenario(over), ne, duration="0.3s")
    assert unbatched.stream_stats()[0]["throughput_per_s"] < 2900
    assert batched.stream_stats()[0]["throughput_per_s"] == pytest.approx(3300, rel=0.02)
    assert batched.stream_stats()[0]["mean_batch"] > 1.0
    # with a wait, requests gather into batches of exactly the size (periodic, light load)
    sc = scenario({"b": stream(IBN, rate="1000Hz", deadline="20ms", batch={"size": 4, "wait": "10ms"})})
    r = simulate_system(sc, ne, duration="0.1s")
    s = r.streams[0]
    done = ~np.isnan(s.finish)
    assert np.all(s.batch[done] == 4)
    # the first request of each batch waited for the three after it (3 ms at 1 kHz)
    assert r.stream_stats()[0]["queue_mean_ms"] == pytest.approx(1.5, abs=1e-6)


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------
def test_chrome_trace_has_complete_events_on_separate_tracks(ne):
    sc = scenario({"a": stream(MBV2, rate="500Hz", deadline="1.5ms"),
                   "b": stream(IBN, rate="1000Hz", deadline="1ms", host_ops=["*.project"])},
                  scheduler={"policy": "edf", "preemption": True})
    r = simulate_system(sc, ne, duration="0.02s")
    tr = r.chrome_trace()
    names = {e["tid"]: e["args"]["name"] for e in tr["traceEvents"] if e.get("name") == "thread_name"}
    assert {"engine", "dram", "a", "b", "host cpu 0"} <= set(names.values())
    xs = [e for e in tr["traceEvents"] if e["ph"] == "X"]
    assert all(e["dur"] >= 0 and "ts" in e for e in xs)
    engine_tid = next(t for t, n in names.items() if n == "engine")
    eng = sorted((e["ts"], e["ts"] + e["dur"]) for e in xs if e["tid"] == engine_tid)
    assert all(b0 <= a1 + 1e-6 for (_, b0), (a1, _) in zip(eng, eng[1:]))   # never two layers at once
    assert len(eng) == r.engine_log.shape[1]
    json.loads(r.chrome_trace_json())


def test_shipped_scenarios_parse_and_name_zoo_models():
    found = available_scenarios()
    assert {"smart_display", "camera"} <= set(found)
    for name, path in found.items():
        sc = load_scenario(path)
        assert sc.name == name
        for s in sc.streams:
            assert s.model in MODELS
    sd = load_scenario("smart_display")
    rates = {s.name: s.arrival.rate_hz for s in sd.streams}
    assert rates == {"keyword_spotter": 50.0, "detector": 15.0, "segmentation": 5.0}
    assert [s.model for s in sd.streams] == ["ds_cnn", "ssdlite_mobilenet_v2", "lraspp_mobilenet_v3"]


@pytest.mark.slow
def test_smart_display_meets_every_deadline_on_the_neural_engine():
    r = simulate_system("smart_display", "neural_engine", duration="5s")
    for s in r.stream_stats():
        assert s["miss_rate"] == 0.0
        assert s["throughput_per_s"] == pytest.approx(s["rate_hz"], rel=0.02)


# ---------------------------------------------------------------------------------------------
# Bad scenarios: one line naming file and key
# ---------------------------------------------------------------------------------------------
GOOD = """name: bad
streams:
  cam:
    model: mobilenet_v2
    arrival: {process: periodic, rate: 30fps}
    deadline: 33ms
"""

BAD = [
    ("model: mobilenet_v2", "model: mobilenet_v9", r"streams.cam.model: unknown model 'mobilenet_v9'; known models:"),
    ("rate: 30fps", "rate: -30fps", r"streams.cam.arrival.rate: expected a positive rate, got '-30fps'"),
    ("rate: 30fps", "rate: 30", r"streams.cam.arrival.rate: expected a rate with a unit"),
    ("deadline: 33ms", "deadline: 33", r"streams.cam.deadline: expected a duration with a unit.*got 33$"),
    ("deadline: 33ms", "deadline: 33 parsecs", r"streams.cam.deadline: expected a duration with a unit"),
    ("deadline: 33ms", "deadline: 33ms\n    deadlne: 40ms", r"streams.cam.deadlne: unknown key; expected one of"),
    ("name: bad", "name: bad\nbackground_dram_gb_per_s: -1", r"background_dram_gb_per_s: expected a number >= 0"),
    ("name: bad", "name: bad\nscheduler: {policy: lifo}", r"scheduler.policy: expected one of fifo, priority, edf"),
    ("name: bad", "name: bad\nhost: {cores: 0}", r"host.cores: expected an integer >= 1, got 0"),
    ("name: bad", "name: bad\nduration: 10", r"duration: expected a duration with a unit"),
    ("rate: 30fps}", "rate: 30fps, jitter: 40ms}", r"streams.cam.arrival.jitter: expected less than the period"),
    ("rate: 30fps}", "rate: 30fps, period: 33ms}", r"streams.cam.arrival: give exactly one of rate"),
    ("    deadline: 33ms\n", "", r"streams.cam.deadline: missing required key"),
    ("    deadline: 33ms\n", "    deadline: 33ms\n    batch: {size: 0}\n", r"streams.cam.batch.size: expected an integer >= 1"),
]


@pytest.mark.parametrize("old,new,message", BAD, ids=[b[2].split(":")[0] + str(i) for i, b in enumerate(BAD)])
def test_bad_scenario_is_one_line_naming_file_and_key(tmp_path, old, new, message):
    assert old in GOOD
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: ")
    assert __import__("re").search(message, text), text


def test_bad_model_option_names_the_stream(tmp_path, ne):
    path = tmp_path / "opt.yaml"
    path.write_text(GOOD.replace("model: mobilenet_v2", "model: mobilenet_v2\n    options: {depth: 3}"))
    with pytest.raises(ConfigError, match=r"opt.yaml: streams.cam.options: .*unknown option 'depth'"):
        simulate_system(path, ne, duration="0.01s")


def test_cli_runs_writes_outputs_and_sweeps(tmp_path, capsys):
    path = tmp_path / "two.yaml"
    path.write_text("""name: two
scheduler: {policy: edf, preemption: true}
streams:
  cam:
    model: mobilenet_v2
    options: {width: 0.5, resolution: 128}
    arrival: {process: periodic, rate: 200fps, jitter: 1ms}
    deadline: 5ms
  kws:
    model: ibn_block
    options: {resolution: 14, channels: 96}
    arrival: {process: poisson, rate: 100Hz}
    deadline: 2ms
    priority: 1
""")
    js, tr, png = tmp_path / "s.json", tmp_path / "t.json", tmp_path / "g.png"
    assert main(["system", "--scenario", str(path), "--hw", "neural_engine", "--duration", "0.1s", "--seed", "2",
                 "--json", str(js), "--trace", str(tr), "--gantt", str(png)]) == 0
    out = capsys.readouterr().out
    assert "cam" in out and "kws" in out and "p99 ms" in out and "engine" in out
    data = json.loads(js.read_text())
    assert [s["stream"] for s in data["streams"]] == ["cam", "kws"]
    assert data["system"]["seed"] == 2
    assert any(e["ph"] == "X" for e in json.loads(tr.read_text())["traceEvents"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert main(["system", "--scenario", str(path), "--sweep", "neural_engine", "edge_tpu_like", "eyeriss_like",
                 "--duration", "0.1s"]) == 0
    out = capsys.readouterr().out
    assert "smallest config with no deadline miss on every stream: neural_engine (5.08 mm2)" in out
    rows = sweep(path, ["neural_engine", "edge_tpu_like", "eyeriss_like"], duration="0.1s")
    assert not rows[2].meets(0.0) and smallest_meeting(rows).hardware == "neural_engine"
    # a looser threshold admits more, never fewer
    assert smallest_meeting(rows, 1.0).area_mm2 <= smallest_meeting(rows).area_mm2


def test_cli_bad_scenario_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace("deadline: 33ms", "deadline: 33"))
    assert main(["system", "--scenario", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("accelsim: error: ") and "streams.cam.deadline" in err
    assert main(["system", "--scenario", str(path).replace("bad", "missing")]) == 2
    assert "no such file or scenario name" in capsys.readouterr().err
    assert main(["system", "--scenario", "smart_display", "--hw", "neural_engine", "--sweep"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["system", "--scenario", "smart_display", "--duration", "10"]) == 2
    assert "--duration: expected a duration with a unit" in capsys.readouterr().err
    proc = subprocess.run([sys.executable, "-m", "accelsim.cli", "system", "--scenario", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


# ---------------------------------------------------------------------------------------------
# Long runs: pinned results, progress, Ctrl-C, bounds
# ---------------------------------------------------------------------------------------------
class _PinNet:
    def __init__(self, name, n):
        self.name = name
        self.layers = tuple(type("Layer", (), {"name": f"l{i}"})() for i in range(n))


class _PinService:
    """Fixed layer steps, shaped as build_service shapes them (so the pin does not move when the
    engine's numbers do): an engine layer of ``compute`` cycles moving ``bytes`` takes
    max(compute, bytes / bw) plus a tenth of the transfer as exposed stall and hides its transfer for
    max(compute, bytes / bw); a host layer hides for its whole time."""

    BW = 25.6   # bytes per cycle of the pinned hardware

    def __init__(self, name, layers):
        self.network = _PinNet(name, len(layers))
        self.layers = layers
        self.engine_latency_cycles = float(sum(self._step(*layer, 1)[1] for layer in layers if layer[0] == 0))

    def _step(self, unit, compute, nbytes, batch):
        c, b = compute * batch, nbytes * batch
        if unit == HOST:
            return (HOST, c, b, c)
        hide = max(c, b / self.BW)
        return (0, hide + 0.1 * b / self.BW, b, hide)

    def steps(self, batch, hw, host):
        return [(*self._step(*layer, batch), i) for i, layer in enumerate(self.layers)]


PIN_SCENARIO = {
    "name": "pin", "seed": 5, "host": {"cores": 2, "gops": 20, "dram_gb_per_s": 6.4}, "background_dram_gb_per_s": 2.0,
    "streams": {
        "a": {"model": "ibn_block", "arrival": {"process": "periodic", "rate": "3kHz", "jitter": "0.3ms"},
              "deadline": "2ms", "priority": 1},
        "b": {"model": "ibn_block", "arrival": {"process": "poisson", "rate": "6kHz"}, "deadline": "1ms",
              "priority": 2, "batch": {"size": 4, "wait": "0.2ms"}},
        "c": {"model": "ibn_block", "arrival": {"process": "periodic", "rate": "1200Hz", "offset": "1ms"},
              "deadline": "5ms", "batch": 3}}}


def _pin_services():
    return {"a": _PinService("net_a", [(0, 20000.0, 400000.0), (0, 5000.0, 0.0), (HOST, 30000.0, 200000.0),
                                       (0, 12000.0, 900000.0), (0, 8000.0, 50000.0)]),
            "b": _PinService("net_b", [(0, 3000.0, 100000.0), (0, 7000.0, 20000.0), (0, 1500.0, 0.0)]),
            "c": _PinService("net_c", [(HOST, 9000.0, 30000.0), (0, 40000.0, 2000000.0)])}


def _pin_run(monkeypatch, policy, preemption, cores, **kwargs):
    import accelsim.system.run as R
    services = _pin_services()
    monkeypatch.setattr(R, "build_service", lambda spec, net, hw, source: services[spec.name])
    monkeypatch.setattr(R, "shared_weights_hardware", lambda hw, nets: hw)
    sc = scenario_from_dict({**PIN_SCENARIO, "scheduler": {"policy": policy, "preemption": preemption},
                             "host": {**PIN_SCENARIO["host"], "cores": cores}}, "<pin>")
    hw = accelsim.load_hardware("neural_engine").replace(array__clock_mhz=1000.0, dram__bandwidth_gb_per_s=25.6)
    return simulate_system(sc, hw, duration="0.2s", networks={k: None for k in services}, **kwargs)


def _digest(r) -> str:
    import hashlib
    h = hashlib.sha256()
    for a in (r.engine_log, r.host_log, r.dram_rate_log):
        h.update(np.ascontiguousarray(a).tobytes())
    for s in r.streams:
        for a in (s.arrival, s.start, s.finish, s.batch):
            h.update(np.ascontiguousarray(a).tobytes())
    h.update(repr(tuple(float(x) for x in (r.engine_busy_s, r.host_busy_s, r.dram_bytes, r.background_bytes))).encode())
    return h.hexdigest()


# Captured from the model before its event loop was optimised (Python floats instead of numpy scalars,
# float64 arrays instead of lists of tuples for the logs, no closure per DRAM wake-up, no reference
# cycle per transfer): every logged time, every request's times and the totals, bit for bit.
PINNED = {
    ("edf", True, 2): ("02f0619c6c5d2ce10f4b85e756b02dd31775bfbae863cc06fdee7e7024490cc1",
                       (0.22760238453140996, 0.30302411990951406, 0.18583912649488474), 0.42057449121648566),
    ("fifo", False, 1): ("9620093f49e0a3714d3304b2d620880cb7e424ed32295651a7bc361e5ebb81a8",
                         (0.22805943094695186, 0.30328210405941913, 0.1736435879715187), 0.4209437897037341),
}


@pytest.mark.parametrize("policy, preemption, cores", list(PINNED))
def test_pinned_results_of_a_small_scenario_bit_for_bit(monkeypatch, policy, preemption, cores):
    digest, p99_ms, engine_utilization = PINNED[policy, preemption, cores]
    r = _pin_run(monkeypatch, policy, preemption, cores)
    stats = r.stream_stats()
    assert [s["completed"] for s in stats] == [599, 1193, 239]
    assert tuple(s["completed_latency_p99_ms"] for s in stats) == p99_ms
    assert r.system_stats()["engine_utilization"] == engine_utilization
    assert (r.engine_log.shape[1], r.host_log.shape[1]) == (4269, 838)
    assert _digest(r) == digest
    # advancing in slices to report progress processes the same events in the same order
    assert _digest(_pin_run(monkeypatch, policy, preemption, cores, progress=True)) == digest


def test_progress_bar_shows_simulated_time_once_a_run_is_slow(monkeypatch, capsys):
    import accelsim.system.run as R
    monkeypatch.setattr(R, "PROGRESS_DELAY_S", 0.0)
    capsys.readouterr()
    _pin_run(monkeypatch, "edf", True, 2, progress=True)
    err = capsys.readouterr().err
    assert __import__("re").search(r"pin on neural_engine: +\d+%\|.*\| [\d.]+/0.2 s simulated", err), err
    _pin_run(monkeypatch, "edf", True, 2, progress=None)   # automatic: stderr is not a terminal here
    _pin_run(monkeypatch, "edf", True, 2)                  # the library's default: no bar
    assert capsys.readouterr().err == ""


def test_a_step_hiding_its_transfer_longer_than_it_takes_ends_when_its_bytes_are_in(monkeypatch):
    """A step whose hide exceeds its time used to wake the DRAM port at the same instant forever; the
    layer now ends when its bytes are in (bytes / bandwidth with the port to itself)."""
    import accelsim.system.run as R

    class Odd(_PinService):
        def steps(self, batch, hw, host):
            return [(0, 1000.0, 128000.0, 5000.0, 0)]   # 128000 B at 25.6 B/cycle: 5000 cycles

    monkeypatch.setattr(R, "build_service", lambda spec, net, hw, source: Odd("odd", [(0, 1.0, 0.0)]))
    monkeypatch.setattr(R, "shared_weights_hardware", lambda hw, nets: hw)
    sc = scenario({"only": stream(IBN, rate="1kHz", deadline="1ms")})
    hw = accelsim.load_hardware("neural_engine").replace(array__clock_mhz=1000.0, dram__bandwidth_gb_per_s=25.6)
    with time_limit(20):
        r = simulate_system(sc, hw, duration="5ms", networks={"only": None})
    assert r.engine_log.shape[1] == 5
    assert (r.engine_log[3] - r.engine_log[2]) * 1e9 == pytest.approx(np.full(5, 5000.0), rel=1e-12)




CTRL_C_CHILD = """
import os, signal, sys, threading, time
import accelsim.system.model as M
from accelsim.cli import main
run, sent = M.SystemModel.run, []

def interrupt():
    sent.append(time.perf_counter())
    os.kill(os.getpid(), signal.SIGINT)

def run_then_interrupt(self, progress=None):   # the signal arrives while the event loop runs
    threading.Timer(0.5, interrupt).start()
    return run(self, progress)

M.SystemModel.run = run_then_interrupt
rc = main(sys.argv[1:])
print(f"{time.perf_counter() - sent[0]:.3f}")
sys.exit(rc)
"""


def test_ctrl_c_stops_a_long_run_promptly_with_one_line(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text("name: long\nstreams:\n  kws:\n    model: ibn_block\n    options: {resolution: 14}\n"
                    "    arrival: {process: periodic, rate: 5kHz}\n    deadline: 1ms\n")
    proc = subprocess.run([sys.executable, "-c", CTRL_C_CHILD, "system", "--scenario", str(path), "--duration", "190s",
                           "--json", str(tmp_path / "out.json")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("accelsim: interrupted: long on neural_engine stopped after ")
    assert proc.stderr.rstrip().endswith("of 190s simulated")
    assert float(proc.stdout.split()[-1]) < 2.0, "stopped within two seconds of the signal"
    assert not (tmp_path / "out.json").exists()


def test_quiet_system_run_prints_nothing_and_writes_json(tmp_path, capsys):
    js = tmp_path / "s.json"
    path = tmp_path / "one.yaml"
    path.write_text("name: one\nstreams:\n  kws:\n    model: ibn_block\n    arrival: {process: periodic, rate: 100Hz}\n"
                    "    deadline: 1ms\n")
    capsys.readouterr()
    assert main(["system", "--scenario", str(path), "--duration", "0.1s", "--quiet", "--no-table", "--json",
                 str(js)]) == 0
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert json.loads(js.read_text())["streams"][0]["completed"] == 10


def test_absurd_durations_are_refused_before_the_run(tmp_path, capsys):
    # more requests than MAX_REQUESTS: refused before any network is built
    assert main(["system", "--scenario", "smart_display", "--duration", "30000s"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "accelsim: error: --duration 30000s: 30000s at the streams' rates is 2.1e+06 requests; expected at most " \
           "1,000,000" in err
    # fewer requests, but each has many layers: refused once the networks are built, before simulating
    path = tmp_path / "deep.yaml"
    path.write_text(GOOD.replace("rate: 30fps", "rate: 100fps"))
    assert main(["system", "--scenario", str(path), "--duration", "9000s"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--duration 9000s: 9000s at the streams' rates is about" in err
    assert "layer events (9e+05 requests x their layers); expected at most 50,000,000" in err
    with pytest.raises(ConfigError, match=r"^--duration 9000s: .* expected at most 50,000,000"):
        simulate_system(path, "neural_engine", duration="9000s")
    with pytest.raises(ConfigError, match=r"^--duration 1e9s: expected at most 86400s"):
        simulate_system(path, "neural_engine", duration="1e9s")   # the library checks an explicit duration too
