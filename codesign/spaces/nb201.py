"""NAS-Bench-201 as a search space: six cell edges, five operations each (15,625 cells).

:func:`network` and :func:`compiled_network` are thin wrappers over the one NB201 IR builder,
:func:`accelsim.workload.nb201.nb201_network` (no torch, about 2 ms a network): ``network`` is the graph
torch.fx traces from ``accelsim.workload.torch_zoo.NB201Net`` (a test checks it layer for layer), which
makes exhaustive evaluation of all 15,625 cells on a hardware config practical and gives the *true*
Pareto front the search algorithms are measured against; ``compiled_network`` is what an inference
compiler runs (no batch norms), the graph measured latency tables are fitted on. With ``prune=True``
either is passed through the general graph pass ``Network.prune_dead`` (dead edges, zero nodes and
constant cells removed); :func:`live_edges` says which edges that pass keeps.

Reference: X. Dong and Y. Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural
Architecture Search", ICLR 2020.
"""

from __future__ import annotations

import itertools

import numpy as np

from accelsim.workload.ir import Network
from accelsim.workload.nb201 import nb201_network, nb201_rows_many
from accelsim.workload.nb201_arch import NB201_EDGES, NB201_OPS, format_nb201, parse_nb201

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


def network(arch: str, channels: int = 16, cells: int = 5, num_classes: int = 10, resolution: int = 32,
            precision: str = "int8", prune: bool = False) -> Network:
    """The NB201 CIFAR network of ``arch`` (stem, 3 stages of ``cells`` cells, 2 reduction blocks, head)
    as torch traces it: equal to ``from_torch(NB201Net(arch), prune=False)`` layer for layer. The graph is
    kept as written by default (the search spaces' true fronts are computed on it); ``prune=True`` gives
    what a deployment compiler runs (see :meth:`accelsim.workload.ir.Network.prune_dead`)."""
    parse_cell(arch)
    return nb201_network(arch, channels, cells, num_classes, resolution, precision, form="traced", prune=prune)


def network_rows(arch: str, channels: int = 16, cells: int = 5, num_classes: int = 10, resolution: int = 32,
                   precision: str = "int8"):
    """:func:`network` (as written, not pruned) as rows (:class:`accelsim.workload.packed.PackedNetwork`):
    what a search scores, without ``Layer`` objects."""
    parse_cell(arch)
    return nb201_network(arch, channels, cells, num_classes, resolution, precision, form="traced", rows=True)


def network_rows_many(archs, channels: int = 16, cells: int = 5, num_classes: int = 10, resolution: int = 32,
                      precision: str = "int8") -> list:
    """``[network_rows(a, ...) for a in archs]``, equal object for object, built by compiled batches
    (:func:`accelsim.workload.nb201.nb201_rows_many`): a search's batch of never-seen cells. ``archs``:
    arch strings, or six op indices or op names each."""
    return nb201_rows_many([op_indices(a) for a in archs], channels, cells, num_classes, resolution, precision)


def compiled_network(arch: str, channels: int = 16, cells: int = 5, num_classes: int = 10,
                     resolution: int = 32, prune: bool = False) -> Network:
    """The NB201 network as an inference compiler sees it (the graph :mod:`codesign.estimator.measured`
    fits measured latencies on): batch norms folded away, a ReLU layer and a conv per ReLU-conv-BN edge;
    a node whose inputs are all 'none' is a zero tensor (an element-wise multiply by 0, as NB201's Zero
    op). ``prune=True`` is that graph after ``Network.prune_dead``: what an inference compiler (e.g.
    TFLite) runs, with dead edges removed, duplicate ReLUs and pools merged and constant cells folded (a
    network whose cell output is constant is one trivial layer)."""
    parse_cell(arch)
    return nb201_network(arch, channels, cells, num_classes, resolution, form="compiled", prune=prune)


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
