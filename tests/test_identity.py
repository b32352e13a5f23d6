"""Run identities: a search, dataset or supernet run resumes only from results made from the same
inputs (hardware contents, files read, engine model code); a mismatch is one line naming what changed,
and --force-new starts afresh with the old folder kept aside."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

import accelsim
from accelsim.config import hardware_to_dict
from codesign import identity as I
from codesign.accuracy import DEFAULT_TABLE, NB201Table
from codesign.cli import main
from codesign.estimator.dataset import DatasetRequest, generate
from codesign.errors import CodesignError
from codesign.spaces.space import HardwareSpace

BASE_RUN = {"name": "t", "space": {"network": {"type": "nb201"}}, "objectives": ["latency_ms", "accuracy"],
            "accuracy": {"source": "nb201"}, "budget": 16, "batch_size": 8}


def _hw_yaml(path: Path, latency_ns: float = 100) -> Path:
    d = hardware_to_dict(accelsim.load_hardware("neural_engine"))
    d["dram"]["latency_ns"] = latency_ns
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    return path


def _run_yaml(tmp_path: Path, **changes) -> Path:
    p = tmp_path / "run.yaml"
    p.write_text(yaml.safe_dump({**BASE_RUN, **changes}))
    return p


def _search(cfg: Path, out: Path, *extra) -> int:
    return main(["search", "--config", str(cfg), "--out", str(out), "--quiet", *extra])


def _records(folder: Path) -> list:
    return [json.loads(line) for line in (folder / "journal.jsonl").read_text().splitlines()[1:]]


# ------------------------------------------------------------------------------------ identity itself
def test_identity_is_plain_data_with_file_checksums_and_the_engine_model(tmp_path):
    f = tmp_path / "est.pt"
    f.write_bytes(b"weights")
    ident = I.identity({"hardware": accelsim.load_hardware("neural_engine"), "space": (1, 2),
                        "files": {"estimator checkpoint": f, "unused": None}})
    assert ident["hardware"] == json.loads(json.dumps(hardware_to_dict(accelsim.load_hardware("neural_engine"))))
    assert ident["space"] == [1, 2]
    assert ident["files"] == {"estimator checkpoint": {"name": "est.pt", "sha256": I.file_checksum(f)}}
    assert ident["engine_model"] == I.engine_model_version() and len(ident["engine_model"]) == 64
    assert list(ident)[-1] == "engine_model"
    # stored and read back, it has the same fingerprint; the fingerprint is the canonical JSON's sha256
    again = json.loads(json.dumps(ident, indent=1))
    assert I.fingerprint(again) == I.fingerprint(ident) and len(I.fingerprint(ident)) == 64
    f.write_bytes(b"other weights")
    changed = I.identity({"hardware": accelsim.load_hardware("neural_engine"), "space": (1, 2),
                          "files": {"estimator checkpoint": f}})
    assert I.fingerprint(changed) != I.fingerprint(ident)
    with pytest.raises(CodesignError, match="missing.pt: cannot read"):
        I.identity({"files": {"estimator checkpoint": tmp_path / "missing.pt"}})


def test_describe_change_names_the_first_differing_input():
    ne = accelsim.load_hardware("neural_engine")
    a = I.identity({"hardware": ne, "files": {}}, engine_model="v1")
    b = I.identity({"hardware": ne.replace(dram__latency_ns=120), "files": {}}, engine_model="v1")
    assert I.describe_change(a, b) == "hardware.dram.latency_ns 100 → 120"
    assert I.describe_change(a, {**a, "engine_model": "v2"}) == "engine model code changed"
    # a user's own input is named before the engine model
    assert I.describe_change(a, {**b, "engine_model": "v2"}) == "hardware.dram.latency_ns 100 → 120"
    fa = {**a, "files": {"estimator checkpoint": {"name": "est.pt", "sha256": "1"}}}
    fb = {**a, "files": {"estimator checkpoint": {"name": "est.pt", "sha256": "2"}}}
    assert I.describe_change(fa, fb) == "estimator checkpoint est.pt changed"
    assert "is new" in I.describe_change(a, fb) and "no longer read" in I.describe_change(fa, a)
    assert I.describe_change({"s": {"k": [3, 5]}}, {"s": {"k": [3, 7]}}) == "s.k[1] 5 → 7"
    assert I.describe_change({"s": {}}, {"s": {"seed": 5}}) == "s.seed (absent) → 5"
    long = I.describe_change({"x": "a" * 200}, {"x": "b" * 200})
    assert len(long) < 2 * I.VALUE_CHARS + 10 and "…" in long and "\n" not in long


def test_engine_model_version_follows_the_model_code_only(tmp_path):
    root = tmp_path / "repo"
    for rel in ("accelsim/engine/kernels.py", "accelsim/cli.py", "accelsim/plots.py", "accelsim/workload/zoo.py",
                "accelsim/system/model.py", "codesign/estimator/features.py", "codesign/search/runs.py",
                "codesign/estimator/__init__.py", "codesign/cli.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"# {rel}\n")
    names = [p.relative_to(root).as_posix() for p in I.model_sources(root)]
    assert names == ["accelsim/engine/kernels.py", "accelsim/workload/zoo.py", "codesign/estimator/features.py"]
    v0 = I.engine_model_version(root)
    (root / "accelsim/cli.py").write_text("# a new flag\n")
    (root / "codesign/search/runs.py").write_text("# a new column\n")
    (root / "accelsim/system/model.py").write_text("# a faster event loop\n")
    assert I.engine_model_version(root) == v0          # not model code (codesign never runs the system model)
    (root / "accelsim/workload/zoo.py").write_text("# a layer more\n")
    assert I.engine_model_version(root) != v0
    # the real tree: the engine, importers, zoo and features are in; the CLIs and plots are not
    real = {p.relative_to(I._ROOT).as_posix() for p in I.model_sources()}
    assert {"accelsim/engine/simulate.py", "accelsim/workload/zoo.py", "accelsim/config.py",
            "codesign/estimator/features.py", "codesign/estimator/dataset.py", "codesign/search/problems.py",
            "codesign/spaces/space.py", "codesign/accuracy/tables.py"} <= real
    assert not {"accelsim/cli.py", "accelsim/plots.py", "accelsim/system/model.py", "codesign/cli.py",
                "codesign/search/runs.py", "codesign/search/runconfig.py", "codesign/estimator/__init__.py"} & real


# ------------------------------------------------------------------------------------ search runs
def test_changed_hardware_file_refuses_the_resume_and_force_new_keeps_the_old_run(tmp_path, capsys):
    hw = _hw_yaml(tmp_path / "chip.yaml", 100)
    cfg = _run_yaml(tmp_path, hardware=str(hw))
    out = tmp_path / "r"
    assert _search(cfg, out) == 0
    stored = json.loads((out / "identity.json").read_text())
    assert stored["hardware"]["dram"]["latency_ns"] == 100
    before = (out / "journal.jsonl").read_bytes()
    _hw_yaml(hw, 120)
    capsys.readouterr()
    assert _search(cfg, out) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"codesign: error: {out}:")
    assert "hardware.dram.latency_ns 100 → 120" in err and "--force-new" in err
    assert (out / "journal.jsonl").read_bytes() == before                # nothing mixed in
    assert _search(cfg, out, "--force-new") == 0
    assert "moved aside" in capsys.readouterr().out
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("r.old-")]
    assert len(aside) == 1 and (aside[0] / "journal.jsonl").read_bytes() == before
    assert json.loads((out / "identity.json").read_text())["hardware"]["dram"]["latency_ns"] == 120
    assert [r["i"] for r in _records(out)] == list(range(16))
    # the same contents under another file name is the same run: it resumes
    shutil.copy(hw, tmp_path / "renamed.yaml")
    cfg2 = _run_yaml(tmp_path, hardware=str(tmp_path / "renamed.yaml"))
    assert _search(cfg2, out) == 0
    assert "0 evaluated, 16 replayed" in capsys.readouterr().out


def test_changed_accuracy_table_file_refuses_the_resume(tmp_path, capsys):
    table = tmp_path / "nb201.npz"
    shutil.copy(DEFAULT_TABLE, table)
    cfg = _run_yaml(tmp_path, accuracy={"source": "nb201", "table": str(table)})
    out = tmp_path / "r"
    assert _search(cfg, out) == 0
    t = NB201Table.load(table)
    acc = {d: a.copy() for d, a in t.accuracies.items()}
    acc["cifar10"][0] += 0.5
    NB201Table(t.ops, acc, t.flops, t.params).save(table)
    capsys.readouterr()
    assert _search(cfg, out) == 2
    err = capsys.readouterr().err
    assert "accuracy table nb201.npz changed" in err and "--force-new" in err


def test_a_changed_engine_model_or_a_folder_without_identity_is_refused(tmp_path, capsys, monkeypatch):
    cfg = _run_yaml(tmp_path)
    out = tmp_path / "r"
    assert _search(cfg, out) == 0
    monkeypatch.setattr(I, "engine_model_version", lambda *a, **k: "0" * 64)
    capsys.readouterr()
    assert _search(cfg, out) == 2
    assert "engine model code changed" in capsys.readouterr().err
    monkeypatch.undo()
    assert _search(cfg, out) == 0                                       # the code is back: it resumes
    (out / "identity.json").unlink()                                    # as an older codesign left it
    capsys.readouterr()
    assert _search(cfg, out) == 2
    err = capsys.readouterr().err
    assert "no stored input identity" in err and "--force-new" in err


# ------------------------------------------------------------------------------------ datasets
def test_dataset_with_a_changed_base_hardware_file_is_not_a_cache_hit(tmp_path):
    hw = _hw_yaml(tmp_path / "chip.yaml", 100)
    req = DatasetRequest(operators=10, blocks=0, networks=2, hardware=2, hw_per_network=1, format="npz",
                         hardware_space=HardwareSpace(base=str(hw)))
    first = generate(req, tmp_path / "d", progress=False)
    assert not first.cached
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert manifest["identity"]["hardware"]["dram"]["latency_ns"] == 100
    assert manifest["content_hash"] == I.fingerprint(manifest["identity"])[:20]
    assert generate(req, tmp_path / "d", progress=False).cached
    _hw_yaml(hw, 120)
    assert req.content_hash() != first.content_hash
    with pytest.raises(CodesignError, match=re.escape("hardware.dram.latency_ns 100 → 120")):
        generate(req, tmp_path / "d", progress=False)
    assert not generate(req, tmp_path / "e", progress=False).cached
    again = generate(req, tmp_path / "d", progress=False, force_new=True)
    assert not again.cached and again.moved_aside is not None and again.moved_aside.name.startswith("d.old-")
    assert json.loads((again.moved_aside / "manifest.json").read_text())["content_hash"] == first.content_hash


def test_dataset_cli_force_new_and_an_old_manifest(tmp_path, capsys):
    args = ["dataset", "--out", str(tmp_path / "d"), "--operators", "10", "--blocks", "0", "--networks", "0",
            "--hardware", "1", "--hw-per-network", "1", "--format", "npz", "--quiet"]
    assert main(args) == 0
    m = tmp_path / "d" / "manifest.json"
    manifest = json.loads(m.read_text())
    del manifest["identity"]                                            # as an older codesign wrote it
    m.write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "no stored input identity" in err and "--force-new" in err
    assert main(args + ["--force-new"]) == 0
    out = capsys.readouterr().out
    assert "moved aside" in out and "10 records" in out
    assert main(args) == 0 and "cache hit" in capsys.readouterr().out


# ------------------------------------------------------------------------------------ supernet
@pytest.fixture
def one_thread():
    # tiny tensors: extra torch threads only spin-wait on a busy machine (as in test_supernet.py)
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tiny_supernet():
    from codesign.supernet import SupernetConfig, synthetic_dataset
    cfg = SupernetConfig(resolution=16, stem_channels=8, stage_channels=(8, 16), stage_strides=(1, 2),
                         stage_depths=(1, 2), head_channels=32, num_classes=4, kernels=(3,), expansions=(2,),
                         steps=4, warmup_steps=1, batch_size=16, device="cpu", checkpoint_every=2)
    return cfg, synthetic_dataset(160, resolution=16, num_classes=4, seed=3)


def test_supernet_checkpoint_refuses_other_data_or_hardware_contents(tmp_path, one_thread):
    from codesign.supernet import read_checkpoint, train_in_folder, train_supernet
    cfg, data = _tiny_supernet()
    hw = _hw_yaml(tmp_path / "chip.yaml", 100)
    ckpt = tmp_path / "c.pt"
    train_supernet(cfg, data, str(hw), checkpoint=ckpt, progress=False)
    ident = json.loads(read_checkpoint(ckpt)["identity"])
    assert ident["hardware"]["dram"]["latency_ns"] == 100 and ident["kind"] == "supernet"
    x, y = data
    with pytest.raises(CodesignError, match=r"c\.pt: this checkpoint was made from other inputs \(data\.sha256"):
        train_supernet(cfg, (x[::-1].copy(), y[::-1].copy()), str(hw), checkpoint=ckpt, progress=False)
    _hw_yaml(hw, 120)    # past the warm-up the checkpoint belongs to its hardware, contents included
    changed = re.escape("another hardware config (hardware.dram.latency_ns 100 → 120)")
    with pytest.raises(CodesignError, match=changed):
        train_supernet(cfg, data, str(hw), checkpoint=ckpt, progress=False)
    # the command's folder: --force-new moves the old run aside and starts again
    out = tmp_path / "sn"
    out.mkdir()
    shutil.copy(ckpt, out / "checkpoint.pt")
    with pytest.raises(CodesignError, match="another hardware config"):
        train_in_folder(cfg, data, out, str(hw), progress=False)
    r = train_in_folder(cfg, data, out, str(hw), force_new=True, progress=False)
    assert r.resumed_from == 0 and r.moved_aside is not None and (r.moved_aside / "checkpoint.pt").exists()
    assert (out / "result.json").exists()


def test_supernet_checkpoint_without_identity_is_refused(tmp_path, one_thread):
    from accelsim.io import load_checkpoint, save_checkpoint
    from codesign.supernet import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, train_supernet
    cfg, data = _tiny_supernet()
    ckpt = tmp_path / "c.pt"
    train_supernet(cfg, data, "neural_engine", checkpoint=ckpt, progress=False)
    blob = load_checkpoint(ckpt, CHECKPOINT_FORMAT, CHECKPOINT_VERSION)
    blob.pop("identity")                                                # as an older codesign wrote it
    save_checkpoint(ckpt, blob, CHECKPOINT_FORMAT, CHECKPOINT_VERSION)
    with pytest.raises(CodesignError, match="no stored input identity.*--force-new"):
        train_supernet(cfg, data, "neural_engine", checkpoint=ckpt, progress=False)
