"""accelsim.io: atomic writes with the mode open() gives (the umask untouched), no temporary left by a
failed write, strict YAML, and checkpoints with a version and a checksum."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from accelsim.errors import AccelsimError, ConfigError
from accelsim.io import (CHECKPOINT_MAGIC, atomic_open, load_checkpoint, read_yaml, save_checkpoint, write_atomic,
                         write_json)

ROOT = Path(__file__).resolve().parents[1]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ------------------------------------------------------------------------------------ atomic writes
@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002, 0o000, 0o027])
def test_write_atomic_gives_the_mode_open_gives(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "a.txt", "text")
        write_atomic(tmp_path / "b.bin", b"\x00\x01")
        with atomic_open(tmp_path / "c.npz", binary=True) as fh:
            fh.write(b"streamed")
        with open(tmp_path / "plain.txt", "w") as fh:     # what open() gives, for comparison
            fh.write("text")
        assert os.umask(umask) == umask, "a write changed the process umask"
    finally:
        os.umask(old)
    for name in ("a.txt", "b.bin", "c.npz", "plain.txt"):
        assert _mode(tmp_path / name) == 0o666 & ~umask, name
    assert (tmp_path / "a.txt").read_text() == "text" and (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "c.npz").read_bytes() == b"streamed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin", "c.npz", "plain.txt"]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the umask from /proc")
def test_importing_and_writing_never_touch_the_umask(tmp_path):
    """In a fresh interpreter (so that the import itself is seen): the umask, read from /proc after
    each step, stays what it was, and the file gets 0o666 less it."""
    code = """
import os, sys

def umask():
    for line in open("/proc/self/status"):
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)

calls = []
real = os.umask
os.umask = lambda m: calls.append(m) or real(m)     # any call would be recorded
before = umask()
import accelsim.io, accelsim.cli, accelsim.plots
after_import = umask()
accelsim.io.write_atomic(sys.argv[1], "x")
accelsim.io.write_json(sys.argv[1] + ".json", {"a": 1})
print(before, after_import, umask(), oct(os.stat(sys.argv[1]).st_mode & 0o777), calls)
"""
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "f.txt")], cwd=ROOT, capture_output=True,
                         text=True, umask=0o027)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [str(0o027)] * 3 + [oct(0o640), "[]"]


def test_a_failed_write_leaves_no_temporary_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(TypeError):
        write_atomic(target, 42)          # neither str nor bytes: the write fails after the temporary exists
    with pytest.raises(ZeroDivisionError):
        with atomic_open(target) as fh:
            fh.write("half")
            1 / 0
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_a_missing_folder_is_one_line(tmp_path):
    with pytest.raises(AccelsimError, match=r"x.json: folder .*nowhere does not exist") as e:
        write_atomic(tmp_path / "nowhere" / "x.json", "{}")
    assert len(str(e.value).splitlines()) == 1


def test_write_json_writes_what_json_dumps_gives(tmp_path):
    obj = {"b": [1, 2], "a": {"c": None}}
    write_json(tmp_path / "m.json", obj, sort_keys=True, default=str)
    assert (tmp_path / "m.json").read_text() == json.dumps(obj, indent=1, sort_keys=True, default=str)


def test_the_temporary_is_a_hidden_file_next_to_the_target(tmp_path, monkeypatch):
    seen = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (seen.append((Path(src), Path(dst))), real(src, dst))[1])
    write_atomic(tmp_path / "run.yaml", "a: 1\n")
    (src, dst), = seen
    assert dst == tmp_path / "run.yaml" and src.parent == tmp_path
    assert src.name.startswith(".run.yaml.") and src.name.endswith(".tmp") and len(src.name) > len(".run.yaml..tmp")


# ------------------------------------------------------------------------------------ YAML
def test_read_yaml_errors_are_one_line(tmp_path):
    p = tmp_path / "dup.yaml"
    p.write_text("a: 1\nb: 2\na: 3\n")
    with pytest.raises(ConfigError, match=r"dup.yaml: line 3: duplicate key 'a' \(first given on line 1\)"):
        read_yaml(p)
    p = tmp_path / "latin1.yaml"
    p.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1.yaml: not UTF-8 text \(byte 0xe9 at offset 9\)"):
        read_yaml(p)
    p = tmp_path / "bomb.yaml"
    p.write_text("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(6)))
    with pytest.raises(ConfigError, match=r"bomb.yaml: line \d+: YAML aliases expand to more than") as e:
        read_yaml(p)
    assert len(str(e.value).splitlines()) == 1
    p = tmp_path / "ok.yaml"
    p.write_text("a: {b: [1, 2]}\n")
    assert read_yaml(p) == {"a": {"b": [1, 2]}}


# ------------------------------------------------------------------------------------ checkpoints
@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _payload(torch):
    return {"weights": torch.arange(12, dtype=torch.float32).reshape(3, 4), "step": 7, "names": ["a", "b"],
            "nested": {"x": 1.5, "y": None}}


def test_checkpoint_round_trip(tmp_path, torch):
    p = tmp_path / "c.pt"
    save_checkpoint(p, _payload(torch), "test-kind", 3)
    got = load_checkpoint(p, "test-kind", 3)
    want = _payload(torch)
    assert torch.equal(got.pop("weights"), want.pop("weights")) and got == want
    assert p.read_bytes().startswith(CHECKPOINT_MAGIC)
    assert [q.name for q in tmp_path.iterdir()] == ["c.pt"]


def _one_line(exc_info) -> str:
    text = str(exc_info.value)
    assert len(text.splitlines()) == 1 and "weights_only" not in text
    return text


def test_corrupt_or_truncated_checkpoint_is_one_line_naming_the_file(tmp_path, torch):
    good = tmp_path / "good.pt"
    save_checkpoint(good, _payload(torch), "test-kind", 1)
    data = good.read_bytes()
    header_end = data.index(b"\n", len(CHECKPOINT_MAGIC)) + 1
    model = "not a readable model checkpoint"
    cases = {
        "garbage.pt": (b"not a checkpoint at all", rf"{model} \(no checkpoint header"),
        "empty.pt": (b"", rf"{model} \(no checkpoint header"),
        "headcut.pt": (data[:len(CHECKPOINT_MAGIC) + 10], rf"{model} \(corrupt or truncated header\)"),
        "bodycut.pt": (data[:header_end + 50], rf"{model} \(truncated: 50 of {len(data) - header_end:,} payload"),
        "longer.pt": (data + b"x", rf"{model} \(corrupt: {len(data) - header_end + 1:,} payload bytes where"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(AccelsimError, match=re.escape(f"{tmp_path / name}: ") + message) as e:
            load_checkpoint(tmp_path / name, "test-kind", 1, what="model")
        _one_line(e)
    with pytest.raises(AccelsimError, match=r"missing.pt: no such model checkpoint"):
        load_checkpoint(tmp_path / "missing.pt", "test-kind", 1, what="model")
    torch.save(_payload(torch), tmp_path / "bare.pt")      # a plain torch file (the format before the header)
    with pytest.raises(AccelsimError, match=r"bare.pt: not a readable test-kind checkpoint \(no checkpoint header: "
                                            r"corrupt, or written in an older format; retrain\)"):
        load_checkpoint(tmp_path / "bare.pt", "test-kind", 1, hint="; retrain")


def test_checksum_mismatch_is_detected(tmp_path, torch):
    p = tmp_path / "c.pt"
    save_checkpoint(p, _payload(torch), "test-kind", 1)
    data = bytearray(p.read_bytes())
    data[-20] ^= 0xFF                  # one flipped byte in the payload: same size, another sha256
    p.write_bytes(bytes(data))
    with pytest.raises(AccelsimError, match=r"c.pt: not a readable test-kind checkpoint \(corrupt: the payload's "
                                            r"sha256 does not match its header\)") as e:
        load_checkpoint(p, "test-kind", 1)
    _one_line(e)
    # the header's digest is what is compared: the recorded digest of the original payload
    header = json.loads(bytes(data[len(CHECKPOINT_MAGIC):data.index(b"\n", len(CHECKPOINT_MAGIC))]))
    body = bytes(data[data.index(b"\n", len(CHECKPOINT_MAGIC)) + 1:])
    assert header["sha256"] != hashlib.sha256(body).hexdigest() and header["bytes"] == len(body)


def test_checkpoint_kind_and_version_are_checked_with_the_callers_error(tmp_path, torch):
    class MyError(AccelsimError):
        pass

    p = tmp_path / "c.pt"
    save_checkpoint(p, _payload(torch), "one-kind", 2)
    with pytest.raises(MyError, match=r"c.pt: holds a 'one-kind' checkpoint, not 'other-kind'"):
        load_checkpoint(p, "other-kind", 2, error=MyError)
    with pytest.raises(MyError, match=r"c.pt: checkpoint format version 2, this code reads version 3; retrain"):
        load_checkpoint(p, "one-kind", 3, hint="; retrain", error=MyError)


def test_a_payload_with_objects_is_refused_without_unpickling_them(tmp_path, torch):
    import datetime
    p = tmp_path / "obj.pt"
    save_checkpoint(p, {"when": datetime.date(2020, 1, 1)}, "test-kind", 1)
    with pytest.raises(AccelsimError, match=r"obj.pt: not a readable test-kind checkpoint \(holding more than "
                                            r"tensors and plain data; ") as e:
        load_checkpoint(p, "test-kind", 1)
    _one_line(e)


def test_accelsim_io_imports_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"       # any 'import torch' now fails
            "import accelsim.io, accelsim.plots, accelsim.cli\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]


def test_leftover_temporaries_are_the_killed_writes_of_that_file_only(tmp_path):
    from accelsim.io import leftover_temporaries
    target = tmp_path / "summary.json"
    for name in (".summary.json.1a2b3c4d.tmp", ".summary.json.4242.tmp",      # a write's, an older pid-named one
                 ".summary.json.notes.tmp", ".summary.jsonx.1a2b3c4d.tmp", ".pareto.csv.1a2b3c4d.tmp"):
        (tmp_path / name).write_text("x")
    (tmp_path / ".summary.json.deadbeef.tmp").mkdir()                        # not a file
    assert [p.name for p in leftover_temporaries(target)] == [".summary.json.1a2b3c4d.tmp", ".summary.json.4242.tmp"]
