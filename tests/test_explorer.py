"""The run explorer (``codesign show RUN --html PAGE``) and the simulation page (``accelsim simulate
--html PAGE``): self-contained Bokeh pages.

The structural tests read the page's embedded Bokeh document (its data sources, decoded here) and
compare it with codesign's own computations: one point per journal record, front flags equal to
:meth:`SearchResult.front`, per-stage breakdowns that sum to the engine's latency, log axes exactly
where a metric spans more than a decade, and a page under 5 MB for a 4,000-evaluation run. Bad input
is one line and status 2 before any work. The browser test opens the pages in headless Chromium with
every host name unresolvable (so a fetch would fail) and checks that Bokeh drew them without a
console error; it is skipped when no Chromium is installed.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("bokeh")

from accelsim.cli import main as accelsim_main  # noqa: E402
from accelsim.html_report import needs_log_axis, roofline_data  # noqa: E402
from codesign.cli import main as codesign_main  # noqa: E402
from codesign.search import explorer as X  # noqa: E402
from codesign.search.journal import read_journal  # noqa: E402
from codesign.search.runs import load_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
JOINT = {"name": "joint_small", "hardware": "neural_engine",
         "space": {"network": {"type": "nb201"},
                   "hardware": {"rows": [16, 32, 64], "cols": [16, 32, 64], "dataflows": ["os", "ws"],
                                "vector_lanes": [32, 64], "sram_kb": [128, 512], "unified_kb": [1024],
                                "dram_gb_per_s": [12.8, 25.6], "precision_sets": [["int8"], ["int8", "int16"]]}},
         "objectives": ["edp", "accuracy"], "accuracy": {"source": "nb201", "dataset": "cifar10"},
         "constraints": {"area_mm2": {"max": 5.0824}, "memory_mb": "budget"},
         "algorithm": {"name": "evolution", "population": 16, "sample_size": 4}, "budget": 64, "batch_size": 32,
         "seed": 0}
FIXED = {"name": "fixed_small", "hardware": "neural_engine", "space": {"network": {"type": "nb201"}},
         "objectives": ["accuracy", "edp"], "accuracy": {"source": "nb201", "dataset": "cifar10"},
         "constraints": {"memory_mb": "budget"}, "algorithm": {"name": "random"}, "budget": 32, "batch_size": 32,
         "seed": 1}
OTHER = {**FIXED, "name": "other_objectives", "objectives": ["latency_ms", "accuracy"], "budget": 8, "batch_size": 8}


def _search(tmp: Path, cfg: dict) -> Path:
    path = tmp / f"{cfg['name']}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp / cfg["name"]
    assert codesign_main(["search", "--config", str(path), "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explorer")
    return {"tmp": tmp, "joint": _search(tmp, JOINT), "fixed": _search(tmp, FIXED), "other": _search(tmp, OTHER)}


@pytest.fixture(scope="module")
def page(runs):
    """The explorer of the joint run with the fixed-hardware run's front overlaid."""
    out = runs["tmp"] / "explorer.html"
    assert codesign_main(["show", str(runs["joint"]), "--top", "2", "--html", str(out),
                          "--compare", str(runs["fixed"])]) == 0
    return out


@pytest.fixture(scope="module")
def sim_page(tmp_path_factory):
    out = tmp_path_factory.mktemp("simulate") / "page.html"
    assert accelsim_main(["simulate", "--hw", "neural_engine", "--model", "mobilenet_v2",
                          "--html", str(out)]) == 0
    return out


# ------------------------------------------------------------------ reading a page's Bokeh document
def _decode(value):
    """A column as Bokeh serialises it: a list, or an ndarray (base64 bytes, gzip-compressed or not)."""
    if isinstance(value, dict) and value.get("type") == "ndarray":
        array = value["array"]
        if isinstance(array, dict):
            raw = base64.b64decode(array["data"])
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            return np.frombuffer(raw, dtype=np.dtype(value["dtype"]).newbyteorder("<")).reshape(value["shape"])
        return np.asarray(array)
    return value


def _objects(node, name: str):
    if isinstance(node, dict):
        if node.get("type") == "object" and node.get("name") == name:
            yield node
        for v in node.values():
            yield from _objects(v, name)
    elif isinstance(node, list):
        for v in node:
            yield from _objects(v, name)


def bokeh_document(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="[^"]+">\s*(.*?)\s*</script>', html, re.S)
    assert m, "no embedded Bokeh document"
    return json.loads(m.group(1))


def sources(html: str) -> dict:
    """Named ColumnDataSources of a page: name -> {column: values}."""
    out = {}
    for obj in _objects(bokeh_document(html), "ColumnDataSource"):
        attrs = obj.get("attributes", {})
        data = attrs.get("data", {})
        if attrs.get("name") and isinstance(data, dict) and "entries" in data:
            out[attrs["name"]] = {k: _decode(v) for k, v in data["entries"]}
    return out


# ---------------------------------------------------------------------------- structural tests
def _no_fetches(html: str) -> None:
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.I), "a script loaded from elsewhere"
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(https?:)?//", html, re.I), "a stylesheet fetched"
    assert not re.search(r"@import\s+(url\()?[\"']?(https?:)?//", html, re.I), "a CSS import fetched"
    assert "<script" in html and "Bokeh" in html   # the library itself is inline


def test_pages_fetch_nothing(page, sim_page):
    _no_fetches(page.read_text())
    _no_fetches(sim_page.read_text())


def test_one_point_per_evaluation_and_the_front_is_codesigns(page, runs):
    src = sources(page.read_text())
    _, records = read_journal(runs["joint"] / "journal.jsonl")
    pts = src["evaluations"]
    assert len(pts["evaluation"]) == len(records) == JOINT["budget"]
    assert list(pts["evaluation"]) == list(range(len(records)))
    run = load_run(runs["joint"])
    front = sorted(run.result.front())
    assert sorted(np.nonzero(pts["front"])[0].tolist()) == front
    assert front == sorted(r["evaluation"] for r in json.loads((runs["joint"] / "pareto.json").read_text()))
    assert list(pts["feasible"].astype(bool)) == list(run.result.feasible)
    np.testing.assert_allclose(pts["edp"], [r["metrics"]["edp"] for r in records], rtol=1e-12)
    # the fixed-hardware run's front, overlaid
    other = load_run(runs["fixed"])
    assert sorted(src["front:fixed_small"]["evaluation"].tolist()) == sorted(other.result.front())


def test_breakdowns_sum_to_the_engines_latency_and_energy(page, runs):
    src = sources(page.read_text())
    pts, rows = src["evaluations"], src["stage_rows"]
    _, records = read_journal(runs["joint"] / "journal.jsonl")
    assert (pts["bd_start"] >= 0).all()   # a small run: every evaluation has its breakdown
    for i in range(len(records)):
        m = records[i]["metrics"]
        if not np.isfinite(m["latency_ms"]):
            continue
        s = slice(pts["bd_start"][i], pts["bd_start"][i] + pts["bd_count"][i])
        assert rows["compute_ms"][s].sum() + rows["stall_ms"][s].sum() == pytest.approx(m["latency_ms"], rel=1e-5)
        assert rows["energy_uj"][s].sum() * 1e-3 == pytest.approx(m["energy_mj"], rel=1e-5)


def test_log_axis_exactly_where_a_metric_spans_more_than_a_decade(runs):
    assert needs_log_axis([1.0, 10.5]) and needs_log_axis([0.001, 0.5, 2.0])
    assert not needs_log_axis([1.0, 10.0]) and not needs_log_axis([5.0, 40.0])
    assert not needs_log_axis([0.0, 100.0]) and not needs_log_axis([-1.0, 100.0])   # not all positive
    assert not needs_log_axis([np.nan, np.inf, 3.0])                                 # one finite value
    data = X.explorer_data(X.check_inputs(runs["joint"]), breakdowns="front")
    edp, acc = data["points"]["edp"], data["points"]["accuracy"]
    assert (data["x"], data["y"]) == ("edp", "accuracy")
    assert data["x_log"] == (np.nanmax(edp) / np.nanmin(edp) > 10)
    assert data["y_log"] == (np.nanmin(acc) > 0 and np.nanmax(acc) / np.nanmin(acc) > 10)
    html = X.explorer_page(data)
    scales = {o["name"] for o in _objects(bokeh_document(html), "LogScale")}
    assert bool(scales) == (data["x_log"] or data["y_log"])


def _synthetic_run(folder: Path, n: int) -> None:
    """A run folder of the shipped joint search with ``n`` journaled evaluations drawn at random (no
    search: genomes from the space, metrics of plausible size, some infeasible, a few that cannot run)."""
    from codesign.search.runconfig import load_run_config
    cfg_data = yaml.safe_load((ROOT / "examples/search/joint_search.yaml").read_text())
    cfg_data["budget"] = n
    folder.mkdir()
    (folder / "run.yaml").write_text(yaml.safe_dump(cfg_data))
    problem = load_run_config(folder / "run.yaml").build_problem()
    rng = np.random.default_rng(0)
    net_keys = [k for k in problem.choices if not k.startswith("hw.")]
    hw_keys = [k for k in problem.choices if k.startswith("hw.")]
    pool = [{k: problem.choices[k][rng.integers(len(problem.choices[k]))] for k in hw_keys} for _ in range(800)]
    lines = [json.dumps({"journal": 1, "run_hash": "synthetic", "meta": {}})]
    for i in range(n):
        g = {k: problem.choices[k][rng.integers(len(problem.choices[k]))] for k in net_keys}
        g.update(pool[rng.integers(len(pool))])
        lat, en = float(rng.lognormal(-3, 1)), float(rng.lognormal(-4, 1))
        acc = float(rng.uniform(10, 94))
        m = {"latency_ms": lat, "energy_mj": en, "edp": lat * en, "area_mm2": float(rng.uniform(1, 6)),
             "power_mw": en / lat * 1e3, "memory_mb": float(rng.uniform(0.1, 1)), "budget_mb": 8.0,
             "macs_m": float(rng.uniform(5, 200)), "params_m": float(rng.uniform(0.05, 1.5)), "accuracy": acc,
             "neg_accuracy": -acc, "violation": float(rng.choice([0.0, 0.0, 0.0, 0.2]))}
        if i % 97 == 5:   # a pair the engine cannot run
            m.update(latency_ms=float("inf"), energy_mj=float("inf"), edp=float("inf"), power_mw=float("inf"),
                     violation=10.0)
        lines.append(json.dumps({"genome": g, "metrics": m, "i": i}))
    (folder / "journal.jsonl").write_text("\n".join(lines) + "\n")


def test_a_4000_evaluation_page_stays_under_5_mb(tmp_path, monkeypatch):
    """Every evaluation with a full NAS-Bench-201 breakdown (21 groups of random numbers, which
    compress worse than simulated ones); the breakdowns are drawn here instead of simulated."""
    _synthetic_run(tmp_path / "big", 4000)
    rng = np.random.default_rng(1)

    def drawn(self, network_of, hardware_of, genomes, bar=None):
        spans = []
        for _ in genomes:
            spans.append((self.n, 21))
            for k in range(21):
                self.rows["group"].append(self.index.setdefault(f"cells.{k}", len(self.index)))
                self.rows["layers"].append(int(rng.integers(1, 12)))
                for f in self.FIELDS:
                    self.rows[f].append(float(rng.lognormal(-4, 1)))
            self.n += 21
        self.names = list(self.index)
        return spans

    monkeypatch.setattr(X._Breakdowns, "add", drawn)
    out = tmp_path / "big.html"
    info = X.write_explorer(tmp_path / "big", out, breakdowns="all")
    assert info["points"] == 4000 and info["breakdowns"] == "all"
    assert out.stat().st_size == info["bytes"] < 5_000_000, f"{info['bytes'] / 1e6:.2f} MB"
    pts = sources(out.read_text())["evaluations"]
    assert len(pts["evaluation"]) == 4000
    assert np.isnan(pts["latency_ms"][5]) and pts["feasible"][5] == 0   # infinities kept as gaps


def test_simulate_page_has_every_layer_and_each_under_its_own_units_roof(sim_page, neural_engine):
    import accelsim
    src = sources(sim_page.read_text())
    report = accelsim.simulate(accelsim.load_model("mobilenet_v2"), neural_engine)
    layers = src["layers"]
    assert len(layers["name"]) == len(report.network.layers)
    np.testing.assert_allclose(np.sum(layers["total_us"]) / 1e3, report.latency_ms, rtol=1e-9)
    d = roofline_data(report)
    hw = neural_engine
    units = [report.layers()[i]["unit"] for i in d["index"]]
    array_peak = hw.array.rows * hw.array.cols * hw.precision("int8").macs_per_pe_per_cycle   # every layer int8
    vector_peak = hw.vector.lanes * hw.vector.ops("int8")
    assert "vector" in units and "array" in units
    for unit, roof in zip(units, d["roof"]):
        assert roof == (array_peak if unit == "array" else vector_peak)
    assert set(d["roofs"]) == {"array int8", "vector int8"}
    np.testing.assert_allclose(d["attainable"], np.minimum(d["roof"], d["intensity"] * hw.dram_bytes_per_cycle))
    assert (d["achieved"] <= d["attainable"] * (1 + 1e-9)).all()   # no layer above its own roof
    assert len(d["index"]) + d["no_dram"] == sum(1 for r in report.layers() if r["unit"] != "none")


# ----------------------------------------------------------------------------------- bad input
def _one_line(capsys, expected: str) -> None:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], err


@pytest.mark.parametrize("case, expected", [
    ("missing", "no such run folder"),
    ("not_a_run", "not a run folder (no run.yaml)"),
    ("no_journal", "no evaluations yet"),
    ("corrupt", "line 3 is not valid JSON (corrupt journal)"),
    ("out_folder", "--html: folder"),
    ("other_objectives", "--compare"),
    ("compare_without_html", "--compare: overlays runs on the explorer page; give --html"),
])
def test_bad_input_is_one_line_before_any_work(case, expected, runs, tmp_path, capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("work started before the inputs were checked")

    monkeypatch.setattr(X, "explorer_data", refuse)
    run, page, extra = runs["joint"], tmp_path / "page.html", []
    if case == "missing":
        run = tmp_path / "nope"
    elif case == "not_a_run":
        run = tmp_path
    elif case == "no_journal":
        run = tmp_path / "fresh"
        run.mkdir()
        shutil.copy(runs["joint"] / "run.yaml", run)
    elif case == "corrupt":
        run = tmp_path / "corrupt"
        shutil.copytree(runs["joint"], run)
        text = (run / "journal.jsonl").read_text().splitlines()
        (run / "journal.jsonl").write_text("\n".join(text[:2] + ["{not json"] + text[2:]) + "\n")
    elif case == "out_folder":
        page = tmp_path / "no_such_folder" / "page.html"
    elif case == "other_objectives":
        extra = ["--compare", str(runs["other"])]
    argv = ["show", str(run)] + ([] if case == "compare_without_html" else ["--html", str(page)]) + extra
    if case == "compare_without_html":
        argv += ["--compare", str(runs["fixed"])]
    assert codesign_main(argv) == 2
    _one_line(capsys, expected)
    assert not page.exists()


def test_simulate_page_to_a_missing_folder_is_one_line_before_simulating(tmp_path, capsys, monkeypatch):
    import accelsim.engine

    def refuse(*args, **kwargs):
        raise AssertionError("simulated before the page's folder was checked")

    monkeypatch.setattr(accelsim.engine, "simulate", refuse)
    assert accelsim_main(["simulate", "--html", str(tmp_path / "missing" / "page.html")]) == 2
    _one_line(capsys, "--html: folder")


def test_missing_bokeh_names_the_extra(runs, tmp_path):
    """With bokeh not importable, both commands stop with one line naming the extra to install."""
    prelude = textwrap.dedent("""
        import sys
        class _NotInstalled:
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] == "bokeh":
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        sys.meta_path.insert(0, _NotInstalled())
    """)
    for module, argv in (("codesign.cli", ["show", str(runs["joint"]), "--html", str(tmp_path / "a.html")]),
                         ("accelsim.cli", ["simulate", "--html", str(tmp_path / "b.html")])):
        res = subprocess.run([sys.executable, "-c", prelude + f"import {module} as m; sys.exit(m.main({argv!r}))"],
                             capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        assert res.stderr.strip().endswith('needs bokeh: pip install "accelsim-codesign[codesign]"'), res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*.html"))


# -------------------------------------------------------------------------------------- browser
def _chromium() -> "str | None":
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.mark.skipif(_chromium() is None, reason="no Chromium installed (apt-get install -y chromium) to open "
                                                "the pages in; the structural tests above still ran")
@pytest.mark.parametrize("which", ["explorer", "simulate"])
def test_pages_render_in_headless_chromium_without_console_errors(which, page, sim_page, tmp_path):
    path = page if which == "explorer" else sim_page
    url = path.resolve().as_uri() + ("#evaluation=0" if which == "explorer" else "")
    res = subprocess.run([_chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--enable-logging=stderr",
                          "--v=0", "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=10000",
                          f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    # the page marks its <html> element once Bokeh has built the document: its points are drawn
    rows = re.search(r'<html[^>]*data-rendered-rows="(\d+)"', res.stdout)
    assert rows, "Bokeh did not render the page"
    expected = JOINT["budget"] if which == "explorer" else len(sources(sim_page.read_text())["layers"]["name"])
    assert int(rows.group(1)) == expected
    console = [line for line in res.stderr.splitlines() if "CONSOLE" in line]
    bad = [line for line in console if re.search(r"error|uncaught|exception|failed|refused", line, re.I)]
    assert not bad, "\n".join(bad)
