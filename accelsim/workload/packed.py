"""Networks as rows of numbers: the fast path of searches that score thousands of never-seen networks.

A :class:`~accelsim.workload.ir.Network` holds one frozen ``Layer`` object per operator, validated on
construction, and the engine packs it into its layer table before simulating. A search that builds
thousands of networks it then throws away spends most of its time there. :class:`RowBuilder` takes
the same calls as :class:`~accelsim.workload.ir.NetworkBuilder` (every block and task head written
for it runs unchanged) but records each layer as one tuple of integers, and :class:`PackedNetwork`
turns the rows into the engine's layer table, MACs, parameters and memory figures with compiled
loops (:mod:`accelsim.engine.rows`), never building a ``Layer``.

Row layout (one tuple per layer; every field an int): the ``R_*`` columns of
:mod:`accelsim.workload.rowfields`. A layer's inputs
are held beside the rows as offsets back from the layer (``i - j`` for producer ``j``; the network
input, at ``j = -1``, is ``i + 1``), so a run of rows built on one input can be appended after any
layer producing that input's shape: the search spaces cache whole stages as such runs.

``PackedNetwork`` answers what a search scores (``macs``, ``params``, the packed table the engine
reads, :meth:`PackedNetwork.memory_figures`), and equals, field for field, what the ``Network``
built by the same calls gives (``tests/test_packed_rows.py``). Reports that name layers still
need the ``Network``: build it for the designs you report.
"""

from __future__ import annotations

import numpy as np

from .. import precision as prec
from ..errors import WorkloadError
from .rowfields import R_IC, R_IH, R_KH, R_KW, R_NIN, R_OC, R_OH, R_SH, R_SW
from .arena import _bytes_table
from .ir import MAX_DIM, MAX_ELEMENTS, OP_CODE, NetworkBuilder, layer_macs


class RowBuilder(NetworkBuilder):
    """:class:`NetworkBuilder` that records rows instead of ``Layer`` objects; ``build()`` gives a
    :class:`PackedNetwork`. Tensor handles are layer indices (-1: the network input), so code that
    passes handles around works unchanged; code that names a layer by string must use the index."""

    def __init__(self, name: str, input_shape, precision: str = "int8", weight_precision: str | None = None):
        super().__init__(name, input_shape, precision, weight_precision)
        self.input = -1
        self._shapes = {-1: self.input_shape}
        self._count = 0        # rows so far (the next row's handle)
        self._rows: list = []  # rows added one by one since the last appended run (tuples)
        self._ins: list = []   # their offsets back to their producers (tuples)
        self._chunks: list = []   # (table, flat offsets) arrays, in order
        self._runs: list = []     # (first handle, table) of appended runs, to look up their shapes

    @property
    def count(self) -> int:
        """Rows so far: the next row's handle."""
        return self._count

    def shape(self, tensor) -> tuple:
        hit = self._shapes.get(tensor)
        if hit is not None:
            return hit
        for first, table in self._runs:
            if isinstance(tensor, int) and first <= tensor < first + len(table):
                return tuple(int(v) for v in table[tensor - first, R_OH:R_OC + 1])
        raise WorkloadError(f"network {self.name}: unknown tensor {tensor!r}")

    def _new_layer(self, name, op, inputs, in_shape, out_shape, kernel=(1, 1), stride=(1, 1), padding=(0, 0),
                   groups=1, bias=False, activation="", weight_precision="int8", act_precision="int8", attrs=(),
                   dilation=(1, 1)):
        code = OP_CODE[op]
        row = (code, *in_shape, *out_shape, kernel[0], kernel[1], stride[0], stride[1], groups,
               prec.INDEX[weight_precision], prec.INDEX[act_precision], dilation[0], dilation[1], 1 if bias else 0,
               layer_macs(op, in_shape, out_shape, kernel, stride, padding, groups), len(inputs))
        return name, row, inputs

    def _add(self, layer) -> int:
        name, row, inputs = layer
        out = row[R_OH:R_OC + 1]
        if min(out) <= 0:
            raise WorkloadError(f"network {self.name}: layer {name!r} has an empty output {out} "
                                f"(input {row[R_IH:R_IC + 1]}, kernel {row[R_KH:R_KW + 1]}, "
                                f"stride {row[R_SH:R_SW + 1]})")
        i = self._count
        self._rows.append(row)
        self._ins.append(tuple(i - j for j in inputs))
        self._shapes[i] = out
        self._count = i + 1
        return i

    def _flush(self) -> None:
        if self._rows:
            self._chunks.append((np.array(self._rows, dtype=np.int64),
                                 np.array([o for offs in self._ins for o in offs], dtype=np.int64)))
            self._rows, self._ins = [], []

    def append_rows(self, x: int, table: np.ndarray, offsets: np.ndarray, out_shape: "tuple | None" = None) -> int:
        """Append a run of rows (``table[row, R_*]`` and its inputs' offsets, flat) built on an input of
        ``x``'s shape, e.g. a cached stage, reading ``x`` where they read their input; ``x`` must be
        the last tensor added (or the input when none is), as relative offsets assume. ``out_shape``:
        the last row's output shape when the caller has it. Returns the run's last row's handle."""
        if x != self._count - 1:
            raise WorkloadError(f"network {self.name}: rows can only be appended after the tensor they read")
        self._flush()
        self._chunks.append((table, offsets))
        self._runs.append((self._count, table))
        self._count += len(table)
        self._shapes[self._count - 1] = out_shape or tuple(int(v) for v in table[-1, R_OH:R_OC + 1])
        return self._count - 1

    def splice(self, layers, x):   # pragma: no cover - the Layer-based splice has no meaning here
        raise WorkloadError("RowBuilder: splice takes Layer objects; use append_rows")

    def build(self) -> "PackedNetwork":
        self._flush()
        if not self._chunks:
            raise WorkloadError(f"network {self.name}: has no layers")
        if len(self._chunks) == 1:
            table, offsets = self._chunks[0]
        else:
            table = np.concatenate([c[0] for c in self._chunks])
            offsets = np.concatenate([c[1] for c in self._chunks])
        return PackedNetwork(self.name, self.input_shape, table, offsets, self.precision)


def _bytes_array(key: tuple) -> np.ndarray:
    """Bytes per element by format index: the arena's table (defaults, overridden by the sorted
    ``(format, bytes)`` pairs of ``key`` and checked); one array per distinct key (a search's configs
    share a few), which callers must not write to."""
    hit = _BYTES_ARRAYS.get(key)
    if hit is None:
        table = _bytes_table(dict(key))
        hit = np.array([table[n] for n in prec.NAMES], dtype=np.float64)
        if len(_BYTES_ARRAYS) < 1024:
            _BYTES_ARRAYS[key] = hit
    return hit


_BYTES_ARRAYS: dict = {}


class PackedNetwork:
    """A network as rows (see the module docs): what the engine and a search's metrics read of it.

    ``table[layer, R_*]`` and ``offsets`` (each layer's inputs as offsets back, flat, in row order).
    ``simulate_many`` and ``memory_figures`` take it in place of a ``Network``; ``ManyResult.report``
    does not (a per-layer report names layers: build the ``Network``)."""

    def __init__(self, name: str, input_shape: tuple, table: np.ndarray, offsets: np.ndarray,
                 input_precision: str = "int8"):
        from ..engine.rows import pack_rows
        in_ptr = np.zeros(len(table) + 1, dtype=np.int64)
        np.cumsum(table[:, R_NIN], out=in_ptr[1:])
        h, w, c = input_shape
        lay, macs, params, bad = pack_rows(table, in_ptr, offsets, h, w, c, MAX_DIM, MAX_ELEMENTS)
        if bad >= 0:
            raise WorkloadError(f"network {name}: layer {bad} is above the size limits ({MAX_DIM:,} per dimension, "
                                f"{MAX_ELEMENTS:,} elements per tensor); expected a smaller layer")
        self._set(name, input_shape, table, offsets, in_ptr, lay, macs, params, input_precision)

    @classmethod
    def from_parts(cls, name: str, input_shape: tuple, table: np.ndarray, offsets: np.ndarray, in_ptr: np.ndarray,
                   lay: np.ndarray, macs: int, params: int, input_precision: str = "int8") -> "PackedNetwork":
        """A network whose rows were packed already (:func:`accelsim.engine.rows.classifier_rows` packs a
        batch in one call): the same object ``PackedNetwork(name, input_shape, table, offsets)`` gives,
        without packing again. The caller vouches that ``lay``, ``macs`` and ``params`` are pack_rows'."""
        net = cls.__new__(cls)
        net._set(name, input_shape, table, offsets, in_ptr, lay, macs, params, input_precision)
        return net

    def _set(self, name, input_shape, table, offsets, in_ptr, lay, macs, params, input_precision) -> None:
        self.name, self.input_shape, self.input_precision = name, tuple(input_shape), input_precision
        self.table, self.offsets, self.in_ptr, self.lay = table, offsets, in_ptr, lay
        self.macs, self.params = int(macs), int(params)
        self._memory: dict = {}

    @property
    def n_layers(self) -> int:
        return self.table.shape[0]

    def __len__(self) -> int:
        return self.n_layers

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def memory_bytes(self, bytes_per_element=None, alignment: int = 1) -> tuple:
        """(padded parameter bytes, arena peak bytes, arena lower bound bytes) on a config's storage
        rules, as :func:`accelsim.workload.arena.padded_param_bytes` and ``plan_arena`` give them."""
        key = (int(alignment), tuple(sorted((bytes_per_element or {}).items())))
        hit = self._memory.get(key)
        if hit is None:
            from ..engine.rows import memory_rows
            h, w, c = self.input_shape
            params, peak, lower = memory_rows(self.table, self.in_ptr, self.offsets, h, w, c,
                                              prec.INDEX[self.input_precision], _bytes_array(key[1]),
                                              key[0])
            hit = self._memory[key] = (float(params), float(peak), float(lower))
        return hit
