"""The NAS-Bench-201 cell, without torch: the five ops, the cell's edges, and the arch string format
(parser and writer). The torch module (``torch_zoo.NB201Net``) and the IR builder (``nb201``) both read
the cell from here.

An arch string lists, per node j = 1..3, the op on the edge from each earlier node i:
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (Dong & Yang, ICLR 2020).
"""

from __future__ import annotations

# Each op: (what the edge computes, its kernel size). 'zero' edges are left out of a node's sum,
# 'identity' passes the node through, 'relu_conv_bn' is ReLU, a kernel x kernel conv (stride 1, same
# padding, no bias) and BatchNorm, 'avg_pool' a kernel x kernel average pool (stride 1, same padding).
NB201_OP_TABLE = {
    "none": ("zero", 0),
    "skip_connect": ("identity", 0),
    "nor_conv_1x1": ("relu_conv_bn", 1),
    "nor_conv_3x3": ("relu_conv_bn", 3),
    "avg_pool_3x3": ("avg_pool", 3),
}
NB201_OPS = tuple(NB201_OP_TABLE)
# The cell's edges (to node j, from node i), in the order the arch string lists them.
NB201_EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NB201_DEFAULT_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def parse_nb201(arch: str) -> list:
    """'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' -> [[(op, 0)], [(op, 0), (op, 1)], [(op, 0), (op, 1), (op, 2)]]."""
    nodes = []
    try:
        for part in arch.strip().split("+"):
            edges = [e for e in part.split("|") if e]
            node = []
            for e in edges:
                op, src = e.split("~")
                node.append((op, int(src)))
            nodes.append(node)
    except ValueError:
        nodes = []
    ok = [(j, src) for j, n in enumerate(nodes, start=1) for _, src in n] == list(NB201_EDGES) and \
        all(op in NB201_OPS for n in nodes for op, _ in n)
    if not ok:
        raise ValueError(f"NAS-Bench-201 arch {arch!r}: expected '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' "
                         f"with ops from {', '.join(NB201_OPS)}")
    return nodes


def format_nb201(ops) -> str:
    """The arch string of six op names, one per edge in ``NB201_EDGES`` order (the inverse of
    :func:`parse_nb201`)."""
    nodes = {}
    for (j, i), op in zip(NB201_EDGES, ops, strict=True):
        nodes.setdefault(j, []).append(f"{op}~{i}")
    return "+".join("|" + "|".join(edges) + "|" for edges in nodes.values())
