"""An estimator is honest outside its training ranges: the checkpoint keeps each family's feature
ranges, a prediction outside them warns once per call naming the feature and how far out, and
``scorer: {estimator: ..., fallback: engine}`` simulates such designs with the engine instead."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import yaml

import accelsim
from codesign.errors import CodesignError
from codesign.estimator.dataset import DatasetRequest, generate, load_dataset
from codesign.estimator.model import EstimatorRangeWarning, Estimator, TrainConfig, train_estimator
from codesign.search import problems as P
from codesign.search.runconfig import load_run_config
from codesign.spaces.space import HardwareSpace, NetworkSpace, build_network

# trained on output-stationary 32x32 arrays only: any other dataflow or array shape is outside
SPACE = dict(rows=(32,), cols=(32,), dataflows=("os",))


@pytest.fixture(scope="module")
def est(tmp_path_factory):
    root = tmp_path_factory.mktemp("ranges")
    req = DatasetRequest(operators=1500, blocks=500, networks=24, hardware=4, hw_per_network=2, format="npz",
                         hardware_space=HardwareSpace(**SPACE))
    generate(req, root / "train", progress=False)
    model = train_estimator(load_dataset(root / "train"), TrainConfig(hidden=32, depth=2, epochs=3, threads=1),
                            progress=False)
    model.save(root / "est.pt")
    return {"model": model, "path": root / "est.pt", "root": root}


def _nets(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return [build_network(NetworkSpace().sample(rng)) for _ in range(n)]


def test_ranges_are_kept_per_family_and_survive_save_load(est):
    model = est["model"]
    loaded = Estimator.load(est["path"])
    for name, fm in model.families.items():
        assert fm.x_min is not None and np.all(fm.x_min <= fm.x_max)
        np.testing.assert_array_equal(loaded.families[name].x_min, fm.x_min)
        np.testing.assert_array_equal(loaded.families[name].x_max, fm.x_max)
    # the dataflow was fixed in training: its one-hot features have no span at all
    from codesign.estimator.features import FEATURE_NAMES
    conv = model.families["conv_1x1"]
    i = FEATURE_NAMES.index("df_ws")
    assert conv.x_min[i] == conv.x_max[i] == 0.0


def test_all_inside_says_what_beyond_says(est):
    """The comparisons-only range check (what a prediction tries first) is True exactly when
    beyond() is zero everywhere: values at, inside and past the tolerance, infinities and NaN."""
    rng = np.random.default_rng(3)
    for fm in est["model"].families.values():
        lo, hi = fm.x_min, fm.x_max
        for trial in range(60):
            X = lo + (hi - lo) * rng.uniform(-0.2, 1.2, size=(int(rng.integers(1, 6)), len(lo)))
            if trial % 3 == 0:
                X = np.clip(X, lo, hi)            # all inside
            if trial % 7 == 1:
                X[0, int(rng.integers(len(lo)))] = [np.nan, np.inf, -np.inf][trial % 3]
            assert fm.all_inside(X) == bool((fm.beyond(X) == 0).all() and not np.isnan(X).any()), trial


def test_a_design_inside_the_ranges_predicts_without_a_warning(est):
    hw = accelsim.load_hardware("neural_engine")
    with warnings.catch_warnings():
        warnings.simplefilter("error", EstimatorRangeWarning)
        pred = est["model"].predict_pairs(_nets(), [hw] * 3)
    assert pred["in_range"].tolist() == [True, True, True]


def test_outside_the_ranges_warns_once_per_call_naming_the_feature(est):
    ws = accelsim.load_hardware("neural_engine").replace(name="ws_engine", array__dataflow="ws")
    nets = _nets(4)
    hw = accelsim.load_hardware("neural_engine")
    with pytest.warns(EstimatorRangeWarning) as record:
        pred = est["model"].predict_pairs(nets, [ws, hw, ws, hw])
    assert len(record) == 1
    msg = str(record[0].message)
    assert "2 of 4 predictions lie outside" in msg and "on ws_engine" in msg
    import re
    m = re.search(r"feature (\w+) = ([-\d.e]+), ([\d.e]+) above the trained ([-\d.e]+)\.\.([-\d.e]+);", msg)
    assert m, msg
    value, above, hi = float(m[2]), float(m[3]), float(m[5])
    assert above == pytest.approx(value - hi, rel=0.01) and above > 0.05   # 3 significant digits
    assert "\n" not in msg
    assert pred["in_range"].tolist() == [False, True, False, True]
    with warnings.catch_warnings():
        warnings.simplefilter("error", EstimatorRangeWarning)
        est["model"].predict_pairs(nets, [ws] * 4, out_of_range="ignore")
    with pytest.raises(CodesignError, match="out_of_range: expected warn or ignore"):
        est["model"].predict_pairs(nets, [ws] * 4, out_of_range="raise")


def test_every_shipped_config_is_within_5_percent_or_flagged(est):
    """The issue's rule: through one checkpoint, each shipped config either predicts a zoo model
    within 5 % of the engine or says it is extrapolating (and the fallback then simulates it)."""
    net = accelsim.load_model("mobilenet_v2")
    from accelsim.config import available_hardware
    names = [n for n in sorted(available_hardware()) if accelsim.load_hardware(n).kind == "systolic"]
    hws = [accelsim.load_hardware(n) for n in names]   # the estimator models systolic configs only
    assert len(hws) >= 7
    pred = est["model"].predict_pairs([net] * len(hws), hws, out_of_range="ignore")
    true = accelsim.simulate_many([net] * len(hws), hws, pairs=True).latency_ms.ravel()
    err = np.abs(pred["latency_ms"] / true - 1)
    for name, ok, e in zip(names, pred["in_range"], err):
        assert (not ok) or e <= 0.05, f"{name}: in range but {e:.1%} off"
    assert not pred["in_range"].all()   # this checkpoint saw one array shape: most shipped configs are outside


def _problem(model, fallback, prefer="estimator"):
    ws = accelsim.load_hardware("neural_engine").replace(name="ws_engine", array__dataflow="ws")
    space = NetworkSpace()
    return P.SearchProblem(P.MobileAxis(space), P.FixedHardware(ws), objectives=("latency_ms", "energy_mj"),
                           estimator=model, estimator_fallback=fallback, estimator_prefer=prefer), ws


def test_fallback_engine_simulates_what_the_estimator_cannot_cover(est):
    rng = np.random.default_rng(3)
    genomes = []
    prob, ws = _problem(est["model"], "engine")
    for _ in range(3):
        genomes.append({k: v[int(rng.integers(len(v)))] for k, v in prob.choices.items()})
    with pytest.warns(EstimatorRangeWarning, match="3 of 3 designs lie outside .* simulated with the engine"):
        got = prob.evaluate(genomes)
    nets = [prob.network(g) for g in genomes]
    r = accelsim.simulate_many(nets, [ws] * 3, pairs=True)
    assert [m["latency_ms"] for m in got] == r.latency_ms.ravel().tolist()
    assert [m["energy_mj"] for m in got] == r.energy_mj.ravel().tolist()
    plain, _ = _problem(est["model"], "none")
    with pytest.warns(EstimatorRangeWarning, match="extrapolations"):
        kept = plain.evaluate(genomes)
    assert [m["latency_ms"] for m in kept] != [m["latency_ms"] for m in got]


def test_fallback_is_refused_for_a_measured_estimator_and_for_an_unknown_word(est):
    class Measured:
        mode = "measured"
    with pytest.raises(CodesignError, match="scorer.fallback: engine needs an estimator trained on the engine"):
        P.SearchProblem(P.MobileAxis(NetworkSpace()), P.FixedHardware(accelsim.load_hardware("neural_engine")),
                        objectives=("latency_ms",), estimator=Measured(), estimator_fallback="engine")
    with pytest.raises(CodesignError, match="scorer.fallback: expected one of none, engine, got 'sometimes'"):
        _problem(est["model"], "sometimes")


def test_run_config_scorer_fallback(est, tmp_path):
    base = {"name": "t", "space": {"network": {"type": "mobile"}}, "objectives": ["latency_ms", "energy_mj"],
            "budget": 4, "scorer": {"estimator": str(est["path"]), "fallback": "engine", "prefer": "estimator"}}
    f = tmp_path / "run.yaml"
    f.write_text(yaml.safe_dump(base))
    cfg = load_run_config(f)
    assert cfg.estimator_fallback == "engine"
    assert cfg.build_problem().estimator_fallback == "engine"
    f.write_text(yaml.safe_dump({**base, "scorer": {"estimator": str(est["path"]), "fallback": "always"}}))
    with pytest.raises(CodesignError, match=r"scorer.fallback.*always"):
        load_run_config(f)
    f.write_text(yaml.safe_dump({**base, "scorer": {"estimator": str(est["path"])}}))
    assert load_run_config(f).estimator_fallback == "none"
    f.write_text(yaml.safe_dump({**base, "scorer": {"estimator": str(est["path"]), "prefer": "never"}}))
    with pytest.raises(CodesignError, match=r"scorer.prefer.*never"):
        load_run_config(f)


def test_auto_scores_with_the_engine_instead_of_an_estimator_trained_on_it(est, tmp_path):
    """The engine is exact and faster than an estimator of itself (benchmarks/estimator_speed.py):
    prefer: auto (the default) scores with it and says so; the run's identity says engine."""
    rng = np.random.default_rng(4)
    with pytest.warns(UserWarning, match="trained on the engine, which scores exactly and faster"):
        prob, ws = _problem(est["model"], "none", prefer="auto")
    assert prob.estimator is None and prob.estimator_replaced
    genomes = [{k: v[int(rng.integers(len(v)))] for k, v in prob.choices.items()} for _ in range(3)]
    got = prob.evaluate(genomes)
    r = accelsim.simulate_many([prob.network(g) for g in genomes], [ws] * 3, pairs=True)
    assert [m["latency_ms"] for m in got] == r.latency_ms.ravel().tolist()
    base = {"name": "t", "space": {"network": {"type": "mobile"}}, "objectives": ["latency_ms", "energy_mj"],
            "budget": 4}
    f = tmp_path / "run.yaml"
    ids = {}
    for name, scorer in (("engine", "engine"), ("auto", {"estimator": str(est["path"])}),
                         ("estimator", {"estimator": str(est["path"]), "prefer": "estimator"})):
        f.write_text(yaml.safe_dump({**base, "scorer": scorer}))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ids[name] = load_run_config(f).identity()
    assert ids["auto"] == ids["engine"] != ids["estimator"]


def test_unique_rows_equals_numpy_unique_up_to_order(monkeypatch):
    from codesign.estimator import model as M
    rng = np.random.default_rng(5)
    a = rng.integers(0, 3, size=(4000, 25)).astype(float)
    a[::7, 3] = -0.0                      # -0.0 and 0.0 are one value, as np.unique has them
    uniq, inv = M.unique_rows(a)
    ref = np.unique(a, axis=0)
    assert len(uniq) == len(ref) and np.array_equal(uniq[inv], a)
    np.testing.assert_array_equal(uniq[np.lexsort(uniq.T[::-1])], ref)
    monkeypatch.setattr(M, "_ROW_MIX", np.zeros(64, dtype=np.uint64))   # every row collides: exact fallback
    uniq, inv = M.unique_rows(a)
    assert len(uniq) == len(ref) and np.array_equal(uniq[inv], a)


def test_cli_search_says_in_one_line_which_designs_the_engine_scored(est, tmp_path, capsys):
    from accelsim.config import hardware_to_dict
    from codesign.cli import main
    ws = accelsim.load_hardware("neural_engine").replace(name="ws_engine", array__dataflow="ws")
    (tmp_path / "ws.yaml").write_text(yaml.safe_dump(hardware_to_dict(ws), sort_keys=False))
    run = {"name": "t", "hardware": str(tmp_path / "ws.yaml"), "space": {"network": {"type": "mobile"}},
           "objectives": ["latency_ms", "energy_mj"], "budget": 4, "batch_size": 4, "algorithm": "random",
           "scorer": {"estimator": str(est["path"]), "fallback": "engine", "prefer": "estimator"}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(run))
    assert main(["search", "--config", str(tmp_path / "run.yaml"), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "warning" in ln]
    assert lines and all(ln.startswith("codesign: warning: estimator: ") for ln in lines), err
    assert "simulated with the engine instead" in lines[0]


def test_network_level_features_read_whether_the_weights_fit_on_chip():
    """Weights stay on chip only when all of a network's parameters fit: 1 MiB of weights against a
    512 KiB filter buffer does not fit, 256 KiB does; a config that streams weights reads 0."""
    from codesign.estimator import features as F
    net = accelsim.load_model("mobilenet_v2")
    lay, _, _ = F.network_layer_table([net])
    n = lay.shape[1]
    keep = accelsim.load_hardware("neural_engine").replace(weights_resident=True)
    stream = accelsim.load_hardware("neural_engine")
    names = list(F.FEATURE_NAMES)
    for hw, pb, fit, fill in ((keep, 2 ** 20, 0.0, 1.0), (keep, 2 ** 18, 1.0, -1.0), (stream, 2 ** 18, 0.0, 0.0)):
        rows = F.take_rows(F.hardware_table([hw]), np.zeros(n, np.int64))
        X = F.engineered(lay, rows, {"param_bytes": np.full(n, pb), "peak_activation_bytes": np.zeros(n)})["X"]
        assert set(X[:, names.index("net_weights_fit")]) == {fit}
        assert set(X[:, names.index("log_net_weight_fill")]) == {fill}   # log2(bytes / 512 KiB)
    X = F.engineered(lay, F.take_rows(F.hardware_table([keep]), np.zeros(n, np.int64)))["X"]
    assert set(X[:, names.index("net_weights_fit")]) == {0.0}   # no figures: read as not fitting


def test_dataset_network_variety_is_a_share():
    from codesign.estimator.dataset import _varied
    with pytest.raises(CodesignError, match=r"network_variety: expected a share in \[0, 1\], got 1.5"):
        DatasetRequest(network_variety=1.5, format="npz").validate()
    g = NetworkSpace().sample(np.random.default_rng(0))
    v = _varied(g, np.random.default_rng(4))
    assert [s.channels for s in v.stages] == [s.channels for s in g.stages]
    assert {s.se for s in v.stages} - {""} and build_network(v).macs > 0


@pytest.fixture(scope="module")
def pair_of_members(est):
    """A two-member ensemble on the fixture's data: member 2 is the estimator of the next seed."""
    ds = load_dataset(est["root"] / "train")
    cfg = TrainConfig(hidden=32, depth=2, epochs=3, threads=1)
    ens = train_estimator(ds, cfg, progress=False, members=2)
    second = train_estimator(ds, TrainConfig(hidden=32, depth=2, epochs=3, threads=1, seed=1), progress=False)
    return {"ens": ens, "first": est["model"], "second": second}


def test_an_ensemble_predicts_the_geometric_mean_of_its_members(pair_of_members, tmp_path):
    ens, a, b = pair_of_members["ens"], pair_of_members["first"], pair_of_members["second"]
    assert len(ens.members) == 1 and ens.metadata["members"] == 2
    hw = accelsim.load_hardware("neural_engine")
    nets = _nets(3)
    # one layer: the geometric mean of the members' per-layer cycles, exactly
    from codesign.estimator import features as F
    lay, _, _ = F.network_layer_table(nets[:1])
    rows = F.take_rows(F.hardware_table([hw]), np.zeros(lay.shape[1], np.int64))
    la, lb, le = (m.predict_layers(lay, rows)["cycles"] for m in (a, b, ens))
    np.testing.assert_allclose(le, np.sqrt(la * lb), rtol=1e-9)
    ens.save(tmp_path / "ens.pt")
    back = Estimator.load(tmp_path / "ens.pt")
    assert len(back.members) == 1
    np.testing.assert_array_equal(back.predict_pairs(nets, [hw] * 3)["cycles"], ens.predict_pairs(nets, [hw] * 3)["cycles"])
    with pytest.raises(CodesignError, match="members: expected a whole number >= 1, got 0"):
        train_estimator(None, members=0)


def test_members_that_disagree_flag_the_network(pair_of_members, monkeypatch):
    from codesign.estimator import model as M
    ens = pair_of_members["ens"]
    hw = accelsim.load_hardware("neural_engine")
    nets = _nets(3)
    a, b = (m.predict_pairs(nets, [hw] * 3, out_of_range="ignore")["cycles"]
            for m in (pair_of_members["first"], pair_of_members["second"]))
    spread = np.maximum(a, b) / np.minimum(a, b) - 1
    monkeypatch.setattr(M, "DISAGREEMENT", float(np.median(spread)))   # the middle network sits on the line
    with pytest.warns(EstimatorRangeWarning, match=r"its 2 members differ by over"):
        got = ens.predict_pairs(nets, [hw] * 3)
    assert got["in_range"].tolist() == (spread <= np.median(spread)).tolist()


def test_cli_members_is_checked_in_one_line(tmp_path, capsys):
    from codesign.cli import main
    assert main(["train-estimator", "--data", str(tmp_path), "--out", str(tmp_path / "m.pt"), "--members", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["codesign: error: --members: expected an integer >= 1, got 0"]
