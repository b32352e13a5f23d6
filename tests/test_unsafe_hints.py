"""Errors for damaged or pickle-holding files never advise the unsafe way to load them."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

from accelsim.io import save_checkpoint
from codesign.accuracy import read_npz
from codesign.errors import CodesignError
from codesign.estimator.model import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, Estimator


def test_object_npz_error_does_not_suggest_allow_pickle(tmp_path):
    np.savez(tmp_path / "obj.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(CodesignError, match="obj.npz: not a readable .npz archive .holds object arrays") as e:
        read_npz(tmp_path / "obj.npz")
    assert "allow_pickle" not in str(e.value)


def test_checkpoint_with_objects_error_does_not_suggest_weights_only_false(tmp_path):
    # a well-formed checkpoint (its checksum matches) whose payload holds a pickled object
    save_checkpoint(tmp_path / "obj.pt", {"when": datetime.date(2020, 1, 1)}, CHECKPOINT_FORMAT, CHECKPOINT_VERSION)
    with pytest.raises(CodesignError, match="obj.pt: not a readable estimator checkpoint") as e:
        Estimator.load(tmp_path / "obj.pt")
    assert "weights_only" not in str(e.value) and len(str(e.value).splitlines()) == 1
