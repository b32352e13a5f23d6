"""The NAS-Bench-201 cell format, without torch: the five ops and the arch string parser.

An arch string lists, per node j = 1..3, the op on the edge from each earlier node i:
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (Dong & Yang, ICLR 2020).
"""

from __future__ import annotations

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
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
    ok = len(nodes) == 3 and all(len(n) == i + 1 for i, n in enumerate(nodes)) and \
        all(op in NB201_OPS and src == j for n in nodes for j, (op, src) in enumerate(n))
    if not ok:
        raise ValueError(f"NAS-Bench-201 arch {arch!r}: expected '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' "
                         f"with ops from {', '.join(NB201_OPS)}")
    return nodes
