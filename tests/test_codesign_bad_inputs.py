"""One test per bad input to the ``codesign`` CLI: each fails fast (before any training, loading or
simulation) with one line ``codesign: error: <file/key/argument>: expected ...`` and exit status 2."""

from __future__ import annotations

import json

import pytest
import yaml

from codesign.cli import main

# tiny nb201 search config (as in test_codesign_runs.py); the problem is never built for these errors
BASE_RUN = {"name": "t", "space": {"network": {"type": "nb201"}}, "objectives": ["latency_ms", "accuracy"],
            "accuracy": {"source": "nb201"}, "budget": 8, "batch_size": 4}
MOBILE = {"type": "mobile"}
OPS_HEADER = "op,H_in,W_in,C_in,C_out,kernel,stride,groups,latency_ms\n"
OPS_ROW = "conv,14,14,16,32,3,1,1,{}\n"


def one_error_line(capsys, *needles):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("codesign: error: "), err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def run_config(tmp_path, capsys, change, *needles, extra=()):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({**BASE_RUN, **change}))
    assert main(["search", "--config", str(cfg), "--out", str(tmp_path / "r"), "--quiet", *extra]) == 2
    line = one_error_line(capsys, "run.yaml", *needles)
    assert not (tmp_path / "r").exists()
    return line


# --------------------------------------------------------------------------- algorithm / runner options
@pytest.mark.parametrize("algorithm, needle", [
    ({"name": "evolution", "sample_size": 0}, "algorithm.sample_size: expected an integer >= 1, got 0"),
    ({"name": "evolution", "mutations": -1}, "algorithm.mutations: expected an integer >= 1, got -1"),
    ({"name": "evolution", "population": "big"}, "algorithm.population: expected an integer >= 1, got 'big'"),
    ({"name": "evolution", "crossover": 2}, "algorithm.crossover: expected a probability in [0, 1]"),
    ({"name": "nsga2", "population": 1}, "algorithm.population: expected an integer >= 2, got 1"),
    ({"name": "random", "population": 8}, "algorithm.population: unknown option for random"),
])
def test_bad_algorithm_options_name_the_key(tmp_path, capsys, algorithm, needle):
    run_config(tmp_path, capsys, {"algorithm": algorithm}, needle)


def test_runner_workers_zero_is_an_error_not_all_cores(tmp_path, capsys):
    run_config(tmp_path, capsys, {"runner": {"name": "processes", "workers": 0}},
               "runner.workers: expected an integer >= 1")


@pytest.mark.parametrize("value", ["-2", "0"])
def test_cli_workers_below_one(tmp_path, capsys, value):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(BASE_RUN))
    assert main(["search", "--config", str(cfg), "--out", str(tmp_path / "r"), "--workers", value]) == 2
    one_error_line(capsys, f"--workers: expected an integer >= 1, got {value}")


def test_train_estimator_negative_epochs(tmp_path, capsys):
    assert main(["train-estimator", "--data", str(tmp_path), "--out", str(tmp_path / "e.pt"), "--epochs", "-1"]) == 2
    one_error_line(capsys, "--epochs: expected an integer >= 1, got -1")


# --------------------------------------------------------------------------- network-space lists
@pytest.mark.parametrize("space, needle", [
    ({**MOBILE, "kernels": 3}, "space.network.kernels: expected a non-empty list of positive whole numbers, got 3"),
    ({**MOBILE, "stem_channels": [[1, 2]]}, "space.network.stem_channels: expected positive whole numbers in the list"),
    ({**MOBILE, "expansions": ["a"]}, "space.network.expansions: expected positive numbers in the list, got 'a'"),
    ({**MOBILE, "kernels": [3.5]}, "space.network.kernels: expected positive whole numbers in the list, got 3.5"),
    ({**MOBILE, "blocks": [1]}, "space.network.blocks: expected names (strings) in the list, got 1"),
    ({**MOBILE, "width_range": [1.5, 0.5]}, "space.network.width_range: expected [low, high]"),
    ({**MOBILE, "channel_multiple": 8.5}, "space.network.channel_multiple: expected a positive whole number"),
    ({"type": "nb201", "channels": [[1, 2]]}, "space.network.channels: expected a positive whole number"),
])
def test_network_space_lists_of_the_wrong_shape(tmp_path, capsys, space, needle):
    run_config(tmp_path, capsys, {"space": {"network": space}}, needle)


def test_hardware_space_list_of_the_wrong_type(tmp_path, capsys):
    run_config(tmp_path, capsys, {"space": {"network": {"type": "nb201"}, "hardware": {"rows": ["x"]}}},
               "space.hardware.rows: expected positive whole numbers in the list, got 'x'")


# --------------------------------------------------------------------------- output paths, checked first
def write_ops_csv(tmp_path, cells=("0.5", "0.7")):
    path = tmp_path / "ops.csv"
    path.write_text(OPS_HEADER + "".join(OPS_ROW.format(c) for c in cells))
    return path


def test_train_estimator_out_in_a_missing_folder(tmp_path, capsys):
    csv_path = write_ops_csv(tmp_path)
    out = tmp_path / "missing" / "dir" / "x.pt"
    assert main(["train-estimator", "--measured", str(csv_path), "--target", "latency_ms", "--out", str(out)]) == 2
    one_error_line(capsys, "--out: folder", "does not exist")


def test_train_estimator_out_is_a_folder(tmp_path, capsys):
    assert main(["train-estimator", "--data", str(tmp_path), "--out", str(tmp_path)]) == 2
    one_error_line(capsys, "--out: expected a file path, got a folder")


def test_train_estimator_report_under_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    assert main(["train-estimator", "--measured", str(write_ops_csv(tmp_path)), "--target", "latency_ms",
                 "--out", str(tmp_path / "x.pt"), "--report", str(tmp_path / "f" / "rep")]) == 2
    one_error_line(capsys, "--report: cannot create")


def test_validate_estimator_report_under_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    assert main(["validate-estimator", "--model", str(tmp_path / "no.pt"), "--data", str(tmp_path),
                 "--report", str(tmp_path / "f" / "rep")]) == 2
    one_error_line(capsys, "--report: cannot create", "is a file, not a folder")


def test_dataset_out_is_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    assert main(["dataset", "--out", str(tmp_path / "f"), "--operators", "1", "--blocks", "0", "--networks", "0",
                 "--quiet"]) == 2
    one_error_line(capsys, "--out: expected a folder, got an existing file")


# --------------------------------------------------------------------------- measured CSV
def test_measured_csv_blank_latency_skips_the_row_before_any_training(tmp_path, capsys):
    csv_path = write_ops_csv(tmp_path, ("0.5", "", "0.7"))   # a blank cell: not measured, the row is left out
    assert main(["train-estimator", "--measured", str(csv_path), "--target", "latency_ms",
                 "--out", str(tmp_path / "x.pt")]) == 2
    one_error_line(capsys, "ops.csv: column 'latency_ms': 2 usable", "(1 blank), too few to train on and test")
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("cell", ["nan", "-1", "0", "inf", "fast"])
def test_measured_csv_bad_latency_names_row_and_column(tmp_path, capsys, cell):
    csv_path = write_ops_csv(tmp_path, ("0.5", cell, "0.7"))
    assert main(["train-estimator", "--measured", str(csv_path), "--target", "latency_ms",
                 "--out", str(tmp_path / "x.pt")]) == 2
    one_error_line(capsys, "ops.csv: row 3: column 'latency_ms': expected a positive finite number (latency in ms)")
    assert not (tmp_path / "x.pt").exists()


def test_measured_csv_nb201_bad_latency(tmp_path, capsys):
    path = tmp_path / "nb.csv"
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    path.write_text(f"arch_str,pixel3\n{arch},1.5\n{arch},nan\n")
    assert main(["train-estimator", "--measured", str(path), "--target", "pixel3", "--out", str(tmp_path / "x.pt")]) == 2
    one_error_line(capsys, "nb.csv: row 3: column 'pixel3': expected a positive finite number")


def test_measured_csv_not_utf8(tmp_path, capsys):
    path = tmp_path / "ops.csv"
    path.write_bytes(OPS_HEADER.encode() + b"conv,14,14,16,32,3,1,1,0.5\xff\n")
    assert main(["train-estimator", "--measured", str(path), "--target", "latency_ms",
                 "--out", str(tmp_path / "x.pt")]) == 2
    one_error_line(capsys, "ops.csv: expected a UTF-8 text CSV, found byte 0xff")


# --------------------------------------------------------------------------- dataset manifest
@pytest.mark.parametrize("content, needle", [
    (b"[1, 2]", "manifest.json: expected a JSON object (a dataset manifest), got a list"),
    (b'{"complete": true}', "manifest.json: shards: expected a list of shard folder names"),
    (b'{"complete": true, "shards": "s0"}', "manifest.json: shards: expected a list"),
    (b'{"complete": true, "shards": [], "pairs": "many", "layers": 0}', "manifest.json: pairs: expected a record count"),
    (b'{"complete": true, "shards": []}\xff', "manifest.json: expected UTF-8 JSON, found byte 0xff"),
    (b'{"complete": ', "manifest.json: not valid JSON"),
])
def test_bad_dataset_manifest_is_one_line_naming_the_file(tmp_path, capsys, content, needle):
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "manifest.json").write_bytes(content)
    assert main(["train-estimator", "--data", str(ds), "--out", str(tmp_path / "e.pt"), "--quiet"]) == 2
    one_error_line(capsys, needle)


def test_journal_record_without_genome_is_one_line(tmp_path, capsys):
    """A journal whose evaluation record lacks its genome is refused naming the file and line, on
    resume and by ``codesign show`` (it was a KeyError traceback)."""
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(BASE_RUN))
    out = tmp_path / "run"
    assert main(["search", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    journal = out / "journal.jsonl"
    lines = journal.read_text().splitlines()
    rec = json.loads(lines[1])
    del rec["genome"]
    lines[1] = json.dumps(rec)
    journal.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    for args in (["search", "--config", str(cfg), "--out", str(out), "--quiet"], ["show", str(out)]):
        assert main(args) == 2
        one_error_line(capsys, "journal.jsonl: line 2: expected an evaluation record")


@pytest.mark.parametrize("value", [0, -1, "two", True, 1.5, 5000, [2]])
def test_run_config_threads_out_of_range_names_the_key(tmp_path, capsys, value):
    run_config(tmp_path, capsys, {"threads": value},
               f"threads: expected an integer in [1, 1024] (CPU threads of torch scoring; leave it out for 1), "
               f"got {value!r}")


@pytest.mark.parametrize("value", ["0", "-3", "5000"])
def test_cli_threads_out_of_range(tmp_path, capsys, value):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(BASE_RUN))
    assert main(["search", "--config", str(cfg), "--out", str(tmp_path / "r"), "--threads", value]) == 2
    one_error_line(capsys, f"--threads: expected an integer in [1, 1024], got {value}")
    assert not (tmp_path / "r").exists()
