"""codesign.monotonicity and ``codesign monotonicity``: rank correlation of device latencies (hand-computed
values, pairwise handling of blank cells), the hypervolume share of a reused proxy front (1.0 on
itself, a hand-worked case below 1), the output files read back, and one test per bad input."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from codesign import monotonicity as M
from codesign.cli import main
from codesign.errors import CodesignError

# Five architectures on five devices: b = 2a (same order), c reversed, d swaps rows 1-2 and 3-4.
# Spearman(a, d) by hand: rank differences (-1, 1, -1, 1, 0), 1 - 6 * 4 / (5 * 24) = 0.8;
# Kendall: 2 of the 10 pairs discordant, (8 - 2) / 10 = 0.6. e lacks rows 2 and 4.
TABLE = """arch_str,a,b,c,d,e
n1,1,2,5,2,1
n2,2,4,4,1,
n3,3,6,3,4,30
n4,4,8,2,3,
n5,5,10,1,5,40
"""


def write(tmp_path, text, name="lat.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def table(tmp_path, text=TABLE, **kw):
    return M.read_latency_table(write(tmp_path, text), **kw)


# --------------------------------------------------------------------------------- rank correlation
def test_spearman_and_kendall_of_a_hand_made_table(tmp_path):
    t = table(tmp_path, devices=["a", "b", "c", "d"])
    rc = M.rank_correlations(t, min_shared=3)
    i = {d: k for k, d in enumerate(rc.devices)}
    assert rc.spearman[i["a"], i["b"]] == pytest.approx(1.0, abs=1e-12)
    assert rc.spearman[i["a"], i["c"]] == pytest.approx(-1.0, abs=1e-12)
    assert rc.spearman[i["a"], i["d"]] == pytest.approx(0.8, abs=1e-12)
    assert rc.kendall[i["a"], i["d"]] == pytest.approx(0.6, abs=1e-12)
    assert rc.kendall[i["b"], i["c"]] == pytest.approx(-1.0, abs=1e-12)
    assert np.allclose(rc.spearman, rc.spearman.T) and np.allclose(np.diag(rc.spearman), 1.0)
    s = M.pairwise_summary(rc.spearman)
    # the six pairs: ab 1, ac -1, ad 0.8, bc -1, bd 0.8, cd -0.8
    assert s["pairs"] == 6 and s["median"] == pytest.approx(-0.0) and s["min"] == -1.0 and s["max"] == 1.0


def test_blank_cells_leave_the_row_out_of_that_pair_only(tmp_path):
    t = table(tmp_path)
    assert t.blank_cells == 2 and np.isnan(t.latency_ms[1, 4]) and t.latency_ms[2, 4] == 30.0
    rc = M.rank_correlations(t, min_shared=3)
    i = {d: k for k, d in enumerate(rc.devices)}
    assert rc.shared_rows[i["a"], i["e"]] == 3 and rc.shared_rows[i["a"], i["b"]] == 5
    # e on rows 1, 3, 5 (1, 30, 40) orders them as a does; c reverses them; d (2, 4, 5) agrees with e
    assert rc.spearman[i["a"], i["e"]] == pytest.approx(1.0)
    assert rc.spearman[i["c"], i["e"]] == pytest.approx(-1.0)
    assert rc.spearman[i["d"], i["e"]] == pytest.approx(1.0)
    # the complete pairs are not changed by e's blanks
    assert rc.spearman[i["a"], i["d"]] == pytest.approx(0.8)


def test_a_pair_sharing_too_few_rows_is_an_error_naming_both_devices(tmp_path):
    t = table(tmp_path)
    with pytest.raises(CodesignError, match=r"devices 'a' and 'e' both have a latency in only 3 rows; "
                                            r"expected at least 4"):
        M.rank_correlations(t, min_shared=4)


# ------------------------------------------------------------------------------------------ front reuse
# Accuracy a 90, b 80, c 70, d 60. On P the front is {a, c}; on T it is {a, b} (b dominates c and d).
# T's reference: nadir (4, -80) + 10 % of the range (3, 10) = (4.3, -79); true hypervolume
# 3.3 * 1 (b) + 0.3 * 10 (a) = 6.3; P's front on T: a covers 0.3 * 11 = 3.3 and c (accuracy 70,
# beyond -79) nothing: share 3.3 / 6.3 = 11/21. The other way, P's reference (2.1, -68), true
# 1.1 * 2 + 0.1 * 20 = 4.2, T's front on P: a alone, 0.1 * 22 = 2.2: share 2.2 / 4.2 = 11/21.
REUSE = "arch,P,T,acc\na,2,4,90\nb,4,1,80\nc,1,2,70\nd,3,3,60\n"


def test_front_reuse_share_is_one_on_itself_and_hand_worked_below_one(tmp_path):
    t, acc, what = M.load_inputs(write(tmp_path, REUSE), accuracy="acc")
    assert t.devices == ("P", "T") and t.arch_column == "arch" and list(acc) == [90, 80, 70, 60]
    assert "acc" in what
    fr = M.front_reuse(t, acc, min_shared=3)
    assert fr.share[0, 0] == 1.0 and fr.share[1, 1] == 1.0
    assert fr.share[0, 1] == pytest.approx(11 / 21, abs=1e-12)
    assert fr.share[1, 0] == pytest.approx(11 / 21, abs=1e-12)
    assert fr.target_hypervolume[0, 1] == pytest.approx(6.3) and fr.target_hypervolume[1, 0] == pytest.approx(4.2)
    assert fr.proxy_front[0, 1] == 2 and fr.target_front[0, 1] == 2 and fr.on_target_front[0, 1] == 1
    s = M.reuse_summary(fr)
    assert s["pairs"] == 2 and s["median"] == pytest.approx(11 / 21) and s["at_least_95_pct"] == 0.0


def test_reference_point_rule():
    front = np.array([[1.0, -90.0], [4.0, -80.0]])
    assert np.allclose(M.reference_point(front), [4.3, -79.0])
    # a one-point front has no range: 10 % of the nadir's magnitude
    assert np.allclose(M.reference_point(np.array([[2.0, -50.0]])), [2.2, -45.0])


def test_front_reuse_with_blanks_uses_the_rows_both_devices_and_the_accuracy_have(tmp_path):
    text = "arch,P,T,Q,acc\na,2,4,2,90\nb,4,1,,80\nc,1,2,1,70\nd,3,3,3,60\ne,5,5,5,\n"
    t, acc, _ = M.load_inputs(write(tmp_path, text), accuracy="acc")
    fr = M.front_reuse(t, acc, min_shared=3)
    i = {d: k for k, d in enumerate(fr.devices)}
    assert fr.shared_rows[i["P"], i["T"]] == 4 and fr.shared_rows[i["P"], i["Q"]] == 3
    assert fr.share[i["P"], i["T"]] == pytest.approx(11 / 21)
    assert fr.share[i["Q"], i["P"]] == 1.0   # Q ranks a, c, d as P does


def test_nb201_accuracy_comes_from_the_packaged_table(tmp_path):
    from codesign.accuracy.tables import NB201Table
    nb = NB201Table.load()
    archs = [nb.arch_str(nb.ops[i]) for i in (0, 7, 100, 5000)]
    text = "arch_index,arch_str,x,y\n" + "".join(f"{k},{a},{k + 1},{2 * k + 1}\n" for k, a in enumerate(archs))
    t, acc, what = M.load_inputs(write(tmp_path, text), accuracy="nb201:cifar100")
    assert t.devices == ("x", "y")   # arch_index is not a device
    assert np.allclose(acc, [nb.accuracies["cifar100"][i] for i in (0, 7, 100, 5000)])
    assert "cifar100" in what


# ------------------------------------------------------------------------------------- CLI and outputs
def test_cli_writes_files_that_read_back(tmp_path, capsys):
    src = write(tmp_path, REUSE.replace("acc\n", "acc,R\n").replace(",90\n", ",90,1\n").replace(",80\n", ",80,2\n")
                .replace(",70\n", ",70,3\n").replace(",60\n", ",60,4\n"))
    out = tmp_path / "out"
    assert main(["monotonicity", str(src), "--out", str(out), "--accuracy", "acc", "--min-shared", "3"]) == 0
    printed = capsys.readouterr().out
    assert "3 devices" in printed and "Spearman over 3 pairs" in printed
    devices, m = M.read_matrix_csv(out / "spearman.csv")
    assert devices == ("P", "T", "R")
    t, acc, _ = M.load_inputs(src, accuracy="acc")
    rc = M.rank_correlations(t, min_shared=3)
    assert np.allclose(m, rc.spearman, atol=1e-6)
    first = (out / "spearman.csv").read_text().splitlines()[0]
    assert first == "device,P,T,R"
    pairs = (out / "pairs.csv").read_text().splitlines()
    assert pairs[0] == "device_a,device_b,shared_rows,spearman,kendall" and len(pairs) == 4
    reuse = (out / "front_reuse.csv").read_text().splitlines()
    assert reuse[0].startswith("proxy,target,shared_rows") and len(reuse) == 1 + 9
    row = next(r.split(",") for r in reuse if r.startswith("P,T,"))
    assert float(row[-1]) == pytest.approx(11 / 21, abs=1e-6)
    s = json.loads((out / "summary.json").read_text())
    assert s["rows"] == 4 and s["devices"] == ["P", "T", "R"] and s["spearman"]["pairs"] == 3
    assert "nadir" in s["front_reuse"]["reference_point"]
    assert (out / "spearman.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_matrix_csv_round_trip_keeps_nan_as_blank(tmp_path):
    m = np.array([[1.0, 0.25, np.nan], [0.25, 1.0, -0.5], [np.nan, -0.5, 1.0]])
    p = tmp_path / "m.csv"
    p.write_text(M.matrix_csv(("x", "y", "z"), m))
    assert p.read_text().splitlines()[1] == "x,1.000000,0.250000,"
    devices, back = M.read_matrix_csv(p)
    assert devices == ("x", "y", "z") and np.array_equal(np.isnan(back), np.isnan(m))
    assert np.allclose(back[~np.isnan(m)], m[~np.isnan(m)])


def one_error(capsys, *needles):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("codesign: error: "), err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.mark.parametrize("text, extra, needles", [
    ("name,a,b\nn1,1,2\n", [], ["lat.csv", "no architecture column", "--arch-column"]),
    (TABLE.replace("n3,3,6", "n3,fast,6"), [], ["lat.csv", "row 4", "column 'a'", "'fast'"]),
    (TABLE.replace("n4,4,8", "n4,4,-8"), [], ["lat.csv", "row 5", "column 'b'", "positive"]),
    (TABLE.replace("n2,2,4", "n2,0,4"), [], ["lat.csv", "row 3", "column 'a'"]),
    (TABLE, ["--devices", "a", "zz"], ["lat.csv", "no device column 'zz'"]),
    (TABLE, ["--arch-column", "net"], ["lat.csv", "no architecture column 'net'"]),
    (TABLE, ["--accuracy", "top1"], ["--accuracy top1", "nb201[:DATASET]", "FILE.csv:COLUMN"]),
    (TABLE, ["--accuracy", "nb201"], ["lat.csv", "row 2", "not a NAS-Bench-201 cell"]),
    (TABLE, ["--accuracy", "nb201:mnist"], ["nb201:mnist", "cifar10"]),
    (TABLE, ["--accuracy", "missing.csv:acc"], ["missing.csv", "no such file"]),
    ("arch_str,a\nn1,1\nn2,2\n", [], ["lat.csv", "at least 2 device latency columns, got 1 (a)"]),
    (TABLE, ["--devices", "a"], ["lat.csv", "at least 2 device latency columns"]),
    (TABLE, [], ["lat.csv", "devices 'a' and 'e'", "only 3 rows", "at least 10"]),
    (TABLE, ["--min-shared", "2"], ["--min-shared: expected an integer >= 3, got 2"]),
    ("arch_str,a,b\n", [], ["lat.csv", "no data rows"]),
    ("arch_str,a,b\n,1,2\n", [], ["lat.csv", "row 2", "empty architecture cell"]),
    ("arch_str,a,b\nn1,1,2\n\nn3,x,2\n", [], ["lat.csv", "row 4", "column 'a'", "'x'"]),   # blank row 3 counted
    ("", [], ["lat.csv", "empty file"]),
])
def test_bad_table_is_one_line_and_writes_nothing(tmp_path, capsys, text, extra, needles):
    src = write(tmp_path, text)
    out = tmp_path / "out"
    args = ["monotonicity", str(src), "--out", str(out), *extra]
    if "--min-shared" not in extra and "only 3 rows" not in needles:
        args += ["--min-shared", "3"]
    assert main(args) == 2
    one_error(capsys, *needles)
    assert not out.exists()


def test_missing_table_file(tmp_path, capsys):
    assert main(["monotonicity", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "out")]) == 2
    one_error(capsys, "nope.csv", "no such file")
    assert not (tmp_path / "out").exists()


def test_out_is_a_file_or_not_writable(tmp_path, capsys, monkeypatch):
    src = write(tmp_path, TABLE)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["monotonicity", str(src), "--out", str(blocker / "sub")]) == 2
    one_error(capsys, "--out", "is a file, not a folder")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(tmp_path) else real_access(p, mode))
    assert main(["monotonicity", str(src), "--out", str(tmp_path / "out")]) == 2
    one_error(capsys, "--out", "not writable")


def test_accuracy_from_another_csv_is_joined_on_the_architecture(tmp_path):
    src = write(tmp_path, REUSE.replace(",acc\n", "\n").replace(",90\n", "\n").replace(",80\n", "\n")
                .replace(",70\n", "\n").replace(",60\n", "\n"))
    write(tmp_path, "arch,top1\nd,60\nc,70\nb,80\na,90\nzz,10\n", "acc.csv")
    t, acc, what = M.load_inputs(src, accuracy=str(tmp_path / "acc.csv") + ":top1")
    assert t.devices == ("P", "T") and list(acc) == [90, 80, 70, 60] and "acc.csv" in what
    write(tmp_path, "arch,top1\na,90\na,91\n", "dup.csv")
    with pytest.raises(CodesignError, match=r"dup.csv: row 3: architecture 'a' has two accuracies"):
        M.load_inputs(src, accuracy=str(tmp_path / "dup.csv") + ":top1")
