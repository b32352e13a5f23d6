"""The NAS-Bench-201 CIFAR network as Network IR, built directly from an arch string (no torch).

One skeleton (stem, three stages of cells with two residual reduction blocks between them, head) and
one cell walk, written out in one of two forms:

- ``form="traced"`` writes the operator list a torch.fx trace of
  :class:`accelsim.workload.torch_zoo.NB201Net` records (same order, labels and attributes) and hands
  it to the importers' lowering step, so the result equals ``from_torch(NB201Net(arch), (3, 32, 32))``
  layer for layer, in about 2 ms instead of 0.5 s and without torch. This is the zoo model.
- ``form="compiled"`` builds the graph an inference compiler runs for the same cell: batch norms folded
  away, a ReLU layer and a conv per ReLU-conv-BN edge, n-ary sums. Measured latency tables
  (:mod:`codesign.estimator.measured`) are fitted on this form.
- ``form="eager"`` builds the graph an eager framework (PyTorch without a compiler) dispatches for
  the reference NB201 code: every module call that launches work is a layer -- ReLU, conv and batch
  norm of each ReLU-conv-BN edge, each pool, a multiply by 0 per 'none' edge (NB201's Zero op) -- and a
  node's ``sum()`` over its edges is one element-wise add per edge (Python's ``sum`` starts from 0, so
  even a one-edge node adds); only identity edges launch nothing of their own.

A node whose inputs are all 'none' is zero (NB201's Zero op computes ``x * 0``); it is marked as a zero
layer, so ``prune=True`` -- :meth:`Network.prune_dead`, the general graph pass -- removes it together with
the edges it feeds, the edges that reach no cell output, and duplicates (one ReLU of a node that feeds
three convs); a cell whose output is constant folds the whole network, as a deployment compiler does.

Reference: X. Dong and Y. Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural
Architecture Search", ICLR 2020.
"""

from __future__ import annotations

import numpy as np

from ..errors import WorkloadError
from .ir import MAX_DIM, MAX_ELEMENTS, Network, NetworkBuilder
from .packed import PackedNetwork, RowBuilder
from .lowering import Op, lower
from .nb201_arch import NB201_DEFAULT_ARCH, NB201_EDGES, NB201_OP_TABLE, NB201_OPS, format_nb201, parse_nb201

FORMS = ("traced", "compiled", "eager")


def nb201_network(arch: str = NB201_DEFAULT_ARCH, channels: int = 16, cells: int = 5, num_classes: int = 10,
                  resolution: int = 32, precision: str = "int8", *, form: str = "traced",
                  prune: bool = False, rows: bool = False) -> Network:
    """The NB201 network of ``arch`` in ``form`` ("traced" or "compiled", see the module docstring);
    with ``prune``, as :meth:`Network.prune_dead` leaves it (``pruned_layers`` says how many went);
    with ``rows``, the same network as rows (:class:`accelsim.workload.packed.PackedNetwork`, for a
    search to score; not with ``prune``).

    A malformed arch string or an unknown form is a WorkloadError naming it."""
    if not isinstance(arch, str):
        raise WorkloadError(f"NAS-Bench-201 arch: expected an arch string, got {arch!r}")
    try:
        nodes = parse_nb201(arch)
    except ValueError as exc:
        raise WorkloadError(str(exc)) from None
    if form not in FORMS:
        raise WorkloadError(f"NAS-Bench-201 network: form {form!r}: expected one of {', '.join(FORMS)}")
    if rows and prune:
        raise WorkloadError("NAS-Bench-201 network: rows=True gives the graph as written; prune needs the Network")
    builder = RowBuilder if rows else NetworkBuilder
    emit = {"traced": _Traced, "compiled": _Compiled, "eager": _Eager}[form](resolution, precision, builder)
    net = _skeleton(emit, nodes, channels, cells, num_classes)
    return net.prune_dead() if prune else net


_BATCH = 32   # networks per compiled call: a few hundred rows each keeps the call's arrays small


def nb201_rows_many(archs, channels: int = 16, cells: int = 5, num_classes: int = 10, resolution: int = 32,
                    precision: str = "int8") -> list:
    """``[nb201_network(a, ..., form="traced", rows=True) for a in archs]``, equal object for object,
    built in compiled batches (:func:`accelsim.engine.nb201_rows.nb201_rows`) instead of an operator
    list and a lowering each: a search's never-seen cells. ``archs``: arch strings or six op indices
    (into ``NB201_OPS``, edges in ``NB201_EDGES`` order) each. A network the compiled call cannot
    build (an empty output, a reduction whose two branches disagree in size, a layer above the size
    limits) is built the slow way, which raises the error naming it; so are all of them when an
    option is not a plain integer (or the precision not a known one)."""
    from .. import precision as prec
    archs = list(archs)
    ops = [_op_indices(a) for a in archs]
    options = (channels, cells, num_classes, resolution)
    plain = all(isinstance(v, int) and not isinstance(v, bool) for v in options) and \
        min(channels, num_classes, resolution) > 0 and cells >= 0 and precision in prec.INDEX
    if not plain or not archs:
        return [nb201_network(_arch_of(a), *options, precision, rows=True) for a in ops]
    from ..engine.nb201_rows import nb201_rows   # loads the compiled kernels: only when a batch is built
    out = []
    for first in range(0, len(ops), _BATCH):
        chunk = np.array(ops[first:first + _BATCH], dtype=np.int64)
        table, offsets, row_ptr, off_ptr, in_ptr, lay, macs, params, bad = nb201_rows(
            chunk, channels, cells, num_classes, resolution, prec.INDEX[precision], MAX_DIM, MAX_ELEMENTS)
        for k in range(len(chunk)):
            if bad[k] >= 0:
                out.append(nb201_network(_arch_of(ops[first + k]), *options, precision, rows=True))
                continue
            a, b = row_ptr[k], row_ptr[k + 1]
            out.append(PackedNetwork.from_parts("nb201net", (resolution, resolution, 3), table[a:b],
                                                offsets[off_ptr[k]:off_ptr[k + 1]], in_ptr[a + k:b + k + 1],
                                                np.ascontiguousarray(lay[:, a:b]), macs[k], params[k], precision))
    return out


def _op_indices(arch) -> tuple:
    """Six op indices of an arch string or of six indices; anything else is a WorkloadError."""
    if isinstance(arch, str):
        try:
            return tuple(NB201_OPS.index(op) for node in parse_nb201(arch) for op, _ in node)
        except ValueError as exc:
            raise WorkloadError(str(exc)) from None
    ops = tuple(int(v) if isinstance(v, np.integer) else v for v in arch) \
        if isinstance(arch, (tuple, list, np.ndarray)) else ()
    if len(ops) != len(NB201_EDGES) or not all(isinstance(v, int) and not isinstance(v, bool)
                                               and 0 <= v < len(NB201_OPS) for v in ops):
        raise WorkloadError(f"NAS-Bench-201 cell {arch!r}: expected an arch string or six op indices "
                            f"0..{len(NB201_OPS) - 1}")
    return ops


def _arch_of(ops: tuple) -> str:
    return format_nb201(NB201_OPS[i] for i in ops)


def _skeleton(emit, nodes, channels: int, cells: int, num_classes: int) -> Network:
    """Stem, 3 stages of ``cells`` cells (C, 2C, 4C) with a reduction block before stages 2 and 3, head."""
    x = emit.stem(channels)
    k, c = 0, channels
    for stage in range(3):
        if stage:
            x = emit.reduction(x, c, f"cells.{k}")
            c, k = c * 2, k + 1
        for _ in range(cells):
            x = _cell(emit, nodes, x, c, f"cells.{k}")
            k += 1
    return emit.head(x, c, num_classes)


def _cell(emit, nodes, x, c: int, scope: str):
    states = [x]
    for j, node in enumerate(nodes, start=1):
        terms = []
        for op, i in node:
            kind, k = NB201_OP_TABLE[op]
            if kind == "zero" and emit.zero_edges:
                terms.append(emit.zero(states[i], scope, j, i))
            elif kind == "identity":
                terms.append(emit.identity(states[i], scope, j, i))
            elif kind == "avg_pool":
                terms.append(emit.avg_pool(states[i], k, scope, j, i))
            elif kind == "relu_conv_bn":
                terms.append(emit.relu_conv_edge(states[i], c, k, scope, j, i))
        if not terms:   # every input edge is 'none': NB201Net computes states[0] * 0
            terms = [emit.zero(states[0], scope, j, 0)]
        states.append(emit.sum(terms, scope, j))
    return emit.cell_output(x, states[-1], scope)


class _Traced:
    """Writes the ops a torch.fx trace of NB201Net records (fx names each call site's result 'add',
    'add_1', ... with one counter per function across the whole graph), then lowers them."""

    zero_edges = False   # a 'none' edge adds no term to its node's sum

    def __init__(self, resolution: int, precision: str, builder=NetworkBuilder):
        self.builder = builder
        self.ops: list[Op] = []
        self.count: dict = {}
        self.resolution, self.precision = resolution, precision
        self.shape = {"input": (1, 3, resolution, resolution)}

    def _fx_name(self, base: str) -> str:
        n = self.count.get(base, 0)
        self.count[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def _op(self, op_kind, inputs, shape, label, where, **attrs) -> str:
        """A module call: fx labels it with the module's path, which is also its module (block id source)."""
        value = "%" + label.replace(".", "_")
        self.ops.append(Op(value, op_kind, tuple(inputs), tuple(shape), label, where, dict(attrs), label))
        self.shape[value] = tuple(shape)
        return value

    def _fn(self, base, op_kind, inputs, shape, scope, where, **attrs) -> str:
        name = self._fx_name(base)
        label = f"{scope}.{name}" if scope else name
        self.ops.append(Op("%" + name, op_kind, tuple(inputs), tuple(shape), label, where, dict(attrs), scope))
        self.shape["%" + name] = tuple(shape)
        return "%" + name

    def _conv(self, x, label, cout, k, s):
        _, _, h, w = self.shape[x]
        p = (k - 1) // 2
        shape = (1, cout, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
        return self._op("conv", (x,), shape, label, f"{label} (Conv2d)", out_channels=cout, kernel=(k, k),
                        stride=(s, s), padding=(p, p, p, p), dilation=(1, 1), groups=1, bias=False)

    def _relu_conv_bn(self, x, label, cout, k, s=1):
        a = self._op("act", (x,), self.shape[x], f"{label}.0", f"{label}.0 (ReLU)", kind="relu")
        c = self._conv(a, f"{label}.1", cout, k, s)
        return self._op("bn", (c,), self.shape[c], f"{label}.2", f"{label}.2 (BatchNorm2d)")

    def stem(self, channels):
        c = self._conv("input", "stem.0", channels, 3, 1)
        return self._op("bn", (c,), self.shape[c], "stem.1", "stem.1 (BatchNorm2d)")

    def reduction(self, x, c, scope):
        a = self._relu_conv_bn(x, f"{scope}.a", c * 2, 3, 2)
        b = self._relu_conv_bn(a, f"{scope}.b", c * 2, 3)
        _, _, h, w = self.shape[x]
        p = self._op("pool", (x,), (1, c, h // 2, w // 2), f"{scope}.shortcut.0", f"{scope}.shortcut.0 (AvgPool2d)",
                     kind="avg", kernel=(2, 2), stride=(2, 2), padding=(0, 0, 0, 0), dilation=(1, 1))
        sc = self._conv(p, f"{scope}.shortcut.1", c * 2, 1, 1)
        return self._fn("add", "add", (b, sc), self.shape[b], scope, f"{scope} (NB201ResBlock)")

    def identity(self, x, scope, j, i):
        label = f"{scope}.edges.{j}_{i}"
        return self._op("identity", (x,), self.shape[x], label, f"{label} (Identity)")

    def avg_pool(self, x, k, scope, j, i):
        label, p = f"{scope}.edges.{j}_{i}", (k - 1) // 2
        return self._op("pool", (x,), self.shape[x], label, f"{label} (AvgPool2d)", kind="avg", kernel=(k, k),
                        stride=(1, 1), padding=(p, p, p, p), dilation=(1, 1))

    def relu_conv_edge(self, x, c, k, scope, j, i):
        return self._relu_conv_bn(x, f"{scope}.edges.{j}_{i}", c, k)

    def zero(self, x, scope, j, i):
        return self._fn("mul", "const", (x,), self.shape[x], scope, f"{scope} (NB201Cell)", kind="mul", value=0.0)

    def sum(self, terms, scope, j):
        s = terms[0]
        for t in terms[1:]:
            s = self._fn("add", "add", (s, t), self.shape[s], scope, f"{scope} (NB201Cell)")
        return s

    def cell_output(self, x, out, scope):
        return out

    def head(self, x, c, num_classes):
        shape = self.shape[x]
        x = self._op("bn", (x,), shape, "lastact.0", "lastact.0 (BatchNorm2d)")
        x = self._op("act", (x,), shape, "lastact.1", "lastact.1 (ReLU)", kind="relu")
        x = self._op("pool", (x,), (1, c, 1, 1), "pool", "pool (AdaptiveAvgPool2d)", kind="avg", adaptive=True)
        x = self._fn("flatten", "view", (x,), (1, c), "", "<root> (NB201Net)")
        x = self._op("linear", (x,), (1, num_classes), "classifier", "classifier (Linear)",
                     out_features=num_classes, bias=True)
        return lower(self.ops, (1, 3, self.resolution, self.resolution), (x,), "nb201net", self.precision,
                     source="nb201", builder=self.builder)


class _Compiled:
    """Builds the compiler's graph with the NetworkBuilder: no batch norms, a ReLU layer and a conv per
    ReLU-conv-BN edge, a zero node as a multiply by 0 (priced as a global pool and a multiply)."""

    zero_edges = False

    def __init__(self, resolution: int, precision: str, builder=NetworkBuilder):
        self.b = builder("nb201", (resolution, resolution, 3), precision)

    def _relu_conv(self, x, cout, k, s, name):
        return self.b.conv(self.b.activation(x, "relu", name=f"{name}.relu"), cout, k, s, name=f"{name}.conv")

    def stem(self, channels):
        return self.b.conv(self.b.input, channels, 3, name="stem")

    def reduction(self, x, c, scope):
        y = self._relu_conv(x, c * 2, 3, 2, f"{scope}.a")
        y = self._relu_conv(y, c * 2, 3, 1, f"{scope}.b")
        sc = self.b.conv(self.b.pool(x, 2, 2, kind="avg", name=f"{scope}.sc.pool"), c * 2, 1, bias=False,
                         name=f"{scope}.sc.conv")
        return self.b.add(y, sc, name=f"{scope}.add")

    def identity(self, x, scope, j, i):
        return x

    def avg_pool(self, x, k, scope, j, i):
        return self.b.pool(x, k, 1, (k - 1) // 2, kind="avg", name=f"{scope}.e{j}_{i}.pool")

    def relu_conv_edge(self, x, c, k, scope, j, i):
        return self._relu_conv(x, c, k, 1, f"{scope}.e{j}_{i}")

    def zero(self, x, scope, j, i):
        return self.b.mul(x, self.b.global_avg_pool(x, name=f"{scope}.n{j}.gap"), name=f"{scope}.n{j}.zero",
                          zero=True)

    def sum(self, terms, scope, j):
        return terms[0] if len(terms) == 1 else self.b.add(*terms, name=f"{scope}.n{j}.sum")

    def cell_output(self, x, out, scope):
        # a cell that is the identity still gets a layer of its own, so every cell shows in the graph
        return self.b.activation(x, "identity", name=f"{scope}.copy") if out == x else out

    def head(self, x, c, num_classes):
        x = self.b.activation(x, "relu", name="lastact")
        x = self.b.global_avg_pool(x, name="gap")
        self.b.linear(x, num_classes, name="classifier")
        return self.b.build()


class _Eager(_Compiled):
    """Builds what an eager framework dispatches for the reference NB201 module: the compiled graph's
    layers plus a batch norm after every conv but the shortcut's, a multiply by 0 per 'none' edge, and
    a node's ``sum()`` as an add of 0 and then one add per further edge; no layer is folded or pruned."""

    zero_edges = True

    def _relu_conv(self, x, cout, k, s, name):
        return self.b.activation(super()._relu_conv(x, cout, k, s, name), "batchnorm", name=f"{name}.bn")

    def stem(self, channels):
        return self.b.activation(super().stem(channels), "batchnorm", name="stem.bn")

    def zero(self, x, scope, j, i):
        return self.b.activation(x, "mul_const", name=f"{scope}.e{j}_{i}.zero", zero=True)

    def sum(self, terms, scope, j):
        s = self.b.activation(terms[0], "add_const", name=f"{scope}.n{j}.sum0")
        for t, term in enumerate(terms[1:], start=1):
            s = self.b.add(s, term, name=f"{scope}.n{j}.sum{t}")
        return s

    def cell_output(self, x, out, scope):
        return out

    def head(self, x, c, num_classes):
        return super().head(self.b.activation(x, "batchnorm", name="lastact.bn"), c, num_classes)
