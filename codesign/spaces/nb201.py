"""NAS-Bench-201 as a search space: six cell edges, five operations each (15,625 cells).

:func:`network` builds the accelsim IR of an NB201 cell's CIFAR network without tracing torch: it
writes the operator list a torch.fx trace of ``accelsim.workload.torch_zoo.NB201Net`` produces (same
order, labels and attributes) and hands it to the same lowering step, so the result equals
``accelsim.workload.zoo.nb201(arch)`` layer for layer (a test checks this) in about 2 ms instead of
0.5 s, and without importing torch. That makes exhaustive evaluation of all 15,625 cells on a hardware config practical, which
is what gives the *true* Pareto front the search algorithms are measured against.

:func:`compiled_network` builds what an inference compiler runs instead (no batch norms; with
``prune``, dead edges removed and constant cells folded): the graph measured latency tables are fitted
on. Both builders live here, on the one cell parser; the torch module itself is
``accelsim.workload.torch_zoo.NB201Net``.

Reference: X. Dong and Y. Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural
Architecture Search", ICLR 2020.
"""

from __future__ import annotations

import itertools

import numpy as np

from accelsim.workload.ir import Network, NetworkBuilder
from accelsim.workload.lowering import Op, lower
from accelsim.workload.nb201_arch import NB201_EDGES, NB201_OP_TABLE, NB201_OPS, format_nb201, parse_nb201

from ..errors import CodesignError

OPS = NB201_OPS
EDGES = NB201_EDGES   # edge (to node j, from node i) in the order the arch string lists them
EDGE_KEYS = tuple(f"edge{j}_{i}" for j, i in EDGES)


def parse_cell(arch) -> list:
    """An arch string's nodes, [[(op, 0)], [(op, 0), (op, 1)], ...]; anything else is a CodesignError."""
    if not isinstance(arch, str):
        raise CodesignError(f"NAS-Bench-201 arch: expected an arch string, got {arch!r}")
    try:
        return parse_nb201(arch)
    except ValueError as exc:
        raise CodesignError(str(exc)) from None


def op_indices(arch) -> tuple:
    """The six op indices (into ``OPS``, edges in ``EDGES`` order) of an arch string or of a sequence
    of six op indices or op names."""
    if isinstance(arch, str):
        return tuple(OPS.index(op) for node in parse_cell(arch) for op, _ in node)
    try:
        items = list(arch)
    except TypeError:
        raise CodesignError(f"NAS-Bench-201 arch: expected an arch string or six op indices, "
                            f"got {type(arch).__name__}") from None
    if len(items) != len(EDGES):
        raise CodesignError(f"NAS-Bench-201 arch: expected six ops, got {len(items)}")
    out = []
    for v in items:
        if isinstance(v, str) and v in OPS:
            out.append(OPS.index(v))
        elif isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= int(v) < len(OPS):
            out.append(int(v))
        else:
            raise CodesignError(f"NAS-Bench-201 arch: op {v!r}: expected an index 0..{len(OPS) - 1} "
                                f"or one of {', '.join(OPS)}")
    return tuple(out)


def arch_str(ops) -> str:
    """The NAS-Bench-201 arch string of six op indices or names (the inverse of ``op_indices``)."""
    return format_nb201(OPS[i] for i in op_indices(ops))


def ops_of(arch) -> tuple:
    """The six op names, in EDGES order, of an arch string (or of six indices or names)."""
    return tuple(OPS[i] for i in op_indices(arch))


def genome_arch(genome: dict) -> str:
    """A search genome ({'edge1_0': op, ...}) -> arch string."""
    try:
        return arch_str([genome[k] for k in EDGE_KEYS])
    except KeyError as exc:
        raise CodesignError(f"NAS-Bench-201 genome: missing {exc.args[0]!r}; expected keys {', '.join(EDGE_KEYS)}") from None


def all_archs() -> list[str]:
    """Every cell, in itertools.product order over OPS (not the official NB201 index order)."""
    return [arch_str(p) for p in itertools.product(OPS, repeat=6)]


class _Trace:
    """Writes the ops a torch.fx trace of NB201Net would record (fx names each call site's result
    'add', 'add_1', ... with one counter per function across the whole graph)."""

    def __init__(self):
        self.ops: list[Op] = []
        self.count: dict = {}

    def fx_name(self, base: str) -> str:
        n = self.count.get(base, 0)
        self.count[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def op(self, op_kind, inputs, shape, label, where, **attrs) -> str:
        """A module call: fx labels it with the module's path, which is also its module (block id source)."""
        value = "%" + label.replace(".", "_")
        self.ops.append(Op(value, op_kind, tuple(inputs), tuple(shape), label, where, dict(attrs), label))
        return value

    def fn(self, base, op_kind, inputs, shape, scope, where, **attrs) -> str:
        name = self.fx_name(base)
        label = f"{scope}.{name}" if scope else name
        self.ops.append(Op("%" + name, op_kind, tuple(inputs), tuple(shape), label, where, dict(attrs), scope))
        return "%" + name

    def conv(self, x, label, cin_shape, cout, k, s):
        _, _, h, w = cin_shape
        p = (k - 1) // 2
        shape = (1, cout, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
        return self.op("conv", (x,), shape, label, f"{label} (Conv2d)", out_channels=cout, kernel=(k, k),
                       stride=(s, s), padding=(p, p, p, p), dilation=(1, 1), groups=1, bias=False), shape

    def relu_conv_bn(self, x, label, shape, cout, k, s=1):
        a = self.op("act", (x,), shape, f"{label}.0", f"{label}.0 (ReLU)", kind="relu")
        c, out = self.conv(a, f"{label}.1", shape, cout, k, s)
        return self.op("bn", (c,), out, f"{label}.2", f"{label}.2 (BatchNorm2d)"), out


def network(arch: str, channels: int = 16, cells: int = 5, num_classes: int = 10, resolution: int = 32,
            precision: str = "int8") -> Network:
    """The NB201 CIFAR network of ``arch`` (stem, 3 stages of ``cells`` cells, 2 reduction blocks, head)."""
    nodes = parse_cell(arch)
    t = _Trace()
    shape = (1, channels, resolution, resolution)
    c, _ = t.conv("input", "stem.0", (1, 3, resolution, resolution), channels, 3, 1)
    x = t.op("bn", (c,), shape, "stem.1", "stem.1 (BatchNorm2d)")
    k, ch = 0, channels
    for stage in range(3):
        if stage:
            scope = f"cells.{k}"
            a, s_a = t.relu_conv_bn(x, f"{scope}.a", shape, ch * 2, 3, 2)
            b, s_b = t.relu_conv_bn(a, f"{scope}.b", s_a, ch * 2, 3)
            p = t.op("pool", (x,), (1, ch, shape[2] // 2, shape[3] // 2), f"{scope}.shortcut.0",
                     f"{scope}.shortcut.0 (AvgPool2d)", kind="avg", kernel=(2, 2), stride=(2, 2),
                     padding=(0, 0, 0, 0), dilation=(1, 1))
            sc, _ = t.conv(p, f"{scope}.shortcut.1", (1, ch, shape[2] // 2, shape[3] // 2), ch * 2, 1, 1)
            x = t.fn("add", "add", (b, sc), s_b, scope, f"{scope} (NB201ResBlock)")
            ch, shape, k = ch * 2, s_b, k + 1
        for _ in range(cells):
            x = _cell(t, nodes, x, shape, f"cells.{k}")
            k += 1
    x = t.op("bn", (x,), shape, "lastact.0", "lastact.0 (BatchNorm2d)")
    x = t.op("act", (x,), shape, "lastact.1", "lastact.1 (ReLU)", kind="relu")
    x = t.op("pool", (x,), (1, ch, 1, 1), "pool", "pool (AdaptiveAvgPool2d)", kind="avg", adaptive=True)
    x = t.fn("flatten", "view", (x,), (1, ch), "", "<root> (NB201Net)")
    x = t.op("linear", (x,), (1, num_classes), "classifier", "classifier (Linear)", out_features=num_classes,
             bias=True)
    return lower(t.ops, (1, 3, resolution, resolution), (x,), "nb201net", precision, source="nb201")


def _cell(t: _Trace, nodes, x, shape, scope) -> str:
    states = [x]
    where = f"{scope} (NB201Cell)"
    for j, node in enumerate(nodes, start=1):
        terms = []
        for op, i in node:
            label = f"{scope}.edges.{j}_{i}"
            kind, k = NB201_OP_TABLE[op]
            if kind == "identity":
                terms.append(t.op("identity", (states[i],), shape, label, f"{label} (Identity)"))
            elif kind == "avg_pool":
                p = (k - 1) // 2
                terms.append(t.op("pool", (states[i],), shape, label, f"{label} (AvgPool2d)", kind="avg",
                                  kernel=(k, k), stride=(1, 1), padding=(p, p, p, p), dilation=(1, 1)))
            elif kind == "relu_conv_bn":
                terms.append(t.relu_conv_bn(states[i], label, shape, shape[1], k)[0])
        if not terms:  # the node is zero: NB201Net computes states[0] * 0
            terms = [t.fn("mul", "const", (states[0],), shape, scope, where, kind="mul")]
        s = terms[0]
        for term in terms[1:]:
            s = t.fn("add", "add", (s, term), shape, scope, where)
        states.append(s)
    return states[-1]


def live_edges(nodes: list) -> tuple[list, bool]:
    """Per node, the edges an inference compiler keeps, and whether the cell output is constant.

    A node is constant when all its non-'none' inputs are constant (an all-'none' node is zero);
    edges from constant nodes fold into biases, and edges that do not reach the cell output are dead.
    """
    const = [False]
    terms = []
    for node in nodes:
        live = [(op, i) for op, i in node if op != "none" and not const[i]]
        terms.append(live)
        const.append(not live)
    needed = {len(nodes)}
    for j in range(len(nodes), 0, -1):
        if j in needed:
            needed.update(i for _, i in terms[j - 1])
    return [t if (j + 1) in needed else [] for j, t in enumerate(terms)], const[-1]


def compiled_network(arch: str, channels: int = 16, cells: int = 5, num_classes: int = 10,
                     resolution: int = 32, prune: bool = False) -> Network:
    """The NB201 network as an inference compiler sees it (the graph :mod:`codesign.estimator.measured`
    fits measured latencies on): the skeleton of :func:`network`, built directly with the
    ``NetworkBuilder``, batch norms folded away.

    ReLU-conv-BN edges are a ReLU layer and a conv; 'none' edges are left out, and a node whose
    inputs are all 'none' is a zero tensor (an element-wise multiply by 0, as NB201's Zero op).
    ``prune=True`` builds what an inference compiler (e.g. TFLite) runs: dead edges removed and
    constant cells folded (a network whose cell output is constant is one trivial layer).
    """
    nodes = parse_cell(arch)
    b = NetworkBuilder("nb201", (resolution, resolution, 3))
    if prune:
        live, constant = live_edges(nodes)
        if constant:
            b.activation(b.input, "identity", name="constant")
            return b.build()
        nodes = live
    x = b.conv(b.input, channels, 3, name="stem")
    c = channels
    n_cell = 0

    def relu_conv(t, cout, k, s, name):
        return b.conv(b.activation(t, "relu", name=f"{name}.relu"), cout, k, s, name=f"{name}.conv")

    for stage in range(3):
        if stage:
            name = f"cells.{n_cell}"
            y = relu_conv(x, c * 2, 3, 2, f"{name}.a")
            y = relu_conv(y, c * 2, 3, 1, f"{name}.b")
            sc = b.conv(b.pool(x, 2, 2, kind="avg", name=f"{name}.sc.pool"), c * 2, 1, bias=False,
                        name=f"{name}.sc.conv")
            x = b.add(y, sc, name=f"{name}.add")
            c *= 2
            n_cell += 1
        for _ in range(cells):
            name = f"cells.{n_cell}"
            states = [x]
            for j, node in enumerate(nodes, start=1):
                terms = []
                for op, i in node:
                    e = f"{name}.e{j}_{i}"
                    kind, k = NB201_OP_TABLE[op]
                    if states[i] is None or kind == "zero":
                        continue
                    if kind == "identity":
                        terms.append(states[i])
                    elif kind == "relu_conv_bn":
                        terms.append(relu_conv(states[i], c, k, 1, e))
                    elif kind == "avg_pool":
                        terms.append(b.pool(states[i], k, 1, (k - 1) // 2, kind="avg", name=f"{e}.pool"))
                if not terms:
                    if prune:
                        states.append(None)
                        continue
                    states.append(b.mul(states[0], b.global_avg_pool(states[0], name=f"{name}.n{j}.gap"),
                                        name=f"{name}.n{j}.zero"))
                elif len(terms) == 1:
                    states.append(terms[0])
                else:
                    states.append(b.add(*terms, name=f"{name}.n{j}.sum"))
            if states[-1] == x:  # the cell is an identity: keep the graph well-formed with a copy
                states[-1] = b.activation(x, "identity", name=f"{name}.copy")
            x = states[-1]
            n_cell += 1
    x = b.activation(x, "relu", name="lastact")
    x = b.global_avg_pool(x, name="gap")
    b.linear(x, num_classes, name="classifier")
    return b.build()
