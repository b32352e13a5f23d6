"""The measured tables shipped in codesign/data (``help-nb201``, ``hwnasbench-fbnet``), the names that stand
for them wherever a measured table is read, and the SCALE-Sim example topology.

The packed HELP table is checked against the full development CSVs only where they are at hand: set
``CODESIGN_MEASURED_CSV_DIR`` to the folder holding ``nb201_help_latency_ms.csv`` and
``hwnasbench_fbnet_op_lut.csv`` (provenance: codesign/data/README.md). Everything else runs on a bare
clone: shapes, device names, every row's arch string, hand-copied values and the excerpts in
tests/data/measured."""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from codesign.errors import CodesignError  # noqa: E402
from codesign.estimator import measured as M  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXCERPTS = ROOT / "tests" / "data" / "measured"        # provenance: its README.md
DEV_DIR = os.environ.get("CODESIGN_MEASURED_CSV_DIR")
HELP_DEVICES = ("1080ti_1", "1080ti_32", "1080ti_256", "2080ti_1", "2080ti_32", "2080ti_256", "titanx_1",
                "titanx_32", "titanx_256", "titanxp_1", "titanxp_32", "titanxp_256", "titan_rtx_1", "titan_rtx_32",
                "titan_rtx_256", "silver_4114", "silver_4210r", "gold_6226", "gold_6240", "pixel2", "pixel3",
                "essential_ph_1", "samsung_a50", "samsung_s7", "raspi4", "eyeriss", "fpga")
FLOAT32_REL = 2.0 ** -23          # a float32 keeps each value to within half of this, relative


def dev_csv(name: str) -> Path:
    path = Path(DEV_DIR or "") / name
    if not DEV_DIR or not path.is_file():
        pytest.skip(f"development CSV {name} not available (set CODESIGN_MEASURED_CSV_DIR)")
    return path


def read_rows(path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        header, *rows = csv.reader(fh)
    return header, rows


def f32(cells) -> np.ndarray:
    return np.array(cells, dtype=float).astype(np.float32)


# ------------------------------------------------------------------------------------- help-nb201
def test_help_table_file():
    z = np.load(M.DATA_DIR / M.PACKAGED_TABLES["help-nb201"], allow_pickle=False)
    assert sorted(z.files) == ["devices", "format", "latency_ms"]      # no arch strings stored
    assert int(z["format"]) == 1
    assert z["latency_ms"].dtype == np.float32 and z["latency_ms"].shape == (15_625, 27)
    assert tuple(z["devices"]) == HELP_DEVICES
    assert np.isfinite(z["latency_ms"]).all() and (z["latency_ms"] > 0).all()


def test_help_table_reads_like_the_csv():
    header, rows = M.read_csv("help-nb201")
    assert header == ["arch_index", "arch_str", *HELP_DEVICES]
    assert len(rows) == 15_625
    assert [r["arch_index"] for r in rows] == [str(i) for i in range(15_625)]


def test_help_arch_strings_round_trip_on_every_row():
    """Row i is NAS-Bench-201 arch_index i: the same cell as row i of the accuracy table, and each arch
    string parses back to itself."""
    from codesign.accuracy.tables import NB201Table
    from codesign.spaces.nb201 import arch_str, op_indices
    _, rows = M.read_csv("help-nb201")
    archs = [r["arch_str"] for r in rows]
    acc = NB201Table.load()
    assert all(arch_str(op_indices(a)) == a for a in archs)
    assert np.array_equal(acc.indices(np.array([op_indices(a) for a in archs])), np.arange(15_625))
    assert archs[1] == "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.mark.parametrize("index, device, value, abs_tol", [
    # as printed in HW-NAS-Bench / the data README, to 5 decimals: within half a unit of the last digit
    (0, "raspi4", 10.48198, 5e-6), (0, "pixel3", 3.60585, 5e-6), (0, "eyeriss", 3.64562, 5e-6),
    (0, "fpga", 2.57296, 5e-6),
    # copied from the CSV (about 10 significant digits): equal to float32 precision
    (0, "1080ti_1", 10.75437069, None), (1, "raspi4", 54.77739762, None), (1, "samsung_s7", 62.0, None),
    (15_624, "titan_rtx_256", 14.39808846, None), (15_624, "fpga", 3.19376, None),
    (15_624, "raspi4", 18.01667138, None),
])
def test_help_hand_copied_values(index, device, value, abs_tol):
    _, rows = M.read_csv("help-nb201")
    got = float(rows[index][device])
    assert got == pytest.approx(value, abs=abs_tol) if abs_tol else got == pytest.approx(value, rel=FLOAT32_REL)


def test_help_matches_the_shipped_excerpt():
    """tests/data/measured holds rows 0-799 of the eyeriss and pixel3 columns."""
    ex_header, ex_rows = read_rows(EXCERPTS / "nb201_help_latency_ms_first800.csv")
    _, rows = M.read_csv("help-nb201")
    for k, want in enumerate(ex_rows):
        got = dict(zip(ex_header, want))
        assert rows[k]["arch_index"] == got["arch_index"] and rows[k]["arch_str"] == got["arch_str"]
        assert np.array_equal(f32([rows[k]["eyeriss"], rows[k]["pixel3"]]), f32([got["eyeriss"], got["pixel3"]]))


def test_help_matches_the_development_csv():
    header, want = read_rows(dev_csv("nb201_help_latency_ms.csv"))
    got_header, got = M.read_csv("help-nb201")
    assert got_header == header and len(got) == len(want) == 15_625
    sample = sorted({0, 1, 15_624, *range(0, 15_625, 97)})
    for i in sample:
        row = [got[i][h] for h in header]
        assert row[:2] == want[i][:2], f"row {i}"
        assert np.array_equal(f32(row[2:]), f32(want[i][2:])), f"row {i}"


# ---------------------------------------------------------------------------------- hwnasbench-fbnet
def test_fbnet_lut_matches_the_shipped_excerpt():
    """The CIFAR-100 half is in tests/data/measured; the packed table holds it cell for cell."""
    ex_header, ex_rows = read_rows(EXCERPTS / "hwnasbench_fbnet_op_lut_cifar100.csv")
    header, rows = M.read_csv("hwnasbench-fbnet")
    assert header == ex_header and len(rows) == 404
    assert [r["dataset"] for r in rows].count("ImageNet") == 202
    assert [[r[h] for h in header] for r in rows if r["dataset"] == "cifar100"] == ex_rows
    assert M.detect_format("hwnasbench-fbnet") == "fbnet-lut"
    fixed, grid = M.fbnet_tables("hwnasbench-fbnet", "ImageNet", "raspi4_latency_ms")
    assert len(fixed) == 4 and len(grid) == 22 and all(len(g) == 9 for g in grid)


def test_fbnet_lut_matches_the_development_csv():
    header, want = read_rows(dev_csv("hwnasbench_fbnet_op_lut.csv"))
    got_header, got = M.read_csv("hwnasbench-fbnet")
    assert got_header == header and [[r[h] for h in header] for r in got] == want


# ---------------------------------------------------------------------------------- name resolution
def test_a_file_wins_over_a_name(tmp_path, monkeypatch):
    (tmp_path / "help-nb201").write_text("arch_str,mine\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,1.5\n")
    monkeypatch.chdir(tmp_path)
    assert M.packaged_table("help-nb201") is None
    header, rows = M.read_csv("help-nb201")
    assert header == ["arch_str", "mine"] and len(rows) == 1
    assert M.packaged_table(Path("hwnasbench-fbnet")) == "hwnasbench-fbnet"    # no such file here: the name


def test_an_unknown_name_is_one_line():
    with pytest.raises(CodesignError) as exc:
        M.read_csv("help-nb202")
    text = str(exc.value)
    assert "\n" not in text
    assert text == "help-nb202: no such measurement file (packaged tables: help-nb201, hwnasbench-fbnet)"


def test_the_command_line_reads_a_name(tmp_path, capsys):
    from codesign.cli import main
    out = str(tmp_path / "x.pt")
    assert main(["train-estimator", "--measured", "help-nb201", "--target", "no_such_device", "--out", out]) == 2
    err = capsys.readouterr().err.strip()
    assert re.fullmatch(r"codesign: error: help-nb201: no latency column 'no_such_device'; columns: 1080ti_1, .*", err)
    assert main(["train-estimator", "--measured", "help-nb202", "--target", "pixel3", "--out", out]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("codesign: error: help-nb202: no such measurement file "
                   "(packaged tables: help-nb201, hwnasbench-fbnet)")


def test_package_data_ships_the_tables():
    """pyproject's package data matches every packaged file, so a wheel carries them."""
    import fnmatch
    import tomllib
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["codesign"]
    for file in [*M.PACKAGED_TABLES.values(), "nb201_cifar.npz", "README.md"]:
        assert (M.DATA_DIR / file).is_file()
        assert any(fnmatch.fnmatch(f"data/{file}", g) for g in globs), file


# ---------------------------------------------------------------------------------- SCALE-Sim example
def test_example_topology_runs(capsys):
    from accelsim.cli import main
    from accelsim.workload import load_topology
    topo = ROOT / "examples" / "scalesim" / "resnet18.csv"
    net = load_topology(topo)
    # SCALE-Sim's unpadded rows give ResNet-18's (padded) output shapes and its 1.81 GMACs of dense layers
    shapes = {layer.name: layer.out_shape for layer in net.layers}
    assert len(net.layers) == 21 and net.macs == 1_814_073_344
    assert shapes["conv1"] == (112, 112, 64) and shapes["layer1.1.conv2"] == (56, 56, 64)
    assert shapes["layer2.0.downsample"] == shapes["layer2.0.conv1"] == (28, 28, 128)
    assert shapes["layer4.1.conv2"] == (7, 7, 512) and shapes["fc"] == (1, 1, 1000)
    assert main(["simulate", "--hw", str(ROOT / "examples" / "scalesim" / "scale.cfg"), "--topology", str(topo)]) == 0
    out = capsys.readouterr().out
    assert "resnet18 on scale_32x32_ws" in out and "MACs 1,814,073,344" in out
