"""accelsim.system under overload: statistics over every request, backlog, dropping late requests.

The hand-worked scenario: one stream whose every request takes exactly 4 ms on the engine (one
engine layer of 4,000,000 cycles at 1 GHz, no DRAM traffic), arriving every 1 ms from t = 0, run for
10 ms with FIFO. Request k arrives at k ms; with ``deadline_action: finish`` request k runs from 4k
to 4k + 4 ms, so requests 0 and 1 complete (latencies 4 and 7 ms), request 2 is running at the end
(age 8 ms) and requests 3..9 are queued (ages 7..1 ms).
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

import accelsim
import accelsim.system.run as R
from accelsim.errors import ConfigError
from accelsim.system import SweepRow, load_scenario, scenario_from_dict, simulate_system, sweep_table
from accelsim.system.plots import binned_steps, count_over_time, plot_gantt
from accelsim.system.service import ENGINE
from test_system import PIN_SCENARIO, PINNED, _digest, _pin_services

MS = 1e-3


class FixedService:
    """A network of one engine layer of ``cycles`` (times the batch size), moving no DRAM bytes."""

    def __init__(self, name: str, cycles: float):
        self.network = SimpleNamespace(name=name, layers=(SimpleNamespace(name="l0"),))
        self.cycles = cycles
        self.engine_latency_cycles = float(cycles)

    def steps(self, batch, hw, host):
        c = self.cycles * batch
        return [(ENGINE, c, 0.0, c, 0)]


@pytest.fixture(scope="module")
def hw():
    return accelsim.load_hardware("neural_engine").replace(array__clock_mhz=1000.0, dram__bandwidth_gb_per_s=25.6)


def stream(rate="1kHz", deadline="4.5ms", **extra):
    arrival = {"process": "periodic", "rate": rate, **extra.pop("arrival", {})}
    return {"model": "ibn_block", "arrival": arrival, "deadline": deadline, **extra}


def run(monkeypatch, hw, streams: dict, services: dict, duration="10ms", **top):
    monkeypatch.setattr(R, "build_service", lambda spec, net, hw, source: services[spec.name])
    monkeypatch.setattr(R, "shared_weights_hardware", lambda hw, nets: hw)
    sc = scenario_from_dict({"name": "over", "streams": streams, **top}, "<over>")
    return simulate_system(sc, hw, duration=duration, networks={k: None for k in streams})


def four_ms(monkeypatch, hw, action: str):
    return run(monkeypatch, hw, {"s": stream(deadline_action=action)}, {"s": FixedService("four_ms", 4e6)})


def no_nan(stats: dict) -> bool:
    return all(not (isinstance(v, float) and math.isnan(v)) for v in stats.values())


# ---------------------------------------------------------------------------------------------
# The hand-worked overloaded stream
# ---------------------------------------------------------------------------------------------
def test_percentiles_count_unfinished_requests_at_their_age(monkeypatch, hw):
    r = four_ms(monkeypatch, hw, "finish")
    s = r.stream_stats()[0]
    assert (s["arrived"], s["completed"], s["dropped"]) == (10, 2, 0)
    # latencies 4, 7 (completed), 8 (running), 7, 6, 5, 4, 3, 2, 1 (queued): sorted 1 2 3 4 4 5 6 7 7 8
    assert s["latency_p50_ms"] == pytest.approx(4.5)            # (4 + 5) / 2
    assert s["latency_p95_ms"] == pytest.approx(7.55)           # position 8.55: 7 + 0.55 x (8 - 7)
    assert s["latency_p99_ms"] == pytest.approx(7.91)           # position 8.91
    assert s["latency_mean_ms"] == pytest.approx(4.7)           # 47 / 10
    assert s["latency_max_ms"] == pytest.approx(8.0)
    # completed only: 4 and 7 (what the table used to show)
    assert s["completed_latency_p50_ms"] == pytest.approx(5.5)
    assert s["completed_latency_p99_ms"] == pytest.approx(6.97)
    # backlog: request 2 (running since 8 ms) and 3..9 (queued); the oldest arrived at 2 ms
    assert s["backlog"] == 8
    assert s["backlog_oldest_age_ms"] == pytest.approx(8.0)
    # queueing delay: 0, 3, 6 (started), then the ages 7..1 of the queued: 37 / 10
    assert s["queue_mean_ms"] == pytest.approx(3.7)
    # deadline 4.5 ms: request 1 completed late; 2..5 are unfinished with their deadline (6.5..9.5 ms) passed
    assert (s["missed"], s["decided"]) == (5, 6)
    assert s["throughput_per_s"] == pytest.approx(200.0)
    assert s["note"] == ""
    assert r.streams[0].finish[:2] * 1e3 == pytest.approx([4.0, 8.0])


def test_drop_drops_exactly_the_requests_counted_by_hand(monkeypatch, hw):
    r = four_ms(monkeypatch, hw, "drop")
    rec, s = r.streams[0], r.stream_stats()[0]
    # 0 runs 0-4 ms; 1 (deadline 5.5 ms) runs 4-8 ms; 2 and 3 are dropped at 6.5 and 7.5 ms while
    # waiting; 4 (deadline 8.5 ms) starts at 8 ms and is running at the end; 5 is dropped at 9.5 ms;
    # 6..9 are queued with their deadlines (10.5..13.5 ms) beyond the window
    assert np.flatnonzero(rec.dropped).tolist() == [2, 3, 5]
    assert np.isnan(rec.start[[2, 3, 5]]).all()
    assert rec.start[[0, 1, 4]] * 1e3 == pytest.approx([0.0, 4.0, 8.0])
    assert (s["completed"], s["dropped"], s["backlog"]) == (2, 3, 5)
    assert s["backlog_oldest_age_ms"] == pytest.approx(6.0)     # request 4, arrived at 4 ms
    # served: 4, 7 (completed), 6 (running), 4, 3, 2, 1 (queued): sorted 1 2 3 4 4 6 7
    assert s["latency_p50_ms"] == pytest.approx(4.0)
    assert s["latency_p99_ms"] == pytest.approx(6.94)           # position 5.94: 6 + 0.94
    assert s["latency_mean_ms"] == pytest.approx(27 / 7)
    assert s["queue_mean_ms"] == pytest.approx(17 / 7)          # 0, 3, 4, then ages 4, 3, 2, 1
    # missed: 1 late completion + 3 dropped + request 4 (deadline 8.5 ms, unfinished); decided adds request 0
    assert (s["missed"], s["decided"]) == (5, 6)
    assert s["deadline_action"] == "drop"
    # the trace shows each dropped request from its arrival to its deadline, and marks the drop there
    events = r.chrome_trace()["traceEvents"]
    dropped = [e for e in events if e["ph"] == "X" and e.get("args", {}).get("dropped")]
    assert [e["name"] for e in dropped] == ["s #2", "s #3", "s #5"]
    assert [e["dur"] for e in dropped] == pytest.approx([4500.0] * 3)
    assert sum(e["ph"] == "i" and e["name"] == "dropped" for e in events) == 3


def test_finish_is_todays_behaviour_bit_for_bit(monkeypatch):
    """The pinned scenario of test_system (batching, host cores, DRAM contention) with every stream
    saying ``deadline_action: finish`` gives the digest pinned before the option existed."""
    services = _pin_services()
    monkeypatch.setattr(R, "build_service", lambda spec, net, hw, source: services[spec.name])
    monkeypatch.setattr(R, "shared_weights_hardware", lambda hw, nets: hw)
    hw = accelsim.load_hardware("neural_engine").replace(array__clock_mhz=1000.0, dram__bandwidth_gb_per_s=25.6)
    for (policy, preemption, cores), (digest, p99_ms, _) in PINNED.items():
        data = {**PIN_SCENARIO, "scheduler": {"policy": policy, "preemption": preemption},
                "host": {**PIN_SCENARIO["host"], "cores": cores},
                "streams": {k: {**v, "deadline_action": "finish"} for k, v in PIN_SCENARIO["streams"].items()}}
        nets = {k: None for k in services}
        r = simulate_system(scenario_from_dict(data, "<pin>"), hw, duration="0.2s", networks=nets)
        assert _digest(r) == digest
        # completed-only percentiles are the ones pinned then
        assert tuple(s["completed_latency_p99_ms"] for s in r.stream_stats()) == p99_ms

        # with drop and deadlines tight enough to drop some (while queued, forming a batch or waiting for
        # a host core): a started request started before its deadline; one never started either was
        # dropped (its deadline inside the window) or still has its deadline ahead
        tight = {"a": "0.08ms", "b": "0.15ms", "c": "0.15ms"}
        drop = {**data, "streams": {k: {**v, "deadline": tight[k], "deadline_action": "drop"}
                                    for k, v in data["streams"].items()}}
        d = simulate_system(scenario_from_dict(drop, "<pin>"), hw, duration="0.2s", networks=nets)
        a, b, _ = d.stream_stats()
        assert a["dropped"] > 0 and b["dropped"] > 0
        for s in d.streams:
            due = s.arrival + s.deadline_s
            started = ~np.isnan(s.start)
            assert (s.start[started] < due[started]).all()
            assert not (s.dropped & started).any()
            assert (due[s.dropped] < 0.2).all()
            assert (due[~started & ~s.dropped] >= 0.2 - 1e-12).all()


def test_drop_rule_holds_for_batches_forming_and_requests_waiting_for_a_host_core(monkeypatch):
    """'c' starts on the host CPU (one core, often held by 'a'), 'b' forms batches of up to 4 for 0.1 ms:
    requests are dropped while waiting for the core and while their batch forms; the survivors of a
    batch run as a smaller batch."""
    services = _pin_services()
    monkeypatch.setattr(R, "build_service", lambda spec, net, hw, source: services[spec.name])
    monkeypatch.setattr(R, "shared_weights_hardware", lambda hw, nets: hw)
    hw = accelsim.load_hardware("neural_engine").replace(array__clock_mhz=1000.0, dram__bandwidth_gb_per_s=25.6)
    streams = dict(PIN_SCENARIO["streams"])
    streams["b"] = {**streams["b"], "deadline": "0.3ms", "deadline_action": "drop",
                    "batch": {"size": 4, "wait": "0.1ms"}}
    streams["c"] = {**streams["c"], "arrival": {"process": "poisson", "rate": "20kHz"}, "deadline": "0.02ms",
                    "deadline_action": "drop"}
    data = {**PIN_SCENARIO, "host": {**PIN_SCENARIO["host"], "cores": 1}, "streams": streams,
            "scheduler": {"policy": "fifo"}}
    r = simulate_system(scenario_from_dict(data, "<pin>"), hw, duration="50ms", networks={k: None for k in services})
    a, b, c = r.stream_stats()
    assert a["dropped"] == 0 and b["dropped"] > 0 and c["dropped"] > 0
    for s in r.streams[1:]:
        due = s.arrival + s.deadline_s
        started = ~np.isnan(s.start)
        assert (s.start[started] < due[started]).all()         # nothing starts after its deadline
        assert (due[s.dropped] < 0.05).all() and not (s.dropped & started).any()
        assert (due[~started & ~s.dropped] >= 0.05 - 1e-12).all()   # the rest still had time
    assert set(np.unique(r.streams[1].batch[~np.isnan(r.streams[1].start)])) <= {1, 2, 3, 4}


def test_drop_without_late_requests_changes_nothing(monkeypatch, hw):
    streams = {"s": stream(rate="100Hz", deadline="5ms")}
    svc = {"s": FixedService("one_ms", 1e6)}
    finish = run(monkeypatch, hw, streams, svc, duration="0.1s")
    drop = run(monkeypatch, hw, {"s": {**streams["s"], "deadline_action": "drop"}}, svc, duration="0.1s")
    assert _digest(finish) == _digest(drop)
    assert drop.stream_stats()[0]["dropped"] == 0


# ---------------------------------------------------------------------------------------------
# Streams with nothing to count: None and a reason, never NaN
# ---------------------------------------------------------------------------------------------
def test_no_nan_for_streams_without_completions(monkeypatch, hw):
    streams = {
        # no request in the window: the first arrives at 20 ms
        "silent_stream_with_a_long_name": stream(arrival={"offset": "20ms"}),
        # every request takes 50 ms: none completes in 10 ms
        "slow": stream(rate="500Hz", deadline="100ms", priority=1),
        # waits behind 'slow' (higher priority, no preemption) until its deadline: all five dropped
        "victim": stream(rate="500Hz", deadline="1ms", arrival={"offset": "0.5ms"}, deadline_action="drop"),
    }
    services = {"silent_stream_with_a_long_name": FixedService("a", 1e6), "slow": FixedService("b", 50e6),
                "victim": FixedService("c", 1e5)}
    r = run(monkeypatch, hw, streams, services, scheduler={"policy": "priority"})
    silent, slow, victim = r.stream_stats()
    for s in (silent, slow, victim):
        assert no_nan(s), s
    json.dumps(r.to_dict(), allow_nan=False)

    assert silent["arrived"] == 0 and silent["latency_p99_ms"] is None and silent["queue_mean_ms"] is None
    assert silent["backlog_oldest_age_ms"] is None and silent["mean_batch"] is None
    assert silent["note"] == "no request arrived in the 10ms window"

    # 'slow': 5 requests (0, 2, ..., 8 ms), the first running since 0: ages 10, 8, 6, 4, 2 ms
    assert (slow["completed"], slow["backlog"]) == (0, 5)
    assert slow["latency_p50_ms"] == pytest.approx(6.0) and slow["backlog_oldest_age_ms"] == pytest.approx(10.0)
    assert slow["completed_latency_p99_ms"] is None
    assert slow["note"].startswith("none of the 5 requests served completed")

    # 'victim': arrivals 0.5, 2.5, ..., 8.5 ms, deadlines 1 ms later, the engine busy with 'slow' throughout
    assert (victim["arrived"], victim["dropped"], victim["backlog"]) == (5, 5, 0)
    assert victim["latency_p50_ms"] is None and victim["queue_mean_ms"] is None
    assert victim["miss_rate"] == 1.0
    assert victim["note"] == "all 5 requests were dropped (their deadline passed before they started)"

    table = r.table()
    assert "nan" not in table.lower()
    assert "silent_stream_with_a_long_name: – no request arrived in the 10ms window" in table
    row = next(line for line in table.splitlines() if line.startswith("silent_stream_with_a_long_name "))
    assert row.count("–") >= 5
    assert "dropped" in table.splitlines()[0]
    sweep = sweep_table([SweepRow("neural_engine", 5.08, r, None)])
    assert "silent_stream_with_a_long_name p99" in sweep and "nan" not in sweep.lower()


# ---------------------------------------------------------------------------------------------
# The schema
# ---------------------------------------------------------------------------------------------
GOOD = """name: bad
streams:
  cam:
    model: mobilenet_v2
    arrival: {process: periodic, rate: 30fps}
    deadline: 33ms
    deadline_action: drop
"""


@pytest.mark.parametrize("value, message", [
    ("skip", "streams.cam.deadline_action: expected one of finish, drop, got 'skip'"),
    ("1", "streams.cam.deadline_action: expected one of finish, drop, got 1"),
    ("[drop]", "streams.cam.deadline_action: expected one of finish, drop, got ['drop']"),
])
def test_bad_deadline_action_is_one_line_naming_file_and_key(tmp_path, value, message):
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace("deadline_action: drop", f"deadline_action: {value}"))
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    text = str(info.value)
    assert "\n" not in text
    assert text == f"{path}: {message}"


def test_deadline_action_reads_and_defaults_to_finish(tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    assert load_scenario(path).streams[0].deadline_action == "drop"
    path.write_text(GOOD.replace("    deadline_action: drop\n", ""))
    assert load_scenario(path).streams[0].deadline_action == "finish"


# ---------------------------------------------------------------------------------------------
# The Gantt chart's helpers, and the chart of an overloaded run
# ---------------------------------------------------------------------------------------------
def test_count_over_time_and_binned_steps_by_hand():
    t, n = count_over_time(np.array([0.0, 1.0, 2.0]), np.array([4.0, 3.0, 10.0]))
    assert t.tolist() == [0, 1, 2, 3, 4, 10] and n.tolist() == [1, 2, 3, 2, 1, 0]
    t, n = count_over_time(np.array([0.0, 1.0]), np.array([1.0, 2.0]))   # a leave before an enter at 1
    assert n.tolist() == [1, 0, 1, 0]
    # 2 GB/s on [0, 1), 6 on [1, 1.5), 0 from 1.5 on; bins [0, 1), [1, 2)
    mean, lo, hi = binned_steps(np.array([0.0, 1.0, 1.5]), np.array([2.0, 6.0, 0.0]), np.array([0.0, 1.0, 2.0]))
    assert mean.tolist() == [2.0, 3.0] and lo.tolist() == [2.0, 0.0] and hi.tolist() == [2.0, 6.0]


def test_gantt_of_an_overloaded_run_with_drops(monkeypatch, hw, tmp_path):
    streams = {"keyword_spotter": stream(deadline_action="drop"), "backlogged": stream(rate="2kHz", deadline="3ms")}
    r = run(monkeypatch, hw, streams, {"keyword_spotter": FixedService("kws", 1e6),
                                       "backlogged": FixedService("big", 2e6)}, duration="40ms")
    assert r.stream_stats()[1]["backlog"] > 20
    png = tmp_path / "g.png"
    plot_gantt(r, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_building_the_models_shows_progress_too(monkeypatch, hw, capsys):
    monkeypatch.setattr(R, "PROGRESS_DELAY_S", 0.0)
    monkeypatch.setattr(R, "build_service", lambda spec, net, hw, source: FixedService("one_ms", 1e6))
    monkeypatch.setattr(R, "shared_weights_hardware", lambda hw, nets: hw)
    sc = scenario_from_dict({"name": "over", "streams": {"s": stream()}}, "<over>")
    capsys.readouterr()
    simulate_system(sc, hw, duration="10ms", networks={"s": None}, progress=True)
    err = capsys.readouterr().err
    assert "over on neural_engine:" in err and "/1 models and service times built" in err
    simulate_system(sc, hw, duration="10ms", networks={"s": None})   # the library's default: silent
    assert capsys.readouterr().err == ""
