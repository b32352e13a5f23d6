"""Reader for SCALE-Sim topology CSV files.

Columns: ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels,
Num Filter, Strides`` (a trailing comma is common). SCALE-Sim has no padding and takes the
output size as ceil((H - Fh) / stride) + 1; layers read here keep those semantics so that cycle
counts compare one to one. Layers are chained in file order (SCALE-Sim treats them independently;
the chain only matters for peak-activation accounting).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from ..errors import WorkloadError, one_line, quote, read_text
from .ir import INPUT, MAX_DIM, Layer, Network, layer_size_problem

COLUMNS = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
           "Num Filter", "Strides")


def scalesim_out(size: int, k: int, s: int) -> int:
    return math.ceil((size - k) / s) + 1


def scalesim_layer(name: str, ifmap_h: int, ifmap_w: int, filter_h: int, filter_w: int, channels: int,
                   num_filter: int, stride: int, precision: str = "int8", source: str = INPUT) -> Layer:
    """One SCALE-Sim conv row as a Layer: no padding, SCALE-Sim's output size."""
    out = (scalesim_out(ifmap_h, filter_h, stride), scalesim_out(ifmap_w, filter_w, stride), num_filter)
    return Layer(name, "conv", (source,), (ifmap_h, ifmap_w, channels), out, (filter_h, filter_w),
                 (stride, stride), (0, 0), 1, False, "", precision, precision)


def load_topology(path, precision: str = "int8") -> Network:
    path = Path(path)
    text = read_text(path, WorkloadError)
    try:
        rows = [r for r in csv.reader(text.splitlines()) if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise WorkloadError(f"{path}: malformed CSV ({exc})") from None
    if not rows:
        raise WorkloadError(f"{path}: empty topology file")
    header = [c.strip() for c in rows[0] if c.strip()]
    if [h.lower() for h in header[:8]] != [c.lower() for c in COLUMNS]:
        raise WorkloadError(f"{path}: row 1: expected header {', '.join(COLUMNS)}; "
                            f"got {one_line(', '.join(header), 120)}")
    layers = []
    prev = INPUT
    names = set()
    for lineno, row in enumerate(rows[1:], start=2):
        cells = [c.strip() for c in row]
        while cells and cells[-1] == "":
            cells.pop()
        if len(cells) == 9 and ":" in cells[8]:
            raise WorkloadError(f"{path}: row {lineno} ({one_line(cells[0], 60)}): sparsity ratio "
                                f"{quote(cells[8])} given, but sparsity is not modelled; remove the 9th column")
        if len(cells) != 8:
            raise WorkloadError(f"{path}: row {lineno}: expected 8 columns ({', '.join(COLUMNS)}), got {len(cells)}")
        name = cells[0]
        if not name or name in names:
            raise WorkloadError(f"{path}: row {lineno}: layer name {quote(name)} is empty or repeated")
        if not name.isprintable():   # a NUL or control character: a binary file or a broken export
            raise WorkloadError(f"{path}: row {lineno}: layer name {quote(name)} has a control character; "
                                "expected printable text")
        label = f"{path}: row {lineno} ({one_line(name, 60)})"
        try:
            h, w, fh, fw, c, m, s = (int(v) for v in cells[1:])
        except ValueError:
            raise WorkloadError(f"{label}: expected 7 integers after the name, "
                                f"got {quote(', '.join(cells[1:]))}") from None
        for col, v in zip(COLUMNS[1:], (h, w, fh, fw, c, m, s)):
            if v <= 0:
                raise WorkloadError(f"{label}: {col} must be positive, got {v}")
            if v > MAX_DIM:
                raise WorkloadError(f"{label}: {col} {quote(v)} is above {MAX_DIM:,} (2^20); expected a smaller layer")
        if fh > h or fw > w:
            raise WorkloadError(f"{label}: filter {fh}x{fw} is larger than the ifmap {h}x{w}")
        layer = scalesim_layer(name, h, w, fh, fw, c, m, s, precision, prev)
        problem = layer_size_problem(layer)
        if problem:
            raise WorkloadError(f"{label}: {problem}")
        layers.append(layer)
        names.add(name)
        prev = name
    if not layers:
        raise WorkloadError(f"{path}: no layers after the header")
    first = layers[0]
    return Network(path.stem, first.in_shape, tuple(layers), precision)


def to_topology(net: Network) -> str:
    """The network's dense conv/FC layers as a SCALE-Sim topology CSV (SCALE-Sim has no other ops).

    Rows keep our output sizes only where SCALE-Sim's no-padding rule gives the same; padded
    layers are written with the padded input size so that the output size agrees.
    """
    lines = [", ".join(COLUMNS) + ","]
    for layer in net.layers:
        if layer.op != "conv" or layer.groups != 1:
            continue
        c, (oh, ow, m) = layer.in_shape[2], layer.out_shape
        (fh, fw), (s, _) = layer.kernel, layer.stride
        ph, pw = (oh - 1) * s + fh, (ow - 1) * s + fw  # input size SCALE-Sim needs for this output
        lines.append(f"{layer.name}, {ph}, {pw}, {fh}, {fw}, {c}, {m}, {s},")
    return "\n".join(lines) + "\n"
