"""Activation arena planning: where each tensor lives in one shared activation buffer.

``Network.peak_activation_bytes`` is a liveness sum: the largest total of tensors alive at once,
with unpadded channels and fixed bytes per element. A runtime instead allocates one arena and gives
every tensor an offset in it, which costs more than that sum (fragmentation) where tensors are
placed badly, and less where tensors share storage. This module plans that arena for one sample
(batch 1), as TFLite Micro's greedy memory planner does, on a hardware config's storage rules.

Tensors and sizes
    The network input (``"input"``, format ``net.input_precision``) and every layer's output
    (format ``layer.act_precision``). Channels are padded to the config's channel alignment
    (:func:`padded_elements`); the size in bytes is padded elements times the format's bytes per
    element (the config's own ``precisions.<fmt>.bytes_per_element``, falling back to
    :data:`accelsim.precision.BYTES_PER_ELEMENT`), rounded up to whole bytes (an int4 tensor of an
    odd element count still takes its last byte).

Lifetimes, in steps
    Layer ``i`` runs at step ``i``. A tensor is live from its producer's step (the input from step
    0) through its last consumer's step, both ends included. A tensor nobody consumes is a network
    output: it stays live to the end, which is recorded as step ``len(net.layers)`` (read by the
    caller after the last layer). Today's ``peak_activation_bytes`` keeps only the last layer's
    output to the end and frees other unconsumed outputs at once; the two agree on single-output
    networks.

Buffer sharing, decided in layer order before allocation
    * View: a reshape/flatten (a ``concat`` layer with one input) reads its input's storage in
      place, so the two tensors are one buffer whose lifetime is the union of theirs.
    * In place: an element-wise ``add`` (including ``kind=mul``) or ``act`` layer writes into its
      FIRST input's buffer when that input has the same padded size in bytes as the output, that
      buffer (the input and every view or in-place tensor sharing it) is last read by this layer,
      and it is not the network input's buffer (the caller owns the input).
    * A concat of several inputs is a copy: its inputs and its output are all live at its step.
    A shared buffer is as large as its largest tensor (a flatten of a channel-padded tensor keeps
    the padded size). ``ArenaPlan.shares`` maps each view or in-place tensor to the tensor it
    reuses; follow the chain to the buffer's first tensor.

Allocation
    Greedy by size: buffers sorted by size (descending), ties by first step, then by order of
    appearance; each is placed at the lowest ``offset_alignment``-aligned byte offset where it
    overlaps no already placed buffer whose lifetime intersects its own. The arena is the highest
    ``offset + size``. ``lower_bound_bytes`` (the largest total of buffers live at one step) bounds
    any arena over the same buffers from below; ``unshared_lower_bound_bytes`` is the same sum with
    no sharing, i.e. today's liveness rule with padded sizes.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Mapping

from .. import precision as prec
from ..errors import WorkloadError
from .ir import INPUT, Network

ELEMENTWISE_OPS = ("add", "act")  # add covers kind=mul (squeeze-excite gating)


@dataclass(frozen=True)
class ArenaPlan:
    """Offsets of every activation tensor in one arena; every size and offset is in bytes."""

    peak_bytes: int                  # arena size: max over buffers of offset + size
    lower_bound_bytes: int           # max over steps of the sizes of the (shared) buffers live then
    unshared_lower_bound_bytes: int  # the same with every tensor in its own buffer (today's rule, padded)
    total_bytes: int                 # sum of buffer sizes, a shared buffer counted once (no reuse at all);
                                     # >= peak_bytes when offset_alignment is 1
    offsets: dict                    # tensor name -> byte offset (tensors sharing a buffer share it)
    sizes: dict                      # tensor name -> padded size in bytes
    shares: dict                     # view or in-place tensor name -> the tensor whose buffer it reuses
    lifetimes: dict                  # tensor name -> (first step, last step); outputs end at len(layers)


def padded_elements(shape, alignment: int = 1) -> int:
    """Elements a (H, W, C) tensor occupies with C rounded up to a multiple of ``alignment``."""
    alignment = _positive_int(alignment, "alignment")
    h, w, c = shape
    return h * w * (-(-c // alignment) * alignment)


def plan_arena(net: Network, bytes_per_element: Mapping[str, float] | None = None, alignment: int = 1,
               offset_alignment: int = 1) -> ArenaPlan:
    """Plan ``net``'s activation arena (rules in the module docstring).

    ``bytes_per_element`` maps format name -> bytes, e.g. ``{p.name: p.bytes_per_element for p in
    hw.precisions}``; formats it lacks use :data:`accelsim.precision.BYTES_PER_ELEMENT`.
    ``alignment`` is the channel padding in elements, ``offset_alignment`` the byte alignment of
    every offset.
    """
    alignment = _positive_int(alignment, "alignment")
    offset_alignment = _positive_int(offset_alignment, "offset_alignment")
    bpe = _bytes_table(bytes_per_element)
    layers = net.layers
    n = len(layers)

    def nbytes(shape, fmt, who):
        try:
            b = bpe[fmt]
        except KeyError:
            raise WorkloadError(f"network {net.name}: {who} has format {fmt!r}, which has no bytes per "
                                f"element; expected one of {', '.join(sorted(bpe))}") from None
        return math.ceil(padded_elements(shape, alignment) * b)

    # Tensor i is the network input (i = 0) or layer i - 1's output.
    names = [INPUT]
    size = [nbytes(net.input_shape, net.input_precision, "the input")]
    start = [0]
    index = {INPUT: 0}
    for i, layer in enumerate(layers):
        index[layer.name] = i + 1
        names.append(layer.name)
        size.append(nbytes(layer.out_shape, layer.act_precision, f"layer {layer.name!r}"))
        start.append(i)
    end = [n] * (n + 1)  # unconsumed tensors are network outputs, kept past the last step
    consumed = [False] * (n + 1)
    for i, layer in enumerate(layers):
        for src in layer.inputs:
            t = index[src]
            end[t] = i  # layers are in order, so the last write is the last use
            consumed[t] = True
    for t in range(n + 1):
        if not consumed[t]:
            end[t] = n

    # Union the shared tensors in layer order; a buffer's root is its first tensor.
    root = list(range(n + 1))
    buf_end = list(end)      # per root: last step any member is read
    buf_size = list(size)    # per root: largest member
    shares = {}
    for i, layer in enumerate(layers):
        t = i + 1
        first = index[layer.inputs[0]]
        r = root[first]
        if layer.op == "concat" and len(layer.inputs) == 1:
            pass  # a view: always shares
        elif (layer.op in ELEMENTWISE_OPS and size[first] == size[t] and buf_end[r] == i and r != 0):
            pass  # in place: the input's buffer dies here and its storage is not the caller's
        else:
            continue
        root[t] = r
        buf_end[r] = max(buf_end[r], end[t])
        buf_size[r] = max(buf_size[r], size[t])
        shares[layer.name] = names[first]

    buffers = [t for t in range(n + 1) if root[t] == t]
    buf_start = start  # a root is its buffer's first tensor

    lower = _peak_live([buf_size[b] for b in buffers], [buf_start[b] for b in buffers],
                       [buf_end[b] for b in buffers], n)
    unshared = _peak_live(size, start, end, n)

    # Greedy placement by size, ties by first step then by order (stable sort).
    order = sorted(buffers, key=lambda b: (-buf_size[b], buf_start[b]))
    placed = []  # (offset, size, first step, last step)
    offset_of = {}
    peak = 0
    for b in order:
        s, e, sz = buf_start[b], buf_end[b], buf_size[b]
        busy = sorted((o, o + z) for o, z, ps, pe in placed if ps <= e and s <= pe)
        off = 0
        for lo, hi in busy:
            if off + sz <= lo:
                break
            if hi > off:
                off = -(-hi // offset_alignment) * offset_alignment
        placed.append((off, sz, s, e))
        offset_of[b] = off
        peak = max(peak, off + sz)

    return ArenaPlan(
        peak_bytes=peak,
        lower_bound_bytes=lower,
        unshared_lower_bound_bytes=unshared,
        total_bytes=sum(buf_size[b] for b in buffers),
        offsets={names[t]: offset_of[root[t]] for t in range(n + 1)},
        sizes=dict(zip(names, size)),
        shares=shares,
        lifetimes={names[t]: (start[t], end[t]) for t in range(n + 1)},
    )


def padded_param_bytes(net: Network, bytes_per_element: Mapping[str, float] | None = None,
                       alignment: int = 1) -> float:
    """Parameter bytes with channels padded to ``alignment``, in each layer's weight format.

    A conv's weights (out_c, kh, kw, in_c / groups) store out_c padded, and in_c padded too when the
    conv is dense (groups == 1); a depthwise conv (groups == in_c == out_c) stores kh * kw * C with
    C padded; a bias stores out_c padded. With ``alignment=1`` and default bytes this is
    ``net.param_bytes``.
    """
    alignment = _positive_int(alignment, "alignment")
    bpe = _bytes_table(bytes_per_element)

    def pad(c):
        return -(-c // alignment) * alignment

    total = 0.0
    for layer in net.layers:
        if layer.op not in ("conv", "conv_transpose"):
            continue
        kh, kw = layer.kernel
        out_c = pad(layer.out_channels)
        per_group_in = layer.in_channels // layer.groups
        in_c = pad(per_group_in) if layer.groups == 1 else per_group_in
        elements = out_c * kh * kw * in_c + (out_c if layer.bias else 0)
        try:
            b = bpe[layer.weight_precision]
        except KeyError:
            raise WorkloadError(f"network {net.name}: layer {layer.name!r} has weight format "
                                f"{layer.weight_precision!r}, which has no bytes per element; "
                                f"expected one of {', '.join(sorted(bpe))}") from None
        total += elements * b
    return total


def _peak_live(sizes, starts, ends, steps: int) -> int:
    """Largest total size of intervals [start, end] covering one step in 0..steps (a sweep)."""
    delta = [0] * (steps + 2)
    for sz, s, e in zip(sizes, starts, ends):
        delta[s] += sz
        delta[e + 1] -= sz
    peak = live = 0
    for d in delta:
        live += d
        peak = max(peak, live)
    return peak


def _bytes_table(bytes_per_element) -> dict:
    table = dict(prec.BYTES_PER_ELEMENT)
    for fmt, b in (bytes_per_element or {}).items():
        if isinstance(b, bool) or not isinstance(b, numbers.Real) or not b > 0 or not math.isfinite(b):
            raise WorkloadError(f"bytes_per_element.{fmt}: expected a positive number of bytes, got {b!r}")
        table[fmt] = b
    return table


def _positive_int(v, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise WorkloadError(f"{what}: expected a positive integer, got {v!r}")
    return v
