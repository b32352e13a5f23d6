"""Numba kernels: the performance model of a network on one hardware config, and the batch driver.

Model, per layer (phase 1, each layer on its own, as SCALE-Sim sees it):
1. **Compute** on the MAC array with SCALE-Sim's fold formulas (``accelsim.engine.folds``, so dense
   conv/FC cycles equal its "Total Cycles"), and for depthwise/pool/element-wise ops on the vector
   unit; depthwise runs on whichever of the two is faster. A PE doing ``k`` MACs per cycle in a
   format packs ``k`` elements of the reduction dimension (k = 1 is SCALE-Sim).
2. **Tiling**: output rows x output channels (x input channels when even one row does not fit,
   x output columns when even one row of one channel does not fit) to the double-buffered SRAM;
   among the tilings that fit, the one moving the fewest DRAM bytes. Tensors are stored with
   channels padded to ``memory.channel_alignment``, and the padding moves and occupies SRAM too.
3. **DMA walk**: tiles run in loop order; a tile's inputs load while the previous tile computes,
   and outputs store after it; a tile whose transfer outlasts compute stalls the array.
4. **Energy**: MACs and vector ops x per-op energy, SRAM and DRAM bytes x per-byte energy, plus
   static power over the layer's cycles.

Calibration (``calibration:`` in the YAML, both kinds): a layer's compute cycles are divided by its op
class's efficiency (dense, depthwise or elementwise, :func:`op_class`) before the DMA walk, so the
overlap with transfers is walked on the slower compute (fused chains likewise, per layer); and
``layer_overhead_us`` is added to every layer that runs after everything else (residency and chains
are decided without it; it adds the same to every layer either way), as stall: time the unit does
not compute.

Then, per network (``memory.activation_policy``):
- ``dram``: phase 1 is the answer (every tensor goes through DRAM).
- ``resident`` (phase 2): tensors are visited in production order; one stays on chip from its
  producer to its last consumer when, at every layer in between, it fits in the activation SRAM
  beside the tensors already kept and that layer's own streamed tiles (the tiling of phase 1 is
  kept). Consumers then skip its loads and the producer its stores; each such layer is re-walked
  on phase 1's tiles with those transfers left out, so it is never slower and never moves more.
- ``fused`` (phase 3): chains of convolutions whose intermediate tensors have one consumer each
  (IBN expand -> depthwise -> project, fused-IBN expand -> project) may also run depth-first in
  tiles of the last layer's output (row bands, each cut into column tiles), so the intermediate
  tensors exist only as small buffers. The halo neighbouring tiles share is either kept or
  recomputed (DeFiNES's choice), per chain, whichever gives the faster schedule (``fuse_mode``):
  ``cache`` keeps the shared rows as full-width lines and the shared columns within a band, so
  every output is computed once; ``recompute_rows`` keeps the columns and recomputes the rows of
  every band (no full-width lines: the least SRAM per tile when bands are cut into columns);
  ``recompute`` recomputes both. Recomputed outputs cost compute cycles, MAC and SRAM energy, and
  (for a chain input in DRAM) the input halo loads again; a tile at the edge of the tensor is
  charged its whole window (padding included). A dynamic programme over each run of chainable
  layers takes a chain when it is faster than the layers one by one and moves no more DRAM bytes.

``memory.weights_resident`` keeps all parameters on chip across inferences when they fit (the
filter buffer, or beside the largest activation working set in a unified buffer): the walks then
load no weights.

A roofline config (``kind: roofline``) takes none of the above: each layer costs
max(compute, DRAM bytes / bandwidth) + overhead on its own (:func:`roofline_cost`).

All functions are pure and take plain floats/arrays; ``accelsim.engine.reference`` restates the
same model in plain Python for tests.

Speed, without changing a bit of the model (``tests/test_kernel_equivalence.py`` holds the kernels
to a frozen copy of their slower form): the largest fitting extent is solved for and confirmed by
the fits() test (:func:`max_extent`); the tiling search stops once no tiling left can beat the best
(:func:`traffic_floor`); a walk steps across steady states exactly (:func:`steady_repeats`); a layer
equal to one shortly before it takes that layer's results (:func:`systolic_layers`); and kernels that
allocate nothing are compiled without numba's reference counting (``kernel``), the arrays they
work in being made by the two drivers' :func:`run_one_pair` (or :func:`dma_walk`).
"""

from __future__ import annotations

import math

import numpy as np
from ._numba import njit, prange

from . import folds as folds_model
from .tables import (CLASS_DENSE, CLASS_DEPTHWISE, CLASS_ELEMENTWISE, FUSE_CACHE, FUSE_NONE, FUSE_RECOMPUTE,
                     FUSE_RECOMPUTE_ROWS, H_ALIGN, H_BW, H_CACHE_B, H_COLS, H_DATAFLOW, H_EFF, H_E_DRAM, H_E_SRAM,
                     H_E_VEC, H_FILTER_B, H_HALF_OUTPUTS, H_IFMAP_B, H_KIND, H_LANES, H_LAT, H_OFMAP_B, H_OVERHEAD,
                     H_PEAK, H_POLICY, H_ROWS, H_STATIC_PJ, H_UNIFIED, H_UNIFIED_B, H_WEIGHTS_RESIDENT,
                     KIND_ROOFLINE, L_APREC, L_FILTER_ELEMS, L_GROUPS, L_IN0_SHARE, L_IN_C, L_IN_FACTOR, L_IN_H,
                     L_IN_W, L_KH, L_KH_EXT, L_KW, L_KW_EXT, L_LAST_USE, L_N_CONSUMERS, L_OP, L_OPS_PER_OUT,
                     L_OUT_C, L_OUT_H, L_OUT_W, L_RESIDENT_OK, L_SH, L_SRC0, L_SRC1, L_SW, L_WPREC, N_FORMATS,
                     N_OUT_FIELDS, OP_CONCAT, OP_CONV, OP_CONV_T, OP_MATMUL, OP_POOL, OP_UPSAMPLE, O_ARRAY_CYCLES,
                     O_COMPUTE, O_DRAM_R, O_DRAM_W, O_ENERGY, O_FOLDS, O_FUSED_CHAIN, O_FUSE_MODE, O_INPUT_ON_CHIP,
                     O_MAP_EFF, O_OPS, O_OUTPUT_ON_CHIP, O_SRAM_R, O_SRAM_W, O_STALL, O_STATUS, O_TILES, O_TOTAL,
                     O_UNIT, O_UTIL, O_VECTOR_CYCLES, O_WEIGHTS_ON_CHIP, POLICY_DRAM, POLICY_FUSED,
                     STATUS_NO_TILING, STATUS_NO_UNIT, UNIT_ARRAY, UNIT_NONE, UNIT_VECTOR)

# Every kernel that allocates no array is compiled without numba's reference counting: with it,
# each call of a function taking arrays counts their references up and down with atomic operations,
# which cost about as much as everything else the engine does.
kernel = njit(cache=True, _nrt=False)

INF = np.inf
TIE = 1e-9   # relative difference below which two cycle or byte totals are equal
MAX_CHAIN = 4  # longest chain of layers the fused policy runs depth-first

# Per-layer scratch rows a network pass keeps between phases.
(S_H, S_W, S_M, S_C, S_ORDER, S_NEED_I, S_NEED_F, S_NEED_O, S_OUT_BYTES, S_W_BYTES, S_IN_BYTES,
 S_SRAM_R, S_SRAM_W, S_DYN, S_PEAK, S_AB, S_FB) = range(17)
N_SCRATCH = 17


@kernel
def cdiv(a, b):
    return math.ceil(a / b)


@kernel
def pad(c, align):
    """Channels as stored: ``c`` rounded up to a multiple of ``align``."""
    if align <= 1.0:
        return c
    return cdiv(c, align) * align


# SCALE-Sim's compute-cycle formulas and the formats rule live in accelsim.engine.folds (numpy calls
# the same source).
_array_folds = kernel(folds_model.array_folds)
vector_cycles = kernel(folds_model.vector_cycles)
runnable_units = kernel(folds_model.runnable_units)   # the formats rule: which unit can run a layer


@kernel
def array_cycles(dataflow, rows, cols, k_red, pixels, m, groups, macs_per_pe):
    """SCALE-Sim compute cycles: (cycles, folds, mapping efficiency) for ``groups`` GEMMs, each
    (pixels x k_red) @ (k_red x m) (see :func:`accelsim.engine.folds.array_folds`)."""
    cycles, folds, eff, _, _, _ = _array_folds(dataflow, rows, cols, k_red, pixels, m, groups, macs_per_pe)
    return cycles, folds, eff


@kernel
def span_in(op, n, size_in, size_out, k_ext, s):
    """Input rows (or columns) one tile of ``n`` output rows reads (halo included, padding not read).
    A transposed conv's ``n`` rows read a window of n+k-1 rows of its zero-inserted input, of which
    at most ceil((n+k-1)/s) are real input rows."""
    if op == OP_UPSAMPLE:
        r = cdiv(n * size_in, size_out) + k_ext - 1
    elif op == OP_CONV_T:
        r = cdiv(n + k_ext - 1, s)
    elif k_ext > s:
        r = (n - 1) * s + k_ext
    else:
        r = n * k_ext
    return min(r, size_in)


@kernel
def rows_in(op, h, lay_i):
    return span_in(op, h, lay_i[L_IN_H], lay_i[L_OUT_H], lay_i[L_KH_EXT], lay_i[L_SH])


@kernel
def cols_in(op, w, lay_i):
    """A tile as wide as the output reads every input column (as before width tiling existed)."""
    if w >= lay_i[L_OUT_W]:
        return lay_i[L_IN_W]
    return span_in(op, w, lay_i[L_IN_W], lay_i[L_OUT_W], lay_i[L_KW_EXT], lay_i[L_SW])


@kernel
def has_filter(op):
    """Convolutions (plain or transposed): a kxk filter of weights per output channel, in groups."""
    return op == OP_CONV or op == OP_CONV_T


@kernel
def op_class(op, groups):
    """The op class calibration efficiencies and roofline rates are given for: dense (a conv or
    conv-transpose with one group, a matmul), depthwise (grouped and depthwise convs) or elementwise
    (everything else: pool, add, multiply, activation, upsample)."""
    if op == OP_MATMUL or (has_filter(op) and groups == 1):
        return CLASS_DENSE
    if has_filter(op):
        return CLASS_DEPTHWISE
    return CLASS_ELEMENTWISE


@kernel
def reduction(op, lay_i):
    """The dimension a tile's ``c`` splits: input channels per group (conv, matmul), or for pooling
    the window rows one output row reads (a large window accumulates over row slices)."""
    if op == OP_MATMUL:
        return lay_i[L_IN_C]
    if op == OP_POOL:
        return rows_in(op, 1, lay_i)
    return lay_i[L_IN_C] / lay_i[L_GROUPS]


@kernel
def splits_reduction(op, dense, by_cols):
    """Dense convs and matmuls may split their input channels; a pool split its window's rows, but
    only for tiles one output row high (the last resort, with width tiling)."""
    return dense or (op == OP_POOL and by_cols)


@kernel
def ifmap_channels(op, dense, m_t, c_t, lay_i, align):
    """Stored input channels one tile reads: its reduction slice (dense), the groups feeding its
    outputs (grouped/depthwise), or its own channels (channel-wise vector ops)."""
    in_c, out_c, groups = lay_i[L_IN_C], lay_i[L_OUT_C], lay_i[L_GROUPS]
    if dense:
        return pad(c_t, align)
    if has_filter(op):
        return pad(min(in_c, cdiv(m_t, out_c / groups) * (in_c / groups)), align)
    return pad(m_t, align)


@kernel
def filter_bytes(op, dense, m_t, c_t, lay_i, fb, align):
    if op == OP_MATMUL:
        return pad(m_t, align) * pad(c_t, align) * fb
    if has_filter(op):
        per_out = pad(c_t, align) if dense else lay_i[L_IN_C] / lay_i[L_GROUPS]
        return pad(m_t, align) * lay_i[L_KH] * lay_i[L_KW] * per_out * fb
    return 0.0


@kernel
def tile_bytes(op, dense, h, w, m_t, c_t, lay_i, ab, fb, align):
    """(ifmap, filter, ofmap) bytes of one tile: ``h`` x ``w`` outputs, ``m_t`` outputs, ``c_t`` inputs
    (for a pool whose window is split, ``c_t`` of its window rows)."""
    rows = rows_in(op, h, lay_i)
    if op == OP_POOL and c_t < reduction(op, lay_i):
        rows = c_t
    ifmap = rows * cols_in(op, w, lay_i) * ifmap_channels(op, dense, m_t, c_t, lay_i, align) * ab * lay_i[L_IN_FACTOR]
    filt = filter_bytes(op, dense, m_t, c_t, lay_i, fb, align)
    ofmap = h * w * pad(m_t, align) * ab
    return ifmap, filt, ofmap


@kernel
def fits(ifmap, filt, ofmap, hw):
    """Double buffering: each operand's tile may use half of its buffer."""
    if hw[H_UNIFIED] > 0:
        return 2.0 * (ifmap + filt + ofmap) <= hw[H_UNIFIED_B]
    return 2.0 * ifmap <= hw[H_IFMAP_B] and 2.0 * filt <= hw[H_FILTER_B] and 2.0 * ofmap <= hw[H_OFMAP_B]


@kernel
def extent_fits(op, dense, by_cols, e, m_t, c_t, lay_i, ab, fb, align, hw):
    """Whether a tile of ``e`` output rows (full width) or, with ``by_cols``, of ``e`` output columns
    (one row) fits."""
    if by_cols:
        i_b, f_b, o_b = tile_bytes(op, dense, 1, e, m_t, c_t, lay_i, ab, fb, align)
    else:
        i_b, f_b, o_b = tile_bytes(op, dense, e, lay_i[L_OUT_W], m_t, c_t, lay_i, ab, fb, align)
    return fits(i_b, f_b, o_b, hw)


@kernel
def span_line(op, size_in, size_out, k_ext, s):
    """(slope, offset) of :func:`span_in`: ``n`` outputs read about slope x n + offset inputs (rounded
    up to whole ones, and at most ``size_in``)."""
    if op == OP_UPSAMPLE:
        return size_in / size_out, k_ext - 1.0
    if op == OP_CONV_T:
        return 1.0 / s, (k_ext - 1.0) / s
    if k_ext > s:
        return s, k_ext - s
    return k_ext, 0.0


@kernel
def extent_guess(op, dense, by_cols, m_t, c_t, lay_i, ab, fb, align, hw):
    """The extent at which a tile's bytes reach the SRAM, solved with its input rows (or columns) taken
    as the straight line of :func:`span_line`, capped at the input's size: a real number within a
    row or so of the largest extent that fits (whole-row rounding, the cap), unclamped."""
    chans = ifmap_channels(op, dense, m_t, c_t, lay_i, align)
    filt = filter_bytes(op, dense, m_t, c_t, lay_i, fb, align)
    if by_cols:   # one row, e columns
        rows = rows_in(op, 1, lay_i)
        if op == OP_POOL and c_t < reduction(op, lay_i):
            rows = c_t
        per_in = rows * chans * ab * lay_i[L_IN_FACTOR]
        per_out = pad(m_t, align) * ab
        size_in = lay_i[L_IN_W]
        slope, offset = span_line(op, size_in, lay_i[L_OUT_W], lay_i[L_KW_EXT], lay_i[L_SW])
    else:         # e rows, full width
        per_in = lay_i[L_IN_W] * chans * ab * lay_i[L_IN_FACTOR]
        per_out = lay_i[L_OUT_W] * pad(m_t, align) * ab
        size_in = lay_i[L_IN_H]
        slope, offset = span_line(op, size_in, lay_i[L_OUT_H], lay_i[L_KH_EXT], lay_i[L_SH])
        if op == OP_POOL and c_t < reduction(op, lay_i):   # a slice of the window's rows, whatever the extent
            slope, offset, size_in = 0.0, c_t, c_t
    if per_in <= 0.0 or per_out <= 0.0:
        return INF
    if hw[H_UNIFIED] > 0:
        room = hw[H_UNIFIED_B] / 2.0 - filt
        if room < 0.0:
            return 0.0
        growing = room - offset * per_in     # input still growing with the extent
        capped = room - size_in * per_in     # input already the whole of it
        guess = growing / (slope * per_in + per_out) if growing > 0.0 else 0.0
        if capped > 0.0:
            guess = max(guess, capped / per_out)
        return guess
    if 2.0 * filt > hw[H_FILTER_B]:
        return 0.0
    guess = hw[H_OFMAP_B] / 2.0 / per_out
    rows_max = hw[H_IFMAP_B] / 2.0 / per_in
    if size_in > rows_max:
        guess = min(guess, (rows_max - offset) / slope if slope > 0.0 else 0.0)
    return guess


@kernel
def max_extent(op, dense, by_cols, m_t, c_t, lay_i, ab, fb, align, hw):
    """Largest number of output rows (full width) or, with ``by_cols``, of output columns (one row)
    per tile that fits; 0 if not even one fits.

    Tile bytes grow with the extent, so what fits is every extent up to the answer. Starting from
    :func:`extent_guess`, steps of 1, 2, 4, ... towards the answer bracket it and a binary search
    closes the bracket, each probe the same :func:`fits` test: the answer is the one a binary search
    over all extents finds, in two tests when the guess is right (as it is but for rounding).
    """
    lo, hi = 0, int(lay_i[L_OUT_W] if by_cols else lay_i[L_OUT_H])
    guess = extent_guess(op, dense, by_cols, m_t, c_t, lay_i, ab, fb, align, hw)
    e = 1
    if guess >= hi:
        e = hi
    elif guess >= 2.0:
        e = int(guess)
    step = 1
    if extent_fits(op, dense, by_cols, e, m_t, c_t, lay_i, ab, fb, align, hw):
        lo = e
        while lo < hi:
            t = min(lo + step, hi)
            if not extent_fits(op, dense, by_cols, t, m_t, c_t, lay_i, ab, fb, align, hw):
                hi = t - 1
                break
            lo = t
            step *= 2
    else:
        hi = e - 1
        while lo < hi:
            t = max(hi - step + 1, lo + 1)
            if extent_fits(op, dense, by_cols, t, m_t, c_t, lay_i, ab, fb, align, hw):
                lo = t
                break
            hi = t - 1
            step *= 2
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if extent_fits(op, dense, by_cols, mid, m_t, c_t, lay_i, ab, fb, align, hw):
            lo = mid
        else:
            hi = mid - 1
    return lo


@kernel
def tiles_sum(total, t, value_full, value_last):
    """Sum of a per-tile value over the tiles of ``total`` in steps of ``t`` (the last one partial)."""
    n = cdiv(total, t)
    return (n - 1) * value_full + value_last


@kernel
def rows_sum(op, h_t, lay_i):
    """Input rows all row tiles of ``h_t`` output rows read, as tiles_sum adds them."""
    out_h = lay_i[L_OUT_H]
    n_h = cdiv(out_h, h_t)
    rows = rows_in(op, out_h - (n_h - 1) * h_t, lay_i)
    if n_h > 1:   # with one tile, tiles_sum's 0 x full + last is the last
        rows = (n_h - 1) * rows_in(op, h_t, lay_i) + rows
    return rows


@kernel
def cols_sum(op, w_t, lay_i):
    """Input columns all column tiles of ``w_t`` output columns read, as tiles_sum adds them."""
    out_w = lay_i[L_OUT_W]
    n_w = cdiv(out_w, w_t)
    cols = cols_in(op, out_w - (n_w - 1) * w_t, lay_i)
    if n_w > 1:
        cols = (n_w - 1) * cols_in(op, w_t, lay_i) + cols
    return cols


@kernel
def planned_parts(op, dense, h_t, w_t, m_t, c_t, lay_i, ab, fb, align):
    """:func:`planned_bytes` before the ifmap product: (input rows, input columns, stored input
    channels, filter bytes, ofmap bytes)."""
    out_h, out_w, out_c = lay_i[L_OUT_H], lay_i[L_OUT_W], lay_i[L_OUT_C]
    c_red = reduction(op, lay_i)
    n_m, n_c = cdiv(out_c, m_t), cdiv(c_red, c_t)
    last_m = out_c - (n_m - 1) * m_t
    last_c = c_red - (n_c - 1) * c_t
    c_sum = pad(last_c, align)   # stored input channels over the c tiles
    if n_c > 1:
        c_sum = (n_c - 1) * pad(c_t, align) + c_sum
    if dense:
        chans = c_sum
    else:
        chans = ifmap_channels(op, dense, last_m, c_t, lay_i, align)
        if n_m > 1:
            chans = (n_m - 1) * ifmap_channels(op, dense, m_t, c_t, lay_i, align) + chans
    if align <= 1.0 and op != OP_MATMUL:
        w_total = lay_i[L_FILTER_ELEMS] * fb
        o_total = out_h * out_w * out_c * ab
    else:
        ms = pad(last_m, align)
        if n_m > 1:
            ms = (n_m - 1) * pad(m_t, align) + ms
        if op == OP_MATMUL:
            w_total = ms * c_sum * fb
        elif has_filter(op):
            per_out = c_sum if dense else c_red
            w_total = ms * lay_i[L_KH] * lay_i[L_KW] * per_out * fb
        else:
            w_total = 0.0
        o_total = out_h * out_w * ms * ab
    return rows_sum(op, h_t, lay_i), cols_sum(op, w_t, lay_i), chans, w_total, o_total


@kernel
def planned_bytes(op, dense, h_t, w_t, m_t, c_t, lay_i, ab, fb, align):
    """(ifmap bytes of one pass over all tiles, filter bytes, ofmap bytes), exactly as the walk sums them.

    Each sum over tiles is :func:`tiles_sum`'s (n - 1) x full + last; with one tile (n = 1) that is
    the last tile's value, taken without working out the full one's."""
    rows, cols, chans, w_total, o_total = planned_parts(op, dense, h_t, w_t, m_t, c_t, lay_i, ab, fb, align)
    return rows * cols * chans * ab * lay_i[L_IN_FACTOR], w_total, o_total


@kernel
def traffic(order, dense, n_s, n_m, n_c, i_pass, w_total, o_total):
    """DRAM bytes of a tiling: a tile operand reloads whenever its tile index changes between steps.

    ``n_s`` spatial tiles (row tiles, or rows x column tiles). order 0: m outer, s, c inner;
    order 1: s outer, m, c inner.
    """
    if order == 0:
        i_mult = n_m if (dense and (n_s > 1 or n_c > 1)) else 1
        f_mult = n_s if n_c > 1 else 1
    else:
        i_mult = n_m if (dense and n_c > 1) else 1
        f_mult = n_s if (n_m > 1 or n_c > 1) else 1
    return i_pass * i_mult, w_total * f_mult, o_total


@kernel
def traffic_floor(op, dense, by_cols, c_t, lay_i, ab, fb, align):
    """A lower bound on the DRAM bytes (:func:`traffic` of :func:`planned_bytes`) of every tiling with
    input-channel tile ``c_t``, whatever its output-channel tile and extent: the bytes of one tile
    spanning all rows (or, with ``by_cols``, all columns) and all output channels, each operand once.

    Each factor is at most the planned one: a sum over tiles of the rows (columns, stored channels)
    they read is at least what one tile spanning them all reads (rounding up to whole rows or
    channel multiples can only add, halos overlap, a shared cap counts once), and every operand is
    read at least once. The factors multiply and add in planned_bytes' order, so the bound holds in
    floating point too (rounding is monotone).
    """
    out_h, out_w, out_c = lay_i[L_OUT_H], lay_i[L_OUT_W], lay_i[L_OUT_C]
    c_red = reduction(op, lay_i)
    if by_cols:   # tiles one row high: every tiling reads the same rows
        rows = tiles_sum(out_h, 1, rows_in(op, 1, lay_i), rows_in(op, 1, lay_i))
        cols = span_in(op, out_w, lay_i[L_IN_W], out_w, lay_i[L_KW_EXT], lay_i[L_SW])
    else:         # tiles as wide as the output: every tiling reads every column once
        rows = rows_in(op, out_h, lay_i)
        cols = lay_i[L_IN_W]
    last_c = c_red - (cdiv(c_red, c_t) - 1) * c_t
    c_sum = tiles_sum(c_red, c_t, pad(c_t, align), pad(last_c, align))
    chans = c_sum if dense else ifmap_channels(op, dense, out_c, c_t, lay_i, align)
    i_least = rows * cols * chans * ab * lay_i[L_IN_FACTOR]
    if align <= 1.0 and op != OP_MATMUL:
        w_least = lay_i[L_FILTER_ELEMS] * fb
        o_least = out_h * out_w * out_c * ab
    else:
        ms = pad(out_c, align)
        if op == OP_MATMUL:
            w_least = ms * c_sum * fb
        elif has_filter(op):
            w_least = ms * lay_i[L_KH] * lay_i[L_KW] * (c_sum if dense else c_red) * fb
        else:
            w_least = 0.0
        o_least = out_h * out_w * ms * ab
    return i_least + w_least + o_least


@kernel
def layer_tiling(op, dense, lay_i, ab, fb, align_tile, align, hw):
    """The tiling a layer runs with: the best of full-width row tiles, or, when not even one output row
    fits, of one-row column tiles (:func:`choose_tiling`); h_t = 0 when neither fits."""
    h_t, w_t, m_t, c_t, order = choose_tiling(op, dense, lay_i, ab, fb, align_tile, align, hw, False)
    if h_t == 0:
        h_t, w_t, m_t, c_t, order = choose_tiling(op, dense, lay_i, ab, fb, align_tile, align, hw, True)
    return h_t, w_t, m_t, c_t, order


@kernel
def choose_tiling(op, dense, lay_i, ab, fb, align_tile, align, hw, by_cols):
    """Best (h_t, w_t, m_t, c_t, order) by DRAM bytes, then by fewer tiles; h_t = 0 if nothing fits.

    Without ``by_cols`` tiles span the full output width; with it, tiles are one row high and
    as many columns wide as fit (used only when no full-width tile fits).
    """
    out_h, out_w, out_c = lay_i[L_OUT_H], lay_i[L_OUT_W], lay_i[L_OUT_C]
    c_red = reduction(op, lay_i)
    best_cost, best_tiles = INF, INF
    best = (0, 0, 0, 0, 0)
    c_t = c_red
    least_spatial = out_h if by_cols else 1   # spatial tiles of any tiling: one row each with by_cols
    while True:
        floor = -1.0   # traffic_floor of this c_t, once something fits
        m_t = out_c
        while True:
            ext = max_extent(op, dense, by_cols, m_t, c_t, lay_i, ab, fb, align, hw)
            if ext > 0:
                h_t, w_t = (1, ext) if by_cols else (ext, int(out_w))
                n_s = cdiv(out_h, h_t) * cdiv(out_w, w_t)
                n_m, n_c = cdiv(out_c, m_t), cdiv(c_red, c_t)
                i_pass, w_total, o_total = planned_bytes(op, dense, h_t, w_t, m_t, c_t, lay_i, ab, fb, align)
                for order in range(2):
                    i_b, f_b, o_b = traffic(order, dense, n_s, n_m, n_c, i_pass, w_total, o_total)
                    cost = i_b + f_b + o_b
                    tiles = n_s * n_m * n_c
                    if cost < best_cost * (1.0 - TIE) or (cost <= best_cost * (1.0 + TIE) and tiles < best_tiles):
                        best_cost, best_tiles = cost, tiles
                        best = (h_t, w_t, int(m_t), int(c_t), order)
            if m_t <= 1:
                break
            m_t = next_tile(m_t, align_tile)
            # The tilings left move at least ``floor`` bytes in at least this many tiles (m_t only shrinks):
            # once the best moves no more in no more tiles, none of them can replace it, ties included.
            if best_cost < INF and best_tiles <= least_spatial * cdiv(out_c, m_t) * cdiv(c_red, c_t):
                if floor < 0.0:
                    floor = traffic_floor(op, dense, by_cols, c_t, lay_i, ab, fb, align)
                if best_cost <= floor:
                    break
        if best[0] > 0 or not splits_reduction(op, dense, by_cols) or c_t <= 1:
            break
        c_t = cdiv(c_t, 2)
    return best


@kernel
def next_tile(m_t, align):
    """Halve a channel tile, keeping it a multiple of ``align`` while it is larger than ``align``."""
    half = cdiv(m_t, 2)
    if half > align:
        return cdiv(half, align) * align
    return half


STEADY_MIN_REPEATS = 16   # a loop with this many alike iterations is looked at for steady states
MANTISSA, IMPLICIT, ULPS = (1 << 52) - 1, 1 << 52, 1 << 53


@njit(cache=True)
def dma_walk(op, dense, h_t, w_t, m_t, c_t, order, lay_i, ab, fb, align, compute, hw, in_keep, f_keep, out_keep):
    """Walk the tiles with double-buffered DMA: (total cycles, DRAM read bytes, write bytes, tiles).

    One DMA queue serves loads and stores in the order they become ready. Step i's inputs load
    into the buffer step i-2 used, so they may start once step i-2 has computed; step i-2's
    output tile stores then too, and step i may start once its inputs are in, step i-1 is done
    and its output buffer (step i-2's) has drained. The first load and the last stores are exposed.
    ``in_keep``/``f_keep``/``out_keep`` are the shares of ifmap, filter and ofmap bytes that go
    through DRAM (1 under the dram policy; less when a tensor or the weights stay on chip).

    The steps are nested loops over tiles, outermost first: output channels, rows, columns, input
    channels (order 0), or rows, columns, output channels, input channels (order 1). A tile is full
    or the last along each dimension, so its bytes and compute take a few values, worked out once.
    In a long walk, the iterations of a loop between its first and its last partial one are alike:
    once one moves the whole state by exactly the shift the one before did, the rest are stepped
    across at once (:func:`steady_repeats` says when that is exact to the bit).
    """
    return tile_walk(op, dense, h_t, w_t, m_t, c_t, order, lay_i, ab, fb, align, compute, hw, in_keep, f_keep,
                     out_keep, np.empty((2, 8)))


@kernel
def tile_walk(op, dense, h_t, w_t, m_t, c_t, order, lay_i, ab, fb, align, compute, hw, in_keep, f_keep, out_keep,
              scratch):
    """:func:`dma_walk` given a (2, 8) scratch array for the steady-state search (kernels compiled
    without reference counting cannot allocate it)."""
    return walk_tiles(op, dense, h_t, w_t, channel_tiles(op, dense, m_t, c_t, lay_i, fb, align), order, lay_i, ab,
                      compute, hw, in_keep, f_keep, out_keep, scratch)


@kernel
def channel_tiles(op, dense, m_t, c_t, lay_i, fb, align):
    """What a walk's tiles are along output and input channels, whatever its rows and columns: (n_m,
    n_c, then for a full and for the last tile: output channels, input channels, stored output
    channels, their shares of the layer's, then input channels stored and filter bytes for each
    (output, input) of (full, full), (full, last), (last, full), (last, last)). Written as tile_bytes
    and the compute share write them, so every value is the same. Where one tile spans a dimension,
    it is the last tile (the full values are then never used, and set to the last's)."""
    out_c = lay_i[L_OUT_C]
    c_red = reduction(op, lay_i)
    n_m, n_c = cdiv(out_c, m_t), cdiv(c_red, c_t)
    m_f, c_f = float(m_t), float(c_t)
    m_l = min(m_f, out_c - (n_m - 1) * m_f)
    c_l = min(c_f, c_red - (n_c - 1) * c_f)
    pm_l = pad(m_l, align)
    fm_l = m_l / out_c if n_m > 1 else 1.0   # m_l is out_c then: the share is exactly 1
    fc_l = c_l / c_red if n_c > 1 else 1.0
    pm_f, fm_f, fc_f = pm_l, fm_l, fc_l
    if n_m > 1:
        pm_f, fm_f = pad(m_f, align), m_f / out_c
    if n_c > 1:
        fc_f = c_f / c_red
    ich_ll = ifmap_channels(op, dense, m_l, c_l, lay_i, align)
    fil_ll = filter_bytes(op, dense, m_l, c_l, lay_i, fb, align)
    ich_lf, fil_lf = ich_ll, fil_ll
    if n_c > 1:
        ich_lf, fil_lf = ifmap_channels(op, dense, m_l, c_f, lay_i, align), filter_bytes(op, dense, m_l, c_f, lay_i,
                                                                                        fb, align)
    ich_fl, fil_fl, ich_ff, fil_ff = ich_ll, fil_ll, ich_lf, fil_lf
    if n_m > 1:
        ich_fl, fil_fl = ifmap_channels(op, dense, m_f, c_l, lay_i, align), filter_bytes(op, dense, m_f, c_l, lay_i,
                                                                                        fb, align)
        ich_ff, fil_ff = ich_fl, fil_fl
        if n_c > 1:
            ich_ff, fil_ff = ifmap_channels(op, dense, m_f, c_f, lay_i, align), filter_bytes(op, dense, m_f, c_f,
                                                                                            lay_i, fb, align)
    return (n_m, n_c, m_f, m_l, c_f, c_l, pm_f, pm_l, fm_f, fm_l, fc_f, fc_l,
            ich_ff, ich_fl, ich_lf, ich_ll, fil_ff, fil_fl, fil_lf, fil_ll)


@kernel
def walk_tiles(op, dense, h_t, w_t, chan, order, lay_i, ab, compute, hw, in_keep, f_keep, out_keep, scratch):
    """:func:`tile_walk` given its :func:`channel_tiles` ``chan``."""
    (n_m, n_c, m_f, m_l, c_f, c_l, pm_f, pm_l, fm_f, fm_l, fc_f, fc_l,
     ich_ff, ich_fl, ich_lf, ich_ll, fil_ff, fil_fl, fil_lf, fil_ll) = chan
    out_h, out_w = lay_i[L_OUT_H], lay_i[L_OUT_W]
    c_red = reduction(op, lay_i)
    n_h, n_w = cdiv(out_h, h_t), cdiv(out_w, w_t)
    bw, lat = hw[H_BW], hw[H_LAT]
    factor = lay_i[L_IN_FACTOR]
    # full and last tiles along rows and columns, as channel_tiles has them along channels
    h_f, w_f = float(h_t), float(w_t)
    h_l = min(h_f, out_h - (n_h - 1) * h_f)
    w_l = min(w_f, out_w - (n_w - 1) * w_f)
    rows_l, cols_l = rows_in(op, h_l, lay_i), cols_in(op, w_l, lay_i)
    fh_l = h_l / out_h if n_h > 1 else 1.0
    fw_l = w_l / out_w if n_w > 1 else 1.0
    rows_f, cols_f, fh_f, fw_f = rows_l, cols_l, fh_l, fw_l
    if n_h > 1:
        rows_f, fh_f = rows_in(op, h_f, lay_i), h_f / out_h
    if n_w > 1:
        cols_f, fw_f = cols_in(op, w_f, lay_i), w_f / out_w
    split_f = op == OP_POOL and c_f < c_red   # a pool's tile reads its slice of the window's rows
    split_l = op == OP_POOL and c_l < c_red
    # the loops, outermost first, and the last of each loop's alike iterations (see steady_repeats)
    if order == 0:
        n0, n1, n2 = n_m, n_h, n_w
        alike0, alike1, alike2 = (n_m - 1 if m_l == m_f else n_m - 2), (n_h - 1 if h_l == h_f else n_h - 2), \
            (n_w - 1 if w_l == w_f else n_w - 2)
    else:
        n0, n1, n2 = n_h, n_w, n_m
        alike0, alike1, alike2 = (n_h - 1 if h_l == h_f else n_h - 2), (n_w - 1 if w_l == w_f else n_w - 2), \
            (n_m - 1 if m_l == m_f else n_m - 2)
    n = n0 * n1 * n2 * n_c
    # Steady states are looked for in the loop with the most alike iterations (the outer one of equals),
    # if it has STEADY_MIN_REPEATS; snap: the state at the start of one of its iterations, and which.
    jump_level, most = -1, STEADY_MIN_REPEATS - 1
    for level, alike in ((0, alike0), (1, alike1), (2, alike2)):
        if alike > most:
            jump_level, most = level, alike
    snap = scratch[0]
    snap[7] = -1.0
    cell, bits = scratch[1], scratch[1].view(np.int64)   # where steady_repeats reads a double's bits
    dram_r = 0.0
    dram_w = 0.0
    dma_free = 0.0
    end1 = 0.0   # compute end of step i-1
    end2 = 0.0   # compute end of step i-2
    out1 = 0.0   # output bytes step i-1 produced (0 if its tile is not finished)
    out2 = 0.0
    prev_i, prev_f = -1, -1
    a0, a1, a2, ci = 0, 0, 0, 0
    while True:
        if order == 0:
            mi, hi, wi = a0, a1, a2
        else:
            hi, wi, mi = a0, a1, a2
        last_h, last_w, last_m, last_c = hi == n_h - 1, wi == n_w - 1, mi == n_m - 1, ci == n_c - 1
        i_id, f_id = tile_ids(dense, hi * n_w + wi, mi, ci, n_m, n_c)
        load = 0.0
        if i_id != prev_i:
            if last_c:
                rows = c_l if split_l else (rows_l if last_h else rows_f)
                ich = ich_ll if last_m else ich_fl
            else:
                rows = c_f if split_f else (rows_l if last_h else rows_f)
                ich = ich_lf if last_m else ich_ff
            load += rows * (cols_l if last_w else cols_f) * ich * ab * factor * in_keep
        if f_id != prev_f:
            f_b = (fil_ll if last_c else fil_lf) if last_m else (fil_fl if last_c else fil_ff)
            if f_b > 0:
                load += f_b * f_keep
        prev_i, prev_f = i_id, f_id
        dram_r += load
        start, dma_free = dma_step(load, out2, dma_free, end1, end2, lat, bw)
        end2, end1 = end1, start + compute * (fh_l if last_h else fh_f) * (fm_l if last_m else fm_f) * \
            (fc_l if last_c else fc_f) * (fw_l if last_w else fw_f)
        out2 = out1
        out1 = (h_l if last_h else h_f) * (w_l if last_w else w_f) * (pm_l if last_m else pm_f) * ab * out_keep \
            if last_c else 0.0
        dram_w += out1
        # next step
        ci += 1
        if ci < n_c:
            continue
        ci = 0
        a2 += 1
        level = 2
        if a2 == n2:
            a2 = 0
            a1 += 1
            level = 1
            if a1 == n1:
                a1 = 0
                a0 += 1
                level = 0
                if a0 == n0:
                    break
        if level > jump_level:   # (no loop to look in: -1) an iteration of a loop inside it starts
            continue
        if level < jump_level:   # a loop outside it moved on: its iterations start afresh
            snap[7] = -1.0
            continue
        # iteration k of the loop starts
        k, count, alike = (a0, n0, alike0) if level == 0 else ((a1, n1, alike1) if level == 1 else (a2, n2, alike2))
        if k > alike - 2:   # too few alike iterations left to step across
            snap[7] = -1.0
            continue
        kind, times, span = SHIFT_NONE, 0, 1
        if snap[7] >= 1.0:
            span = k - int(snap[7])   # iterations since the snapshot
            room = min(alike - k + 1, count - 1 - k) // span   # leave the last iteration to the loop
            kind, times = steady_repeats(snap, dma_free, end1, end2, out1, out2, dram_r, dram_w, room, cell, bits)
        if kind == SHIFT_ODD and span < 4:
            continue   # keep the snapshot: the shift over more iterations is even
        if kind == SHIFT_EXACT and times > 0:
            d_t, d_r, d_w = dma_free - snap[0], dram_r - snap[5], dram_w - snap[6]
            dma_free += times * d_t
            end1 += times * d_t
            end2 += times * d_t
            dram_r += times * d_r
            dram_w += times * d_w
            k += times * span
            # the ids of the step before iteration k: the last of iteration k - 1
            b0, b1, b2 = a0, a1, a2
            if level == 0:
                a0 = k
                b0, b1, b2 = k - 1, n1 - 1, n2 - 1
            elif level == 1:
                a1 = k
                b1, b2 = k - 1, n2 - 1
            else:
                a2 = k
                b2 = k - 1
            if order == 0:
                prev_i, prev_f = tile_ids(dense, b1 * n_w + b2, b0, n_c - 1, n_m, n_c)
            else:
                prev_i, prev_f = tile_ids(dense, b0 * n_w + b1, b2, n_c - 1, n_m, n_c)
        snap[0], snap[1], snap[2], snap[3], snap[4] = dma_free, end1, end2, out1, out2
        snap[5], snap[6], snap[7] = dram_r, dram_w, k
    return dma_drain(out1, out2, dma_free, end1, end2, lat, bw), dram_r, dram_w, float(n)


@kernel
def tile_ids(dense, si, mi, ci, n_m, n_c):
    """Which input and which filter tile a step reads: (ifmap id, filter id); a tile loads when its id
    differs from the step before's. A dense layer's input tile serves every output-channel tile."""
    i_id = (si * n_c + ci) if dense else (si * n_m + mi) * n_c + ci
    return i_id, mi * n_c + ci


SHIFT_NONE, SHIFT_ODD, SHIFT_EXACT = 0, 1, 2


@kernel
def ulps(x, cell, bits):
    """(binade, position in it) of a positive double ``x``: its biased exponent and its significand as
    a whole number in [2^52, 2^53), read from its bits (written to ``cell[0]``, read as ``bits[0]``).
    Two doubles of one binade lie the difference of their positions apart in ulps."""
    cell[0] = x
    b = bits[0]
    return b >> 52, (b & MANTISSA) | IMPLICIT


@kernel
def total_room(before, now, cell, bits):
    """(times the change of a running byte total from ``before`` to ``now`` may repeat within its
    binade, whether the change is an odd number of ulps); a total that did not move (it added
    nothing, or what it added vanished in rounding) does the same again, any number of times."""
    if now == before:
        return ULPS, False
    e0, q0 = ulps(before, cell, bits)
    e1, q1 = ulps(now, cell, bits)
    if e0 == 0 or e1 != e0:
        return 0, False
    if (q1 - q0) % 2 != 0:
        return 0, True
    return (ULPS - 1 - q1) // (q1 - q0), False


@kernel
def steady_repeats(snap, dma_free, end1, end2, out1, out2, dram_r, dram_w, room, cell, bits):
    """Whether the walk, now in state (dma_free, end1, end2, out1, out2, dram_r, dram_w), repeats the
    steps since it was in state ``snap[:7]`` exactly by adding the shift they made, and how many
    more times: (SHIFT_NONE, 0), (SHIFT_ODD, 0) or (SHIFT_EXACT, times <= room).

    Within one binade [2^e, 2^(e+1)) doubles are whole multiples of one ulp, and a sum rounds to the
    nearest multiple (a tie to the even one), so moving every operand by an even number of ulps
    moves the rounded sum by exactly as much. A step only takes maxima of times and adds constants
    (transfer and compute cycles) to them, and adds loads and stores to the byte totals. So when the
    times all moved by one shift, the byte totals each by theirs, the stores in flight are the same,
    every time met lies in one binade (times only grow: between the oldest of the snapshot and the
    newest after the last repeat) and so does each total, and every shift is an even number of ulps,
    the same steps from here move the state by the same shifts, bit for bit, as many times as the
    binades hold. An odd shift may round a tie the other way: SHIFT_ODD (the caller compares over
    more steps; a repeating state's shift over two is even).
    """
    if out1 != snap[3] or out2 != snap[4]:
        return SHIFT_NONE, 0
    shift = dma_free - snap[0]
    if end1 - snap[1] != shift or end2 - snap[2] != shift:
        return SHIFT_NONE, 0
    e0, q0 = ulps(min(snap[0], min(snap[1], snap[2])), cell, bits)
    e1, q1 = ulps(max(dma_free, max(end1, end2)), cell, bits)
    if e0 == 0 or e1 != e0:   # not one binade: the differences above may have rounded, and do not count
        return SHIFT_NONE, 0
    t_room = ULPS
    if shift > 0.0:
        qs = ulps(dma_free, cell, bits)[1] - ulps(snap[0], cell, bits)[1]
        if qs % 2 != 0:
            return SHIFT_ODD, 0
        t_room = (ULPS - 1 - q1) // qs
    r_room, r_odd = total_room(snap[5], dram_r, cell, bits)
    w_room, w_odd = total_room(snap[6], dram_w, cell, bits)
    if r_odd or w_odd:
        return SHIFT_ODD, 0
    return SHIFT_EXACT, min(room, min(t_room, min(r_room, w_room)))


@kernel
def dma_step(load, out2, dma_free, end1, end2, lat, bw):
    """One step of the double-buffered walk: its inputs (``load`` bytes) go into the buffer step i-2
    used, so they start once step i-2 has computed; step i-2's output (``out2`` bytes) stores then
    too. Returns (when the step may start computing, when the DMA queue is next free)."""
    load_done = max(dma_free, end2)
    if load > 0:
        load_done += lat + load / bw
    dma_free = load_done
    drained = 0.0
    if out2 > 0:
        drained = max(dma_free, end2) + lat + out2 / bw
        dma_free = drained
    return max(max(end1, load_done), drained), dma_free


@kernel
def dma_drain(out1, out2, dma_free, end1, end2, lat, bw):
    """End of a walk: the last two output stores, exposed."""
    if out2 > 0:
        dma_free = max(dma_free, end2) + lat + out2 / bw
    if out1 > 0:
        dma_free = max(dma_free, end1) + lat + out1 / bw
    return max(end1, dma_free)


H_CHOICES = 4  # row-tile (or column-tile) sizes tried for the chosen tiling: the largest, /2, /4, /8


@kernel
def best_walk(op, dense, h_max, w_max, m_t, c_t, order, lay_i, ab, fb, align, compute, hw, scratch):
    """Among a few row-tile sizes (fewer rows = more overlap, more halo; columns when the tiling
    splits the width), the fastest walk, every operand through DRAM: (total cycles, read bytes,
    write bytes, tiles, the row or column extent it used)."""
    best_total, best_r, best_w, best_n, best_e = INF, 0.0, 0.0, 0.0, 0
    by_cols = w_max < lay_i[L_OUT_W]
    e = w_max if by_cols else h_max
    out_h, out_w, out_c = lay_i[L_OUT_H], lay_i[L_OUT_W], lay_i[L_OUT_C]
    n_m, n_c = cdiv(out_c, m_t), cdiv(reduction(op, lay_i), c_t)
    chan = channel_tiles(op, dense, m_t, c_t, lay_i, fb, align)   # the same for every extent
    parts, planned = (0.0, 0.0, 0.0, 0.0, 0.0), False   # planned_parts, once needed: only rows (columns) change
    for _ in range(H_CHOICES):
        h, w = (h_max, e) if by_cols else (e, w_max)
        # A walk takes at least its compute, and at least its transfers one after another on the DMA
        # queue: its bytes (the planner's, equal to the walk's) and a latency per output tile stored.
        # One that cannot even tie the best so far is not walked (same choice, fewer walks).
        if best_total < INF:   # (the first is always walked)
            n_s = cdiv(out_h, h) * cdiv(out_w, w)
            if not planned:
                parts, planned = planned_parts(op, dense, h, w, m_t, c_t, lay_i, ab, fb, align), True
            rows, cols, chans, w_total, o_total = parts
            if by_cols:
                cols = cols_sum(op, w, lay_i)
            else:
                rows = rows_sum(op, h, lay_i)
            i_b, f_b, o_b = traffic(order, dense, n_s, n_m, n_c, rows * cols * chans * ab * lay_i[L_IN_FACTOR],
                                    w_total, o_total)
            bound = max(compute, (i_b + f_b + o_b) / hw[H_BW] + hw[H_LAT] * n_s * n_m)
            if bound > best_total * (1.0 + TIE):
                if e == 1:
                    break
                e = cdiv(e, 2)
                continue
        total, r, wr, n = walk_tiles(op, dense, h, w, chan, order, lay_i, ab, compute, hw, 1.0, 1.0, 1.0, scratch)
        # Totals within a relative 1e-9 are a tie (the walk sums floats in varying order); a tie
        # goes to the walk that moves fewer bytes.
        if total < best_total * (1.0 - TIE) or (total <= best_total * (1.0 + TIE) and r + wr < best_r + best_w):
            best_total, best_r, best_w, best_n, best_e = total, r, wr, n, e
        if e == 1:
            break
        e = cdiv(e, 2)
    return best_total, best_r, best_w, best_n, best_e


# Array-side SRAM (read, write) bytes for a conv/GEMM under the given dataflow (accelsim.engine.folds).
sram_traffic = kernel(folds_model.sram_traffic)


@kernel
def unit_cycles(lay_i, hw, macs_pe, vops, pixels, on_array):
    """Compute cycles of the layer's unit for ``pixels`` output pixels (all channels)."""
    op = int(lay_i[L_OP])
    wp, ap = int(lay_i[L_WPREC]), int(lay_i[L_APREC])
    out_c, groups = lay_i[L_OUT_C], lay_i[L_GROUPS]
    if on_array:
        k_pe = min(macs_pe[wp], macs_pe[ap])
        if op == OP_MATMUL:
            return array_cycles(int(hw[H_DATAFLOW]), hw[H_ROWS], hw[H_COLS], lay_i[L_IN_C], pixels, out_c, 1.0, k_pe)[0]
        k_red = lay_i[L_KH] * lay_i[L_KW] * lay_i[L_IN_C] / groups
        return array_cycles(int(hw[H_DATAFLOW]), hw[H_ROWS], hw[H_COLS], k_red, pixels, out_c / groups, groups,
                            k_pe)[0]
    v_ops = min(vops[wp], vops[ap]) if op == OP_CONV else vops[ap]
    return vector_cycles(hw[H_LANES], v_ops, out_c, pixels, lay_i[L_OPS_PER_OUT])


@kernel
def layer_cost(lay_i, hw, macs_pe, vops, emac, pbytes, out, sc, scratch):
    """Phase 1: fill ``out[:]`` (N_OUT_FIELDS values) and the scratch column ``sc`` for one layer
    on one hardware column, every operand through DRAM."""
    for f in range(N_OUT_FIELDS):
        out[f] = 0.0
    for f in range(N_SCRATCH):
        sc[f] = 0.0
    op = int(lay_i[L_OP])
    if op == OP_CONCAT:  # concat/reshape: a view of existing buffers, free
        out[O_UNIT] = 0.0
        return
    wp, ap = int(lay_i[L_WPREC]), int(lay_i[L_APREC])
    ab = pbytes[ap]
    fb = pbytes[wp] if op != OP_MATMUL else ab
    align = hw[H_ALIGN]
    rows, cols, dataflow = hw[H_ROWS], hw[H_COLS], int(hw[H_DATAFLOW])
    lanes = hw[H_LANES]
    out_h, out_w, out_c = lay_i[L_OUT_H], lay_i[L_OUT_W], lay_i[L_OUT_C]
    pixels = out_h * out_w
    groups = lay_i[L_GROUPS]
    is_mm = has_filter(op) or op == OP_MATMUL
    dense = (has_filter(op) and groups == 1) or op == OP_MATMUL

    k_pe = min(macs_pe[wp], macs_pe[ap]) if is_mm else 0.0
    v_ops = min(vops[wp], vops[ap]) if op == OP_CONV else vops[ap]
    n_ops = pixels * out_c * lay_i[L_OPS_PER_OUT]
    if op == OP_CONV_T:   # a mean per output: back to the whole count of useful MACs
        n_ops = float(math.floor(n_ops + 0.5))
    array_ok, vector_ok = runnable_units(op, groups, lay_i[L_IN_C], macs_pe[wp], macs_pe[ap], vops[wp], vops[ap],
                                         lanes)

    arr, folds, eff = INF, 0.0, 0.0
    if array_ok:
        if op == OP_MATMUL:
            k_red, m_g, g = lay_i[L_IN_C], out_c, 1.0
        else:
            k_red = lay_i[L_KH] * lay_i[L_KW] * lay_i[L_IN_C] / groups
            m_g, g = out_c / groups, groups
        arr, folds, eff = array_cycles(dataflow, rows, cols, k_red, pixels, m_g, g, k_pe)
    vec = INF
    if vector_ok:
        vec = vector_cycles(lanes, v_ops, out_c, pixels, lay_i[L_OPS_PER_OUT])
    # calibration: both units' cycles slow down alike, so the unit choice does not change
    class_eff = hw[H_EFF + op_class(op, groups)]
    arr, vec = arr / class_eff, vec / class_eff
    out[O_ARRAY_CYCLES] = arr
    out[O_VECTOR_CYCLES] = vec
    if not array_ok and not vector_ok:
        out[O_STATUS] = STATUS_NO_UNIT
        return
    on_array = arr <= vec
    compute = arr if on_array else vec
    unit = UNIT_ARRAY if on_array else UNIT_VECTOR
    align_tile = cols if on_array else lanes
    h_t, w_t, m_t, c_t, order = layer_tiling(op, dense, lay_i, ab, fb, min(align_tile, out_c), align, hw)
    if h_t == 0:
        out[O_STATUS] = STATUS_NO_TILING
        return
    total, dram_r, dram_w, tiles, ext = best_walk(op, dense, h_t, w_t, m_t, c_t, order, lay_i, ab, fb, align,
                                                  compute, hw, scratch)
    if w_t < out_w:
        w_t = ext
    else:
        h_t = ext

    if on_array:
        if op == OP_MATMUL:
            sr, sw = sram_traffic(dataflow, rows, cols, lay_i[L_IN_C], pixels, out_c, 1.0, k_pe, ab, fb)
        else:
            k_red = lay_i[L_KH] * lay_i[L_KW] * lay_i[L_IN_C] / groups
            sr, sw = sram_traffic(dataflow, rows, cols, k_red, pixels, out_c / groups, groups, k_pe, ab, fb)
        dyn = n_ops * max(emac[wp], emac[ap])
        peak = rows * cols * k_pe
    else:
        sr = n_ops * ab + lay_i[L_FILTER_ELEMS] * fb
        sw = pixels * out_c * ab
        dyn = n_ops * hw[H_E_VEC]
        peak = lanes * v_ops
        folds, eff = 0.0, 0.0
    out[O_COMPUTE] = compute
    out[O_TOTAL] = total
    out[O_OPS] = n_ops
    out[O_UNIT] = unit
    out[O_DRAM_R] = dram_r
    out[O_DRAM_W] = dram_w
    out[O_TILES] = tiles
    out[O_FOLDS] = folds
    out[O_MAP_EFF] = eff
    i_b, f_b, o_b = tile_bytes(op, dense, h_t, w_t, m_t, c_t, lay_i, ab, fb, align)
    sc[S_H], sc[S_W], sc[S_M], sc[S_C], sc[S_ORDER] = h_t, w_t, m_t, c_t, order
    sc[S_NEED_I], sc[S_NEED_F], sc[S_NEED_O] = 2.0 * i_b, 2.0 * f_b, 2.0 * o_b
    sc[S_OUT_BYTES] = out_h * out_w * pad(out_c, align) * ab
    sc[S_IN_BYTES] = lay_i[L_IN_H] * lay_i[L_IN_W] * pad(lay_i[L_IN_C], align) * ab
    # Parameter bytes as stored; a matmul's second operand streams as its filter but is an activation,
    # produced afresh every inference, so it never counts as (or stays on chip with) the weights.
    # weights as stored (a matmul's second operand is an activation, not a weight)
    sc[S_W_BYTES] = planned_bytes(op, dense, h_t, w_t, m_t, c_t, lay_i, ab, fb, align)[1] if has_filter(op) else 0.0
    sc[S_SRAM_R], sc[S_SRAM_W], sc[S_DYN], sc[S_PEAK] = sr, sw, dyn, peak
    sc[S_AB], sc[S_FB] = ab, fb
    finish(out, sc, hw)


@kernel
def finish(out, sc, hw):
    """Stall, SRAM bytes, energy and utilisation from a layer's cycles and DRAM bytes."""
    total = out[O_TOTAL]
    out[O_STALL] = total - out[O_COMPUTE]
    sr = sc[S_SRAM_R] + out[O_DRAM_W]  # outputs are read out of SRAM to go to DRAM
    sw = sc[S_SRAM_W] + out[O_DRAM_R]  # inputs arriving from DRAM are written into SRAM
    out[O_SRAM_R] = sr
    out[O_SRAM_W] = sw
    out[O_ENERGY] = (sc[S_DYN] + (sr + sw) * hw[H_E_SRAM] + (out[O_DRAM_R] + out[O_DRAM_W]) * hw[H_E_DRAM]
                     + total * hw[H_STATIC_PJ])
    peak = sc[S_PEAK]
    out[O_UTIL] = out[O_OPS] / (total * peak) if total > 0 and peak > 0 else 0.0


# ------------------------------------------------------------------------------------------------
# Network-level placement
# ------------------------------------------------------------------------------------------------
@kernel
def activation_capacity(hw, need_f, weight_bytes):
    """SRAM for activations beside one layer's filter tiles (or beside all weights when they stay on
    chip): separate ifmap + ofmap buffers act as one pool (their roles swap between layers)."""
    if hw[H_UNIFIED] > 0:
        return hw[H_UNIFIED_B] - (weight_bytes if weight_bytes > 0 else need_f)
    return hw[H_IFMAP_B] + hw[H_OFMAP_B]


@kernel
def weights_fit(lay, start, n, sc, hw):
    """Total stored parameter bytes if all of them stay on chip across inferences, else 0."""
    total = 0.0
    worst = 0.0
    for i in range(n):
        total += sc[S_W_BYTES, i]
        worst = max(worst, sc[S_NEED_I, i] + sc[S_NEED_O, i])
    if total <= 0.0:
        return 0.0
    if hw[H_UNIFIED] > 0:
        return total if total + worst <= hw[H_UNIFIED_B] else 0.0
    return total if total <= hw[H_FILTER_B] else 0.0


@kernel
def residency_delta(lay, start, p, j, sc):
    """Extra SRAM at layer j if tensor p stays on chip: its bytes, less the streamed tile space it replaces."""
    d = sc[S_OUT_BYTES, p]
    if j == p:
        return d - sc[S_NEED_O, p]
    lj = lay[:, start + j]
    if reads(lj, L_SRC0, j, p):
        d -= sc[S_NEED_I, j] * lj[L_IN0_SHARE]
    if reads(lj, L_SRC1, j, p):
        d -= sc[S_NEED_I, j] * (1.0 - lj[L_IN0_SHARE])
    return d


@kernel
def reads(lay_j, field, j, p):
    """Layer j reads layer p's output through the operand in ``field`` (L_SRC0 or L_SRC1)."""
    return lay_j[field] > 0 and j - lay_j[field] == p


@kernel
def place_resident(lay, start, n, sc, hw, wbytes, occ, cap, keep_out, in_chip):
    """Phase 2: greedy, in production order, which tensors stay on chip (``keep_out[p]``) and what
    share of each layer's input they supply (``in_chip[j]``); ``occ[j]`` ends as the SRAM in use."""
    for j in range(n):
        occ[j] = sc[S_NEED_I, j] + sc[S_NEED_O, j]
        cap[j] = activation_capacity(hw, sc[S_NEED_F, j], wbytes)
    for p in range(n):
        lp = lay[:, start + p]
        if lp[L_RESIDENT_OK] == 0.0:
            continue
        last = p + int(lp[L_LAST_USE])
        ok = True
        for j in range(p, last + 1):
            if occ[j] + residency_delta(lay, start, p, j, sc) > cap[j]:
                ok = False
                break
        if not ok:
            continue
        keep_out[p] = 1.0
        for j in range(p, last + 1):
            occ[j] += residency_delta(lay, start, p, j, sc)
            lj = lay[:, start + j]
            if j > p:
                if reads(lj, L_SRC0, j, p):
                    in_chip[j] += lj[L_IN0_SHARE]
                if reads(lj, L_SRC1, j, p):
                    in_chip[j] += 1.0 - lj[L_IN0_SHARE]


@kernel
def rewalk(lay_i, hw, sc, out, in_chip, keep_out, f_keep, scratch):
    """Re-walk a layer with some operands on chip, on phase 1's tiling and row (or column) tiles:
    the same steps with fewer transfers, so never slower and never more bytes than phase 1."""
    op = int(lay_i[L_OP])
    dense = (has_filter(op) and lay_i[L_GROUPS] == 1) or op == OP_MATMUL
    total, r, w, n = tile_walk(op, dense, int(sc[S_H]), int(sc[S_W]), sc[S_M], sc[S_C], int(sc[S_ORDER]), lay_i,
                               sc[S_AB], sc[S_FB], hw[H_ALIGN], out[O_COMPUTE], hw, 1.0 - in_chip,
                               f_keep if op != OP_MATMUL else 1.0, 1.0 - keep_out, scratch)
    out[O_TOTAL], out[O_DRAM_R], out[O_DRAM_W], out[O_TILES] = total, r, w, n


@kernel
def chainable(lay, start, j):
    """Layer j may continue a depth-first chain from layer j-1: both are convolutions and j is the
    only reader of j-1's output."""
    lj, lp = lay[:, start + j], lay[:, start + j - 1]
    return (lj[L_OP] == OP_CONV and lp[L_OP] == OP_CONV and lj[L_SRC0] == 1 and lp[L_N_CONSUMERS] == 1
            and lp[L_RESIDENT_OK] > 0)


@kernel
def axis_geometry(ll, axis):
    """(input size, output size, effective kernel, stride) of a layer along rows (0) or columns (1)."""
    if axis == 0:
        return ll[L_IN_H], ll[L_OUT_H], ll[L_KH_EXT], ll[L_SH]
    return ll[L_IN_W], ll[L_OUT_W], ll[L_KW_EXT], ll[L_SW]


@kernel
def tile_extents(lay, start, i, j, axis, t, recompute, ext, ext_last):
    """Output extent along ``axis`` each chain layer computes per tile of ``t`` outputs of layer j:
    ``ext[l - i]`` for a full tile, ``ext_last[l - i]`` for the last one; returns the tile count.

    With the halo cached, a layer computes only its consumer's new extent times the consumer's
    stride (what consecutive tiles share stays in the consumer's buffer); with the halo recomputed,
    the consumer's whole window, every tile.
    """
    size_out = lay[L_OUT_H, start + j] if axis == 0 else lay[L_OUT_W, start + j]
    n = cdiv(size_out, t)
    ext[j - i] = t
    ext_last[j - i] = size_out - (n - 1) * t
    for l in range(j, i, -1):
        size_in, size_o, k, s = axis_geometry(lay[:, start + l], axis)
        if recompute:
            ext[l - i - 1] = span_in(OP_CONV, ext[l - i], size_in, size_o, k, s)
            ext_last[l - i - 1] = span_in(OP_CONV, ext_last[l - i], size_in, size_o, k, s)
        else:
            ext[l - i - 1] = min(ext[l - i] * s, size_in)
            ext_last[l - i - 1] = ext[l - i - 1]
    return n


@kernel
def axis_calls(n, size_out, e, e_last, recompute):
    """A layer's unit calls along one axis: (full calls, their extent, 0 or 1 last call, its extent).
    Recomputed: one call per tile. Cached: calls of the new extent while whole ones fit in the
    layer's output, then one call for the rest (every output computed once)."""
    if recompute:
        return n - 1.0, e, 1.0, e_last
    full = min(n - 1.0, math.floor(size_out / e))
    rest = size_out - full * e
    return full, e, (1.0 if rest > 0 else 0.0), rest


@kernel
def calls_cycles(ll, hw, macs_pe, vops, on_array, n_calls, pixels):
    if n_calls <= 0:
        return 0.0
    return n_calls * (unit_cycles(ll, hw, macs_pe, vops, pixels, on_array) + 1.0)


@kernel
def chain_compute(lay, start, i, j, h, wt, mode, hw, macs_pe, vops, out, res, scale, ext, ext_last):
    """Compute cycles of each chain layer run in tiles of ``h`` x ``wt`` outputs of layer j
    (``res[l - i]``) and the outputs it computes per output it has (``scale[l - i]``, 1 unless halos
    are recomputed); returns (row bands, column tiles).

    Each call is one SCALE-Sim GEMM whose ``- 1`` is taken once per layer, so tiling never computes
    in fewer cycles than the whole layer does.
    """
    rec_r, rec_c = mode != FUSE_CACHE, mode == FUSE_RECOMPUTE
    n_r = tile_extents(lay, start, i, j, 0, h, rec_r, ext[0], ext_last[0])
    n_c = tile_extents(lay, start, i, j, 1, wt, rec_c, ext[1], ext_last[1])
    for l in range(i, j + 1):
        q = l - i
        ll = lay[:, start + l]
        on_array = out[O_UNIT, l] == UNIT_ARRAY
        r_full, r_e, r_last, r_el = axis_calls(n_r, ll[L_OUT_H], ext[0, q], ext_last[0, q], rec_r)
        c_full, c_e, c_last, c_el = axis_calls(n_c, ll[L_OUT_W], ext[1, q], ext_last[1, q], rec_c)
        c = (calls_cycles(ll, hw, macs_pe, vops, on_array, r_full * c_full, r_e * c_e)
             + calls_cycles(ll, hw, macs_pe, vops, on_array, r_full * c_last, r_e * c_el)
             + calls_cycles(ll, hw, macs_pe, vops, on_array, r_last * c_full, r_el * c_e)
             + calls_cycles(ll, hw, macs_pe, vops, on_array, r_last * c_last, r_el * c_el))
        res[q] = (c - 1.0) / hw[H_EFF + op_class(int(ll[L_OP]), ll[L_GROUPS])]
        scale[q] = (r_full * r_e + r_last * r_el) * (c_full * c_e + c_last * c_el) / (ll[L_OUT_H] * ll[L_OUT_W])
    return n_r, n_c


@kernel
def chain_footprint(lay, start, i, j, mode, ext, in_res, out_res, sc, align):
    """SRAM one tile of the chain needs: double-buffered input and output tiles (unless those tensors
    are kept on chip anyway) and one buffer per intermediate tensor holding its consumer's window.
    With halo rows cached that window keeps the rows shared with the next band at full width (they
    are produced across the band's column tiles); its other rows, and every row when halo rows are
    recomputed, span the tile's columns plus their halo."""
    rec_r, rec_c = mode != FUSE_CACHE, mode == FUSE_RECOMPUTE
    foot = 0.0
    for l in range(i, j + 1):
        q = l - i
        ll = lay[:, start + l]
        in_h, out_h, kh, sh = axis_geometry(ll, 0)
        in_w, out_w, kw, sw = axis_geometry(ll, 1)
        if rec_r:
            rows = span_in(OP_CONV, ext[0, q], in_h, out_h, kh, sh)
            halo = 0.0
        else:
            rows = min(ext[0, q] * sh + max(kh - sh, 0.0), in_h)
            halo = min(max(kh - sh, 0.0), rows)
        if rec_c:
            cols = span_in(OP_CONV, ext[1, q], in_w, out_w, kw, sw)
        else:
            cols = min(ext[1, q] * sw + max(kw - sw, 0.0), in_w)
        buf = (halo * in_w + (rows - halo) * cols) * pad(ll[L_IN_C], align) * sc[S_AB, l]
        if l == i:
            if in_res == 0.0:
                foot += 2.0 * buf
        else:
            foot += buf
    lj = lay[:, start + j]
    if out_res == 0.0:
        foot += 2.0 * ext[0, j - i] * ext[1, j - i] * pad(lj[L_OUT_C], align) * sc[S_AB, j]
    return foot


@kernel
def input_span(li, axis, n, e, e_last, recompute):
    """(input rows or columns of the chain's first layer loaded in all, by the first tile)."""
    size_in, size_out, k, s = axis_geometry(li, axis)
    if recompute:
        full = span_in(OP_CONV, e, size_in, size_out, k, s)
        last = span_in(OP_CONV, e_last, size_in, size_out, k, s)
        return (n - 1.0) * full + last, (full if n > 1 else last)
    return size_in, span_in(OP_CONV, e if n > 1 else size_out, size_in, size_out, k, s)


@kernel
def chain_cost(lay, start, i, j, h, wt, mode, hw, macs_pe, vops, sc, out, in_res, out_res, f_keep, res, scale,
               ext, ext_last, dma):
    """Depth-first run of layers i..j in tiles of ``h`` x ``wt`` outputs of layer j (row bands, each
    cut into column tiles): (total cycles, DRAM read bytes, DRAM write bytes, tiles, input bytes
    loaded); per-layer compute in ``res``, recompute factors in ``scale``.

    DMA, one step per tile (double-buffered as in the layer walk): the chain's weights load before
    the first tile; the first tile loads the input its outputs need, later tiles share the rest
    evenly (with cached halos each input element loads once; recomputed halos load again); each tile
    computes its share of the chain's compute and stores its outputs.
    """
    align = hw[H_ALIGN]
    lj, li = lay[:, start + j], lay[:, start + i]
    n_r, n_c = chain_compute(lay, start, i, j, h, wt, mode, hw, macs_pe, vops, out, res, scale, ext, ext_last)
    comp = 0.0
    for q in range(j - i + 1):
        comp += res[q]
    rows_all, rows_first = input_span(li, 0, n_r, ext[0, 0], ext_last[0, 0], mode != FUSE_CACHE)
    cols_all, cols_first = input_span(li, 1, n_c, ext[1, 0], ext_last[1, 0], mode == FUSE_RECOMPUTE)
    in_px = pad(li[L_IN_C], align) * sc[S_AB, i] * (1.0 - in_res)
    out_px = pad(lj[L_OUT_C], align) * sc[S_AB, j] * (1.0 - out_res)
    n_t = n_r * n_c
    in_first = rows_first * cols_first * in_px
    in_later = (rows_all * cols_all * in_px - in_first) / (n_t - 1) if n_t > 1 else 0.0
    last_h = lj[L_OUT_H] - (n_r - 1) * h
    last_w = lj[L_OUT_W] - (n_c - 1) * wt
    w_bytes = 0.0
    for l in range(i, j + 1):
        w_bytes += sc[S_W_BYTES, l] * f_keep
    bw, lat = hw[H_BW], hw[H_LAT]
    per_tile = comp / n_t
    st, before = dma[0], dma[1]
    st[:] = 0.0
    b = 0
    while b < n_r:
        if 1 <= b < n_r - 1:   # the middle bands are alike: once one shifts the state, the rest do too
            copy_state(before, st)
            band_steps(st, dma[2], in_later, n_c, in_later, h * wt * out_px, h * last_w * out_px, per_tile, lat, bw)
            b += 1
            if b < n_r - 1 and shifted(before, st):
                jump(st, before, n_r - 1 - b)
                b = n_r - 1
            continue
        hb = last_h if b == n_r - 1 else h
        band_steps(st, dma[2], in_first + w_bytes if b == 0 else in_later, n_c, in_later, hb * wt * out_px,
                   hb * last_w * out_px, per_tile, lat, bw)
        b += 1
    dram_r = in_first + w_bytes + (n_t - 1) * in_later
    dram_w = lj[L_OUT_H] * lj[L_OUT_W] * out_px
    return dma_drain(st[3], st[4], st[0], st[1], st[2], lat, bw), dram_r, dram_w, float(n_t), dram_r - w_bytes


@kernel
def copy_state(dst, src):
    """``dst[:] = src`` for a walk state (a slice assignment may allocate, which kernels cannot)."""
    for q in range(src.shape[0]):
        dst[q] = src[q]


@kernel
def tile_step(st, load, store, compute, lat, bw):
    """One step of the double-buffered DMA on the state ``st`` = (DMA queue free, end of the last
    compute, end of the one before, the last store's bytes, the one before's), in place."""
    start_t, st[0] = dma_step(load, st[4], st[0], st[1], st[2], lat, bw)
    st[2], st[1] = st[1], start_t + compute
    st[4], st[3] = st[3], store


@kernel
def shifted(before, after):
    """Whether ``after`` is ``before`` with every time moved by the same amount and the same store
    sizes. The DMA step is a max-plus map (it commutes with moving all times), so the same steps
    from ``after`` move it by that amount again: repeats can be applied at once."""
    d = after[0] - before[0]
    tol = 1e-12 * max(abs(after[0]), 1.0)
    return (after[3] == before[3] and after[4] == before[4] and abs(after[1] - before[1] - d) <= tol
            and abs(after[2] - before[2] - d) <= tol)


@kernel
def jump(st, before, repeats):
    """Apply ``repeats`` more times the shift that took ``before`` to ``st``."""
    d = st[0] - before[0]
    for k in range(3):
        st[k] += repeats * d


@kernel
def band_steps(st, before, first_load, n_c, load, store, store_last, compute, lat, bw):
    """A band of ``n_c`` column tiles: the first loads ``first_load``, the others ``load``; all but
    the last store ``store`` bytes, the last ``store_last``."""
    tile_step(st, first_load, store if n_c > 1 else store_last, compute, lat, bw)
    k = 1
    while k < n_c - 1:
        copy_state(before, st)
        tile_step(st, load, store, compute, lat, bw)
        k += 1
        if k < n_c - 1 and shifted(before, st):
            jump(st, before, n_c - 1 - k)
            k = n_c - 1
    if n_c > 1:
        tile_step(st, load, store_last, compute, lat, bw)


@kernel
def chain_space(lay, start, i, j, hw, sc, occ, cap, keep_out, in_chip, wbytes):
    """SRAM bytes a depth-first chain i..j may use for its tiles and buffers: at each of its
    layers, the activation SRAM less the tensors kept on chip that are not the chain's own
    intermediates (its input and output, when kept, stay counted); -1 when its weights cannot all
    be on chip together."""
    w_chain = 0.0
    for l in range(i, j + 1):
        w_chain += sc[S_W_BYTES, l]
    if wbytes <= 0.0 and hw[H_UNIFIED] == 0 and w_chain > hw[H_FILTER_B]:
        return -1.0
    avail = INF
    for l in range(i, j + 1):
        kept = occ[l] - (sc[S_NEED_I, l] * (1.0 - in_chip[l]) + sc[S_NEED_O, l] * (1.0 - keep_out[l]))
        if l > i and keep_out[l - 1] > 0:
            kept -= sc[S_OUT_BYTES, l - 1]
        if l < j and keep_out[l] > 0:
            kept -= sc[S_OUT_BYTES, l]
        if hw[H_UNIFIED] > 0:
            base = hw[H_UNIFIED_B] - (wbytes if wbytes > 0 else w_chain)
        else:
            base = cap[l]
        avail = min(avail, base - kept)
    return avail


@kernel
def largest_band(lay, start, i, j, wt, mode, avail, in_res, out_res, sc, align, ext, ext_last):
    """The tallest band of ``wt``-wide tiles whose footprint fits in ``avail`` (0 when none)."""
    rec_r, rec_c = mode != FUSE_CACHE, mode == FUSE_RECOMPUTE
    tile_extents(lay, start, i, j, 1, wt, rec_c, ext[1], ext_last[1])
    lo, hi = 0, int(lay[L_OUT_H, start + j])
    while lo < hi:
        mid = (lo + hi + 1) // 2
        tile_extents(lay, start, i, j, 0, mid, rec_r, ext[0], ext_last[0])
        if chain_footprint(lay, start, i, j, mode, ext, in_res, out_res, sc, align) <= avail:
            lo = mid
        else:
            hi = mid - 1
    return lo


@kernel
def try_heights(lay, start, i, j, h, wt, mode, hw, macs_pe, vops, sc, out, in_res, out_res, f_keep, res, scale,
                ext, ext_last, dma, best):
    """``best`` or a faster schedule among bands of ``h`` rows of ``wt``-wide tiles and its halves (a
    tie within TIE goes to the schedule moving fewer bytes, else the one found first)."""
    for _ in range(H_CHOICES):
        t, r, w, nt, in_b = chain_cost(lay, start, i, j, h, wt, mode, hw, macs_pe, vops, sc, out, in_res, out_res,
                                       f_keep, res, scale, ext, ext_last, dma)
        if t < best[0] * (1.0 - TIE) or (t <= best[0] * (1.0 + TIE) and r + w < best[1] + best[2]):
            best = (t, r, w, nt, h, wt, mode, in_b)
        if h == 1:
            break
        h = cdiv(h, 2)
    return best


@kernel
def best_chain(lay, start, i, j, hw, macs_pe, vops, sc, out, occ, cap, keep_out, in_chip, wbytes, f_keep, res,
               scale, ext, ext_last, dma):
    """The fastest depth-first schedule of layers i..j that fits: (cycles, read, write, tiles, band
    rows, tile columns, fuse mode, input bytes); cycles INF when none fits.

    Full-width bands with cached halos when one fits (the tallest that fits and its halves, as for
    row tiles). Otherwise, under each halo mode, tiles of half the width, a quarter, ... while
    narrower tiles keep getting faster. Column tiles are not searched when a full-width band fits:
    a bound on the search's cost (on MobileNetV2, MnasNet-A1 and EfficientNet-B0 on the shipped
    configs, searching them for every chain lowers network latency by under 1 %; see the README).
    """
    best = (INF, 0.0, 0.0, 0.0, 0, 0, FUSE_NONE, 0.0)
    avail = chain_space(lay, start, i, j, hw, sc, occ, cap, keep_out, in_chip, wbytes)
    if avail <= 0.0:
        return best
    align = hw[H_ALIGN]
    in_res, out_res = in_chip[i], keep_out[j]
    out_w = int(lay[L_OUT_W, start + j])
    h = largest_band(lay, start, i, j, out_w, FUSE_CACHE, avail, in_res, out_res, sc, align, ext, ext_last)
    if h > 0:
        return try_heights(lay, start, i, j, h, out_w, FUSE_CACHE, hw, macs_pe, vops, sc, out, in_res, out_res,
                           f_keep, res, scale, ext, ext_last, dma, best)
    for mode in (FUSE_CACHE, FUSE_RECOMPUTE_ROWS, FUSE_RECOMPUTE):
        wt = out_w
        last = INF   # the best time at the previous width that fitted
        while wt > 1:
            wt = cdiv(wt, 2)
            h = largest_band(lay, start, i, j, wt, mode, avail, in_res, out_res, sc, align, ext, ext_last)
            if h == 0:
                continue
            here = try_heights(lay, start, i, j, h, wt, mode, hw, macs_pe, vops, sc, out, in_res, out_res, f_keep,
                               res, scale, ext, ext_last, dma, (INF, 0.0, 0.0, 0.0, 0, 0, FUSE_NONE, 0.0))
            if here[0] < best[0] * (1.0 - TIE) or (here[0] <= best[0] * (1.0 + TIE)
                                                  and here[1] + here[2] < best[1] + best[2]):
                best = here
            if here[0] >= last * (1.0 - TIE):
                break   # narrower tiles stopped paying off
            last = here[0]
    return best


@njit(cache=True)
def fuse_chains(lay, start, n, hw, macs_pe, vops, sc, out, occ, cap, keep_out, in_chip, wbytes, f_keep):
    """Phase 3: over each run of chainable layers, a dynamic programme picks chains (length 2 to
    MAX_CHAIN) to run depth-first where that is faster than the layers one by one and moves no
    more DRAM bytes; the chosen chains' layers get their share of the chain's cycles and bytes, and
    recomputed outputs cost their MAC and SRAM energy again."""
    cost = np.full(n + 1, INF)
    cost[0] = 0.0
    choice = np.ones(n + 1, dtype=np.int64)   # length of the chain ending at layer k-1 (1 = unfused)
    band = np.zeros(n + 1, dtype=np.int64)    # its band rows
    width = np.zeros(n + 1, dtype=np.int64)   # its tile columns
    modes = np.zeros(n + 1, dtype=np.int64)   # its halo mode
    res = np.empty(MAX_CHAIN)
    scale = np.empty(MAX_CHAIN)
    ext = np.empty((2, MAX_CHAIN))
    ext_last = np.empty((2, MAX_CHAIN))
    dma = np.empty((3, 5))
    for k in range(1, n + 1):
        j = k - 1
        cost[k] = cost[j] + out[O_TOTAL, j]
        i = j
        unf_t = out[O_TOTAL, j]
        unf_b = out[O_DRAM_R, j] + out[O_DRAM_W, j]
        unf_c = out[O_COMPUTE, j]
        while i > 0 and j - i + 1 < MAX_CHAIN and chainable(lay, start, i):
            i -= 1
            unf_t += out[O_TOTAL, i]
            unf_b += out[O_DRAM_R, i] + out[O_DRAM_W, i]
            unf_c += out[O_COMPUTE, i]
            # tiling never computes in fewer cycles than the whole layers, so a chain whose layers
            # do not stall one by one cannot be faster depth-first
            if unf_t <= unf_c * (1.0 + TIE):
                continue
            t, r, w, nt, h, wt, mode, in_b = best_chain(lay, start, i, j, hw, macs_pe, vops, sc, out, occ, cap,
                                                        keep_out, in_chip, wbytes, f_keep, res, scale, ext, ext_last, dma)
            # Plans within TIE are equal (a chain often saves whole DMA latencies, so exact ties between
            # plans are common): the first found (the shortest last chain) stays, not float noise.
            if t < unf_t * (1.0 - TIE) and r + w <= unf_b * (1.0 + TIE) and cost[i] + t < cost[k] * (1.0 - TIE):
                cost[k] = cost[i] + t
                choice[k] = j - i + 1
                band[k] = h
                width[k] = wt
                modes[k] = mode
    k = n
    while k > 0:   # apply the chosen chains, last first
        length = choice[k]
        j = k - 1
        i = k - length
        if length > 1:
            t, r, w, nt, in_b = chain_cost(lay, start, i, j, band[k], width[k], modes[k], hw, macs_pe, vops, sc, out,
                                           in_chip[i], keep_out[j], f_keep, res, scale, ext, ext_last, dma)
            comp = 0.0
            for l in range(i, j + 1):
                comp += res[l - i]
            for l in range(i, j + 1):
                out[O_COMPUTE, l] = res[l - i]
                out[O_TOTAL, l] = t * res[l - i] / comp
                out[O_DRAM_R, l] = sc[S_W_BYTES, l] * f_keep + (in_b if l == i else 0.0)
                out[O_DRAM_W, l] = w if l == j else 0.0
                out[O_TILES, l] = nt
                out[O_FUSED_CHAIN, l] = i + 1
                out[O_FUSE_MODE, l] = modes[k]
                sc[S_DYN, l] *= scale[l - i]
                sc[S_SRAM_R, l] *= scale[l - i]
                sc[S_SRAM_W, l] *= scale[l - i]
                if l > i:
                    out[O_INPUT_ON_CHIP, l] = 1.0
                if l < j:
                    out[O_OUTPUT_ON_CHIP, l] = 1.0
        k = i


@kernel
def planned_traffic_rows(lay, hwt, pbytes, on_array, out):
    """Per row ``r`` (layer ``lay[:, r]`` on hardware column ``hwt[:, r]``, formats' bytes
    ``pbytes[:, r]``, unit ``on_array[r]``): the DRAM bytes and tile count of the tiling
    ``layer_cost`` chooses, every operand through DRAM, at its largest row extent (no DMA walk).
    ``out[0, r]`` bytes, ``out[1, r]`` tiles; 0 and 0 for a free layer or one no tiling fits.
    A cheap, exact account of re-fetches when operands outgrow their buffers (the estimator's prior)."""
    for r in range(lay.shape[1]):
        lay_i = lay[:, r]
        hw = hwt[:, r]
        out[0, r] = 0.0
        out[1, r] = 0.0
        op = int(lay_i[L_OP])
        if op == OP_CONCAT:
            continue
        wp, ap = int(lay_i[L_WPREC]), int(lay_i[L_APREC])
        ab = pbytes[ap, r]
        fb = pbytes[wp, r] if op != OP_MATMUL else ab
        dense = (has_filter(op) and lay_i[L_GROUPS] == 1) or op == OP_MATMUL
        align_tile = min(hw[H_COLS] if on_array[r] else hw[H_LANES], lay_i[L_OUT_C])
        align = hw[H_ALIGN]
        h_t, w_t, m_t, c_t, order = layer_tiling(op, dense, lay_i, ab, fb, align_tile, align, hw)
        if h_t == 0:
            continue
        n_s = cdiv(lay_i[L_OUT_H], h_t) * cdiv(lay_i[L_OUT_W], w_t)
        n_m, n_c = cdiv(lay_i[L_OUT_C], m_t), cdiv(reduction(op, lay_i), c_t)
        i_b, f_b, o_b = traffic(order, dense, n_s, n_m, n_c,
                                *planned_bytes(op, dense, h_t, w_t, m_t, c_t, lay_i, ab, fb, align))
        out[0, r] = i_b + f_b + o_b
        out[1, r] = n_s * n_m * n_c


@kernel
def layer_status(lay_i, hw, macs_pe, vops, pbytes):
    """Whether a layer can run, without simulating it: STATUS_NO_UNIT when no unit takes its formats,
    STATUS_NO_TILING when not even its smallest tile (one output, one output channel, the fewest
    input channels the tiling may take, one filter window) fits the SRAM, else 0. Equal to the
    status ``layer_cost`` reports (the tiling search ends at that smallest tile)."""
    op = int(lay_i[L_OP])
    if op == OP_CONCAT:
        return 0
    wp, ap = int(lay_i[L_WPREC]), int(lay_i[L_APREC])
    if hw[H_KIND] == KIND_ROOFLINE:
        return 0 if roofline_peak(hw, op, lay_i[L_GROUPS], wp, ap) > 0.0 else STATUS_NO_UNIT
    array_ok, vector_ok = runnable_units(op, lay_i[L_GROUPS], lay_i[L_IN_C], macs_pe[wp], macs_pe[ap], vops[wp],
                                         vops[ap], hw[H_LANES])
    if not array_ok and not vector_ok:
        return STATUS_NO_UNIT
    dense = (has_filter(op) and lay_i[L_GROUPS] == 1) or op == OP_MATMUL
    c_min = 1.0 if splits_reduction(op, dense, True) else reduction(op, lay_i)
    ab = pbytes[ap]
    fb = pbytes[wp] if op != OP_MATMUL else ab
    i_b, f_b, o_b = tile_bytes(op, dense, 1, 1, 1.0, c_min, lay_i, ab, fb, hw[H_ALIGN])
    return 0 if fits(i_b, f_b, o_b, hw) else STATUS_NO_TILING


@kernel
def status_pairs(lay, layer_start, layer_end, hwt, macs_pe, vops, pbytes, pair_net, pair_hw, row_start, status):
    for p in range(pair_net.shape[0]):
        n, h = pair_net[p], pair_hw[p]
        for i in range(layer_start[n], layer_end[n]):
            status[row_start[p] + i - layer_start[n]] = layer_status(lay[:, i], hwt[:, h], macs_pe[:, h], vops[:, h],
                                                                     pbytes[:, h])


# ------------------------------------------------------------------------------------------------
# Roofline devices
# ------------------------------------------------------------------------------------------------
@kernel
def roofline_peak(hw, op, groups, wp, ap):
    """Peak ops per cycle of a layer's op class: the slower of its weights' and activations' formats
    for a conv or matmul, its activations' format otherwise; 0 when the device lacks one."""
    base = H_PEAK + op_class(op, groups) * N_FORMATS
    peak = hw[base + ap]
    if has_filter(op) or op == OP_MATMUL:
        peak = min(peak, hw[base + wp])
    return peak


@kernel
def roofline_cost(lay_i, hw, emac, pbytes, out, sc):
    """One layer on a roofline device (kind roofline), before the per-layer overhead:

    - compute = ops / (peak x outputs / (outputs + half_outputs) x calibration efficiency), ops the
      layer's MACs x 2 (dense and depthwise) or its element ops (elementwise);
    - DRAM bytes = input x passes + weights + output, each once (a matmul's second operand counts as
      its weights); passes = 1, or ceil(weights / half the cache) when the weights and the input rows
      one output row reads do not fit in the cache together (weights in half-cache chunks, the input
      streamed once per chunk);
    - total = max(compute, DRAM bytes / bandwidth).

    Dense and depthwise layers report unit "array", elementwise ones "vector"; ``mapping_efficiency``
    is the curve's efficiency and ``tiles`` the input passes. Energy: ops x energy per op (the larger of
    the two formats') + DRAM bytes x energy per byte + static power; SRAM bytes are the DRAM bytes
    passing through the cache, at no energy of their own.
    """
    for f in range(N_OUT_FIELDS):
        out[f] = 0.0
    for f in range(N_SCRATCH):
        sc[f] = 0.0
    op = int(lay_i[L_OP])
    if op == OP_CONCAT:
        out[O_UNIT] = UNIT_NONE
        return
    wp, ap = int(lay_i[L_WPREC]), int(lay_i[L_APREC])
    cls = op_class(op, lay_i[L_GROUPS])
    peak = roofline_peak(hw, op, lay_i[L_GROUPS], wp, ap)
    if peak <= 0.0:
        out[O_ARRAY_CYCLES] = INF
        out[O_VECTOR_CYCLES] = INF
        out[O_STATUS] = STATUS_NO_UNIT
        return
    macs = has_filter(op) or op == OP_MATMUL
    per_op = 2.0 if macs else 1.0   # a MAC is two ops of the device's rate
    ab = pbytes[ap]
    fb = pbytes[wp] if op != OP_MATMUL else ab
    outputs = lay_i[L_OUT_H] * lay_i[L_OUT_W] * lay_i[L_OUT_C]
    n_ops = outputs * lay_i[L_OPS_PER_OUT]
    if op == OP_CONV_T:   # a mean per output: back to the whole count of useful MACs
        n_ops = float(math.floor(n_ops + 0.5))
    curve = outputs / (outputs + hw[H_HALF_OUTPUTS])
    compute = per_op * n_ops / (peak * curve * hw[H_EFF + cls])
    row_bytes = lay_i[L_IN_W] * lay_i[L_IN_C] * ab * lay_i[L_IN_FACTOR]
    in_bytes = lay_i[L_IN_H] * row_bytes
    w_bytes = lay_i[L_FILTER_ELEMS] * fb
    passes = 1.0
    if w_bytes + rows_in(op, 1, lay_i) * row_bytes > hw[H_CACHE_B]:
        passes = max(1.0, float(cdiv(w_bytes, hw[H_CACHE_B] / 2.0)))
    dram_r = in_bytes * passes + w_bytes
    dram_w = outputs * ab
    unit = UNIT_VECTOR if cls == CLASS_ELEMENTWISE else UNIT_ARRAY
    out[O_ARRAY_CYCLES] = compute if unit == UNIT_ARRAY else INF
    out[O_VECTOR_CYCLES] = compute if unit == UNIT_VECTOR else INF
    out[O_COMPUTE] = compute
    out[O_TOTAL] = max(compute, (dram_r + dram_w) / hw[H_BW])
    out[O_OPS] = n_ops
    out[O_UNIT] = unit
    out[O_DRAM_R] = dram_r
    out[O_DRAM_W] = dram_w
    out[O_TILES] = passes
    out[O_MAP_EFF] = curve
    sc[S_DYN] = per_op * n_ops * (max(emac[wp], emac[ap]) if macs else emac[ap])
    sc[S_PEAK] = peak / per_op   # in the units of ``ops``: MACs for dense and depthwise layers
    finish(out, sc, hw)


@njit(cache=True)
def run_one_pair(lay, layer_start, layer_end, hwt, macs_pe, vops, emac, pbytes, n, h, row0, out):
    """Every layer of network ``n`` on hardware ``h`` into ``out[:, row0:...]``; then the per-layer
    overhead (the calibration's, and a roofline device's own) on every layer that ran. The arrays the
    passes work in are made here: the passes are kernels, which allocate nothing."""
    start, end = layer_start[n], layer_end[n]
    count = end - start
    hw = hwt[:, h]
    res = out[:, row0:row0 + count]
    sc = np.zeros((N_SCRATCH, count))
    if hw[H_KIND] == KIND_ROOFLINE:
        roofline_layers(lay, start, count, hw, emac[:, h], pbytes[:, h], res, sc)
    else:
        # per layer: SRAM in use, SRAM for activations, output kept, input kept, and its phase-1 twin (see
        # systolic_layers)
        place = np.zeros((6, count))
        occ, cap, keep_out, in_chip = place[0], place[1], place[2], place[3]
        m_pe, v_op = macs_pe[:, h], vops[:, h]
        placed, wbytes, f_keep = systolic_layers(lay, start, count, hw, m_pe, v_op, emac[:, h], pbytes[:, h], res,
                                                 sc, occ, cap, keep_out, in_chip, place[4:], np.empty((2, 8)))
        if placed:
            if hw[H_POLICY] == POLICY_FUSED:
                fuse_chains(lay, start, count, hw, m_pe, v_op, sc, res, occ, cap, keep_out, in_chip, wbytes, f_keep)
            finish_layers(lay, start, count, hw, res, sc)
    add_overhead(lay, start, count, hw, res, sc)


PHASE1_FIELDS = L_KW_EXT + 1   # the layer fields phase 1 reads (the others place it in the network)
TWIN_WINDOW = 32   # how many layers back a twin is looked for


@kernel
def phase1_key(lay, col):
    """A number equal for layers equal in their PHASE1_FIELDS (and seldom for others): a first test."""
    return ((((lay[L_OP, col] * 8191.0 + lay[L_IN_H, col]) * 8191.0 + lay[L_IN_W, col]) * 8191.0
             + lay[L_IN_C, col]) * 8191.0 + lay[L_OUT_C, col]) * 8191.0 + lay[L_KH, col]


@kernel
def phase1_twin(lay, start, i, key):
    """The latest of the TWIN_WINDOW layers before layer i equal to it in every PHASE1_FIELDS field, or -1
    (``key``: :func:`phase1_key` of each layer up to i)."""
    for j in range(i - 1, max(i - 1 - TWIN_WINDOW, -1), -1):
        if key[j] != key[i]:
            continue
        same = True
        for f in range(PHASE1_FIELDS):
            if lay[f, start + j] != lay[f, start + i]:
                same = False
                break
        if same:
            return j
    return -1


@kernel
def roofline_layers(lay, start, count, hw, emac, pbytes, res, sc):
    for i in range(count):
        roofline_cost(lay[:, start + i], hw, emac, pbytes, res[:, i], sc[:, i])


@kernel
def finish_layers(lay, start, count, hw, res, sc):
    for i in range(count):
        if lay[L_OP, start + i] != OP_CONCAT:
            finish(res[:, i], sc[:, i], hw)


@kernel
def add_overhead(lay, start, count, hw, res, sc):
    """The per-layer overhead of its op class on every layer that ran."""
    if hw[H_OVERHEAD] > 0.0 or hw[H_OVERHEAD + 1] > 0.0 or hw[H_OVERHEAD + 2] > 0.0:
        for i in range(count):
            op = int(lay[L_OP, start + i])
            overhead = hw[H_OVERHEAD + op_class(op, lay[L_GROUPS, start + i])]
            if op != OP_CONCAT and res[O_STATUS, i] == 0 and overhead > 0.0:
                res[O_TOTAL, i] += overhead
                finish(res[:, i], sc[:, i], hw)


@kernel
def systolic_layers(lay, start, count, hw, m_pe, v_op, e_mac, pb, res, sc, occ, cap, keep_out, in_chip, twins,
                    scratch):
    """Every layer of one network on one systolic config: phase 1, then the placement of phase 2 (into
    the zeroed ``occ``, ``cap``, ``keep_out``, ``in_chip``). Returns (whether phase 2 ran, the weight
    bytes kept on chip, the share of weights loaded); when it ran, the fused policy's phase 3 and
    :func:`finish_layers` follow. ``twins``: (2, count) to work in; ``scratch``: the DMA walks' (see
    :func:`tile_walk`).

    Phase 1 and the re-walks are pure functions of a layer's own fields (the first PHASE1_FIELDS),
    the config and, for a re-walk, which operands stay on chip; networks repeat blocks, so a layer
    equal in those to one shortly before it (its twin, :func:`phase1_twin`) takes the twin's results
    instead of working them out again: the same numbers, bit for bit."""
    key, twin = twins[0], twins[1]
    failed = False
    for i in range(count):
        key[i] = phase1_key(lay, start + i)
        j = phase1_twin(lay, start, i, key)
        twin[i] = j
        if j >= 0:
            for f in range(N_OUT_FIELDS):
                res[f, i] = res[f, j]
            for f in range(N_SCRATCH):
                sc[f, i] = sc[f, j]
        else:
            layer_cost(lay[:, start + i], hw, m_pe, v_op, e_mac, pb, res[:, i], sc[:, i], scratch)
        if res[O_STATUS, i] != 0:
            failed = True
    policy = int(hw[H_POLICY])
    if failed or (policy == POLICY_DRAM and hw[H_WEIGHTS_RESIDENT] == 0):
        return False, 0.0, 1.0
    wbytes = weights_fit(lay, start, count, sc, hw) if hw[H_WEIGHTS_RESIDENT] > 0 else 0.0
    f_keep = 0.0 if wbytes > 0 else 1.0
    if policy != POLICY_DRAM:
        place_resident(lay, start, count, sc, hw, wbytes, occ, cap, keep_out, in_chip)
    for i in range(count):
        if lay[L_OP, start + i] == OP_CONCAT:
            continue
        if in_chip[i] > 0 or keep_out[i] > 0 or f_keep == 0.0:
            j = int(twin[i])
            if j >= 0 and in_chip[j] == in_chip[i] and keep_out[j] == keep_out[i]:   # re-walked alike
                for f in (O_TOTAL, O_DRAM_R, O_DRAM_W, O_TILES):
                    res[f, i] = res[f, j]
            else:
                rewalk(lay[:, start + i], hw, sc[:, i], res[:, i], in_chip[i], keep_out[i], f_keep, scratch)
        res[O_INPUT_ON_CHIP, i] = in_chip[i]
        res[O_OUTPUT_ON_CHIP, i] = keep_out[i]
        res[O_WEIGHTS_ON_CHIP, i] = 1.0 - f_keep if sc[S_W_BYTES, i] > 0 else 0.0
    return True, wbytes, f_keep


# Two drivers: launching numba's thread pool costs milliseconds, so small batches (a single
# simulate() call) run serially and large ones across cores. They must stay distinct functions:
# numba's on-disk cache is keyed by function, and two njit wrappers of one function would share it.
@njit(cache=True)
def run_pairs_serial(lay, layer_start, layer_end, hwt, macs_pe, vops, emac, pbytes, pair_net, pair_hw,
                     row_start, out):
    for p in range(pair_net.shape[0]):
        run_one_pair(lay, layer_start, layer_end, hwt, macs_pe, vops, emac, pbytes, pair_net[p], pair_hw[p],
                     row_start[p], out)


@njit(cache=True, parallel=True)
def run_pairs_parallel(lay, layer_start, layer_end, hwt, macs_pe, vops, emac, pbytes, pair_net, pair_hw,
                       row_start, out):
    for p in prange(pair_net.shape[0]):
        run_one_pair(lay, layer_start, layer_end, hwt, macs_pe, vops, emac, pbytes, pair_net[p], pair_hw[p],
                     row_start[p], out)


PARALLEL_MIN_PAIRS = 64


def run_pairs(lay, layer_start, layer_end, hwt, macs_pe, vops, emac, pbytes, pair_net, pair_hw, row_start, out):
    """Evaluate every (network, hardware) pair; pair p's layers fill ``out[:, row_start[p]:...]``."""
    fn = run_pairs_parallel if pair_net.shape[0] >= PARALLEL_MIN_PAIRS else run_pairs_serial
    fn(lay, layer_start, layer_end, hwt, macs_pe, vops, emac, pbytes, pair_net, pair_hw, row_start, out)
