"""Per-network measured tables: every network format parsed, blank cells skipped and counted, a table
too small for its split refused before any training, seeds reproducible, small tables fast, and the
small-sample accuracy the cross-validated prior buys (codesign.estimator.measured)."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

import accelsim
from accelsim.workload import zoo
from codesign.cli import main
from codesign.errors import CodesignError
from codesign.estimator import measured as M
from codesign.estimator.model import Estimator, TrainConfig
from codesign.spaces.nb201 import compiled_network
from codesign.spaces.space import build_network
from codesign.spaces.zoo_genomes import zoo_genome

DATA = Path(__file__).resolve().parent / "data" / "measured"   # provenance: its README.md
CFG = TrainConfig(hidden=32, depth=2, weight_decay=1e-2, threads=1)
ARCH = "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"


def write(path: Path, header, rows) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def one_error_line(capsys, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    for n in needles:
        assert n in err[0], err[0]
    return err[0]


# ------------------------------------------------------------------------------------ formats
@pytest.mark.parametrize("column, fmt", [("network", "zoo"), ("model", "zoo"), ("onnx", "onnx"), ("genome", "genome"),
                                         ("arch_str", "nb201"), ("blocks", "fbnet-blocks")])
def test_format_is_detected_from_the_header(tmp_path, column, fmt):
    assert M.detect_format(write(tmp_path / "t.csv", [column, "ms"], [["x", "1"]])) == fmt


def test_two_network_columns_are_refused(tmp_path):
    path = write(tmp_path / "t.csv", ["network", "onnx", "ms"], [["mobilenet_v2", "a.onnx", "1"]])
    with pytest.raises(CodesignError, match=r"t.csv: columns 'network', 'onnx' each describe the network"):
        M.detect_format(path)


def test_zoo_rows_with_option_columns_and_in_cell_options():
    t = M.read_network_table(DATA / "synthetic_zoo_networks.csv", "latency_ms")
    assert t.format == "zoo" and t.total_rows == 18 and t.blank_rows == 2 and len(t.latency) == 16
    nets = t.networks["as_written"]
    # row 2 (first data row): mobilenet_v2 width 0.35 at 96 px from the option columns
    assert nets[0].macs == zoo.load_model("mobilenet_v2", width=0.35, resolution=96).macs
    # the last row: "fused_ibn_block:resolution=28,channels=64" written in the cell
    assert nets[-1].macs == zoo.load_model("fused_ibn_block", resolution=28, channels=64).macs
    assert t.lines[3] == 6   # line 5 (mobilenet_v2 0.5 @ 96) had a blank latency and was skipped


@pytest.mark.parametrize("cell, extra, needle", [
    ("resnet_9000", "", "column 'network': expected a zoo model"),
    ("mobilenet_v2:width=abc", "", "--option width=abc: expected a number"),
    ("mobilenet_v2:width=0.5", "96", "options are given both in the cell and in column(s) resolution"),
    ("ibn_block", "", None),
])
def test_zoo_bad_cells_name_row_and_column(tmp_path, cell, extra, needle):
    path = write(tmp_path / "z.csv", ["network", "resolution", "ms"], [["mobilenet_v2", "", "1"], [cell, extra, "2"]])
    if needle is None:   # a valid model with no options: its defaults
        assert M.read_network_table(path, "ms").networks["as_written"][1].macs == zoo.load_model("ibn_block").macs
        return
    with pytest.raises(CodesignError) as exc:
        M.read_network_table(path, "ms")
    msg = str(exc.value)
    assert msg.startswith(f"{path}: row 3: column 'network'") and needle in msg and "\n" not in msg


def test_zoo_option_column_the_model_does_not_take(tmp_path):
    path = write(tmp_path / "z.csv", ["model", "width", "ms"], [["resnet18", "0.5", "1"]])
    with pytest.raises(CodesignError, match=r"z.csv: row 2: column 'width': model resnet18 takes no option 'width'"):
        M.read_network_table(path, "ms")


def _tiny_onnx(path: Path, channels: int) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.zeros((channels, 3, 3, 3), np.float32), "w")
    fc = numpy_helper.from_array(np.zeros((10, channels), np.float32), "fc")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], [w, fc])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_onnx_rows_relative_to_the_csv(tmp_path):
    (tmp_path / "models").mkdir()
    for c in (8, 16):
        _tiny_onnx(tmp_path / "models" / f"c{c}.onnx", c)
    path = write(tmp_path / "o.csv", ["onnx", "ms"], [["models/c8.onnx", "0.1"], ["models/c16.onnx", "0.2"]])
    nets = M.read_network_table(path, "ms").networks["as_written"]
    # conv 3x3x3 -> c over 16x16, then FC c -> 10
    assert [n.macs for n in nets] == [16 * 16 * 27 * c + 10 * c for c in (8, 16)]
    bad = write(tmp_path / "b.csv", ["onnx", "ms"], [["models/c8.onnx", "0.1"], ["models/missing.onnx", "0.2"]])
    with pytest.raises(CodesignError, match=r"b.csv: row 3: column 'onnx': expected an ONNX file .*no such file"):
        M.read_network_table(bad, "ms")


def test_genome_rows_from_a_file_and_inline_json():
    t = M.read_network_table(DATA / "synthetic_genomes.csv", "latency_ms")
    want = [build_network(zoo_genome("mobilenet_v2", resolution=r)).macs for r in (96, 64, 128)]
    assert t.format == "genome" and [n.macs for n in t.networks["as_written"]] == want


def test_bad_genome_cell(tmp_path):
    path = write(tmp_path / "g.csv", ["genome", "ms"], [['{"resolution": 32', "1"]])
    with pytest.raises(CodesignError, match=r"g.csv: row 2: column 'genome': expected genome JSON or a genome file"):
        M.read_network_table(path, "ms")


def test_nb201_rows_as_written_and_pruned(tmp_path):
    path = write(tmp_path / "n.csv", ["arch_str", "ms"], [[ARCH, "1"], ["|bogus~0|+|", "2"]])
    with pytest.raises(CodesignError, match=r"n.csv: row 3: column 'arch_str': expected a NAS-Bench-201 arch string"):
        M.read_network_table(path, "ms")
    dead = "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
    t = M.read_network_table(write(tmp_path / "m.csv", ["arch_str", "ms"], [[ARCH, "1"], [dead, "2"]]), "ms")
    assert [n.macs for n in t.networks["as_written"]] == [compiled_network(a).macs for a in (ARCH, dead)]
    assert t.networks["pruned"][1].macs == compiled_network(dead, prune=True).macs < compiled_network(dead).macs


def test_fbnet_blocks_rebuild_the_lut_operators():
    """An FBNet architecture's network has exactly the MACs of the LUT operators it chooses (stem, 22
    blocks, head conv, pool, classifier), so the block list and the LUT describe the same network."""
    fixed, grid = M.fbnet_tables(DATA / "hwnasbench_fbnet_op_lut_cifar100.csv", "cifar100", "pixel3_latency_ms")
    t = M.read_network_table(DATA / "fbnet_blocks_pixel3.csv", "pixel3")
    assert t.format == "fbnet-blocks" and len(t.latency) == 30
    with open(DATA / "fbnet_blocks_pixel3.csv") as fh:
        first = next(csv.DictReader(fh))["blocks"].split()
    ops = [r for _, r in fixed] + [grid[i][M.FBNET_BLOCK_NAMES.index(b)][1] for i, b in enumerate(first)]
    lut_macs = sum(n.macs for n in (M.operator_network(r) for r in ops) if n is not None)
    assert t.networks["as_written"][0].macs == lut_macs
    # and the shipped latency is the LUT's sum
    assert t.latency[0] == pytest.approx(sum(float(r["pixel3_latency_ms"]) for r in ops), rel=1e-5)


@pytest.mark.parametrize("cell, needle", [("k3_e1 " * 21, "got 21 names"), ("k3_e1 " * 21 + "k7_e9", "got 'k7_e9'")])
def test_bad_fbnet_block_list(tmp_path, cell, needle):
    path = write(tmp_path / "f.csv", ["blocks", "ms"], [[cell, "1"]])
    with pytest.raises(CodesignError, match=f"f.csv: row 2: column 'blocks': expected 22 FBNet block names.*{needle}"):
        M.read_network_table(path, "ms")


# ------------------------------------------------------------------------------------ blanks and splits
def test_blank_cells_skip_the_row_for_that_target_only(tmp_path):
    rows = [[ARCH, "1.0" if i % 3 else "", "2.0" if i % 4 else ""] for i in range(12)]
    path = write(tmp_path / "b.csv", ["arch_str", "a", "b"], rows)
    ta, tb = M.read_network_table(path, "a"), M.read_network_table(path, "b")
    assert (ta.blank_rows, len(ta.latency)) == (4, 8) and (tb.blank_rows, len(tb.latency)) == (3, 9)
    assert list(ta.lines) == [i + 2 for i in range(12) if i % 3]


@pytest.mark.parametrize("text, want", [("0.8", 0.8), ("10", 10), ("2", 2)])
def test_train_archs_is_a_share_or_a_count(text, want):
    assert M.parse_share_or_count(text) == want
    assert M.split_size(M.parse_share_or_count(text), 20, "t.csv", "ms") == (16 if want == 0.8 else want)


@pytest.mark.parametrize("text", ["1", "0", "1.5", "-3", "ten", "nan"])
def test_bad_train_archs(text):
    with pytest.raises(CodesignError, match="--train-archs: expected a share in"):
        M.parse_share_or_count(text)


def test_too_small_table_fails_before_any_training(tmp_path, monkeypatch):
    def no_training(*a, **k):
        raise AssertionError("training started")
    monkeypatch.setattr(M, "fit_networks", no_training)
    path = write(tmp_path / "s.csv", ["arch_str", "ms"], [[ARCH, "1.5"]] * 4 + [[ARCH, ""]] * 3)
    t0 = time.perf_counter()
    with pytest.raises(CodesignError) as exc:
        M.evaluate_networks(path, "ms", train=10)
    assert str(exc.value) == (f"{path}: column 'ms': 4 usable rows (3 blank), too few for --train-archs 10 "
                              "(10 training rows; needs >= 2 to train and >= 1 left to test)")
    assert time.perf_counter() - t0 < 2


def test_cli_too_small_table_exits_with_one_line(tmp_path, capsys):
    path = write(tmp_path / "s.csv", ["network", "ms"], [["mobilenet_v2", "1.5"], ["ibn_block", "0.2"]])
    out = tmp_path / "m.pt"
    assert main(["train-estimator", "--measured", str(path), "--target", "ms", "--out", str(out)]) == 2
    one_error_line(capsys, "s.csv: column 'ms': 2 usable rows, too few for --train-archs 0.8")
    assert not out.exists()
    assert main(["train-estimator", "--measured", str(path), "--target", "ms", "--out", str(out),
                 "--train-archs", "lots"]) == 2
    one_error_line(capsys, "--train-archs: expected a share in (0, 1) or a count >= 2, got 'lots'")


def test_cli_bad_cell_exits_with_one_line(tmp_path, capsys):
    path = write(tmp_path / "s.csv", ["network", "ms"], [["mobilenet_v2", "1.5"], ["ibn_block", "-1"]])
    assert main(["train-estimator", "--measured", str(path), "--target", "ms", "--out", str(tmp_path / "m.pt")]) == 2
    one_error_line(capsys, "s.csv: row 3: column 'ms': expected a positive finite number (latency in ms), got '-1'")


# ------------------------------------------------------------------------------------ training
def test_thirty_row_table_trains_in_seconds_and_reports_blanks(tmp_path, capsys):
    """30 FBNet architectures (HW-NAS-Bench pixel3 latency), 2 of them blanked: the CLI trains in
    seconds, reports the skipped rows, and the checkpoint is an ordinary estimator."""
    with open(DATA / "fbnet_blocks_pixel3.csv") as fh:
        rows = [[r["blocks"], r["pixel3"] if i not in (4, 9) else ""] for i, r in enumerate(csv.DictReader(fh))]
    path = write(tmp_path / "fb.csv", ["blocks", "pixel3"], rows)
    out = tmp_path / "m.pt"
    assert main(["train-estimator", "--measured", str(path), "--target", "pixel3", "--out", str(out),
                 "--threads", "1", "--report", str(tmp_path / "rep")]) == 0
    assert "2 rows with a blank 'pixel3' cell skipped" in capsys.readouterr().out
    m = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert m["extra"]["blank_rows"] == 2 and m["extra"]["train_archs"] == 22 and m["extra"]["test_archs"] == 6
    assert m["estimator"]["within_10_pct"] == 100.0 and m["estimator"]["mape_pct"] < 6
    est = Estimator.load(out)
    assert est.mode == "measured" and est.metadata["blank_rows"] == 2
    assert est.metadata["seconds"] < 10          # measured ~1-3 s on one thread
    # the checkpoint predicts any network, here one FBNet architecture from the table
    net = M.fbnet_network(rows[0][0].split())
    assert est.predict_pairs([net], ["neural_engine"])["latency"][0] == pytest.approx(float(rows[0][1]), rel=0.1)


def test_same_seed_same_model_byte_for_byte():
    t = M.read_network_table(DATA / "fbnet_blocks_pixel3.csv", "pixel3")
    a = M.evaluate_networks(None, "pixel3", train=12, seed=3, cfg=CFG, table=t)
    b = M.evaluate_networks(None, "pixel3", train=12, seed=3, cfg=CFG, table=t)
    c = M.evaluate_networks(None, "pixel3", train=12, seed=4, cfg=CFG, table=t)
    assert a.test == b.test and a.test != c.test
    for name, fm in a.estimator.families.items():
        for k, v in fm.mlp.state_dict().items():
            assert v.numpy().tobytes() == b.estimator.families[name].mlp.state_dict()[k].numpy().tobytes()
    strip = lambda m: {k: v for k, v in m.items() if k not in ("seconds", "trained_at")}   # noqa: E731
    assert strip(a.estimator.metadata) == strip(b.estimator.metadata)


def test_predict_table_equals_predict_pairs():
    t = M.read_network_table(DATA / "synthetic_zoo_networks.csv", "latency_ms")
    est = M.fit_networks(t.networks, t.latency, np.arange(10), CFG, sums=t.layer_sums())
    nets = t.networks["as_written"]
    fast = M.predict_table(est, t.layer_sums()["as_written"], np.arange(len(nets)))
    slow = est.predict_pairs(nets, ["neural_engine"] * len(nets))["latency"]
    np.testing.assert_allclose(fast, slow, rtol=1e-6)   # float32 MLPs over differently batched rows


def test_linear_prior_recovers_a_per_layer_cost():
    """A device whose latency is exactly 3 ns per roofline cycle plus 5 µs per layer: the prior finds it
    from 8 networks and predicts 8 others within 1 %."""
    hw = accelsim.load_hardware("neural_engine")
    nets = [zoo.load_model("mobilenet_v2", width=w, resolution=r) for w in (0.35, 0.5, 0.75, 1.0) for r in (96, 128, 160, 192)]
    s = M.layer_sums(nets, hw)
    y = 3e-6 * s.S[:, s.terms.index(("base", "all"))] + 5e-3 * s.S[:, s.terms.index(("count", "all"))]
    train = np.arange(0, 16, 2)
    est = M.fit_networks({"as_written": nets}, y, train, CFG, sums={"as_written": s})
    pred = M.predict_table(est, s, np.arange(1, 16, 2))
    assert np.max(np.abs(pred / y[1::2] - 1)) < 0.01
    assert est.metadata["prior"]["model"] in ("base+count", "base+count+dram", "family-base+count")


@pytest.mark.slow
def test_ten_samples_rank_well_over_five_seeds():
    """10 measured NB201 architectures (HW-NAS-Bench eyeriss, from HELP) rank 290 others with Spearman
    > 0.9 for each of 5 seeds (measured: 0.95-0.99); the spread is small."""
    header, rows = M.read_csv(DATA / "nb201_help_latency_ms_first800.csv")
    t = M.read_network_table(DATA / "nb201_help_latency_ms_first800.csv", "eyeriss", header, rows[:300])
    rho = [M.evaluate_networks(None, "eyeriss", train=10, seed=s, cfg=CFG, table=t).test["spearman"] for s in range(5)]
    assert min(rho) > 0.9 and max(rho) - min(rho) < 0.1, rho
