"""Numba kernels: the performance model of one layer on one hardware config, and the batch driver.

Model, per layer:
1. **Compute** on the MAC array with SCALE-Sim's fold formulas (so dense conv/FC cycles equal its
   "Total Cycles"), and for depthwise/pool/element-wise ops on the vector unit; depthwise runs on
   whichever of the two is faster. A PE doing ``k`` MACs per cycle in a format packs ``k`` elements
   of the reduction dimension (k = 1 is SCALE-Sim).
2. **Tiling**: output rows x output channels (x input channels when even one row does not fit) to
   the double-buffered SRAM; among the tilings that fit, the one moving the fewest DRAM bytes.
3. **DMA walk**: tiles run in loop order; a tile's inputs load while the previous tile computes,
   and outputs store after it; a tile whose transfer outlasts compute stalls the array.
4. **Energy**: MACs and vector ops x per-op energy, SRAM and DRAM bytes x per-byte energy, plus
   static power over the layer's cycles.

All functions are pure and take plain floats/arrays; ``accelsim.engine.reference`` restates the
same model in plain Python for tests.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .tables import (DF_IS, DF_OS, H_BW, H_COLS, H_DATAFLOW, H_E_DRAM, H_E_SRAM, H_E_VEC, H_FILTER_B,
                     H_IFMAP_B, H_LANES, H_LAT, H_OFMAP_B, H_ROWS, H_STATIC_PJ, H_UNIFIED, H_UNIFIED_B,
                     L_APREC, L_FILTER_ELEMS, L_GROUPS, L_IN_C, L_IN_FACTOR, L_IN_H, L_IN_W, L_KH, L_KW,
                     L_OP, L_OPS_PER_OUT, L_OUT_C, L_OUT_H, L_OUT_W, L_SH, L_WPREC, N_OUT_FIELDS,
                     O_ARRAY_CYCLES, O_COMPUTE, O_DRAM_R, O_DRAM_W, O_ENERGY, O_FOLDS, O_MAP_EFF, O_OPS,
                     O_SRAM_R, O_SRAM_W, O_STALL, O_STATUS, O_TILES, O_TOTAL, O_UNIT, O_UTIL,
                     O_VECTOR_CYCLES, OP_CONCAT, OP_CONV, OP_MATMUL, OP_UPSAMPLE, STATUS_NO_TILING,
                     STATUS_NO_UNIT, UNIT_ARRAY, UNIT_VECTOR)

INF = np.inf
TIE = 1e-9   # relative difference below which two cycle totals are equal


@njit(cache=True)
def cdiv(a, b):
    return math.ceil(a / b)


@njit(cache=True)
def array_cycles(dataflow, rows, cols, k_red, pixels, m, groups, macs_per_pe):
    """SCALE-Sim compute cycles: (cycles, folds, mapping efficiency) for ``groups`` GEMMs.

    Each group is (pixels x k_red) @ (k_red x m). OS: Sr=P, Sc=M, T=K; WS: Sr=K, Sc=M, T=P;
    IS: Sr=K, Sc=P, T=M. Per fold OS takes R+C+T-2 cycles and WS/IS 2R+C+T-2; SCALE-Sim reports
    folds*per_fold - 1.
    """
    k = cdiv(k_red, macs_per_pe)
    if dataflow == DF_OS:
        sr, sc, t = pixels, m, k
        per_fold = rows + cols + t - 2
    elif dataflow == DF_IS:
        sr, sc, t = k, pixels, m
        per_fold = 2 * rows + cols + t - 2
    else:
        sr, sc, t = k, m, pixels
        per_fold = 2 * rows + cols + t - 2
    folds = cdiv(sr, rows) * cdiv(sc, cols) * groups
    eff = (sr * sc * groups) / (folds * rows * cols)
    return folds * per_fold - 1.0, float(folds), eff


@njit(cache=True)
def vector_cycles(lanes, ops_per_lane, channels, pixels, ops_per_output):
    """Channels spread across lanes; each output needs ``ops_per_output`` lane-ops."""
    return cdiv(channels, lanes) * pixels * cdiv(ops_per_output, ops_per_lane)


@njit(cache=True)
def rows_in(op, h, in_h, out_h, kh, sh):
    """Input rows one tile of ``h`` output rows reads (halo included, padding not read)."""
    if op == OP_UPSAMPLE:
        r = cdiv(h * in_h, out_h) + kh - 1
    elif kh > sh:
        r = (h - 1) * sh + kh
    else:
        r = h * kh
    return min(r, in_h)


@njit(cache=True)
def tile_bytes(op, dense, h, m_t, c_t, lay_i, ab, fb):
    """(ifmap, filter, ofmap) bytes of one tile with ``h`` output rows, ``m_t`` outputs, ``c_t`` inputs."""
    in_h, in_w, in_c = lay_i[L_IN_H], lay_i[L_IN_W], lay_i[L_IN_C]
    out_h, out_w, out_c = lay_i[L_OUT_H], lay_i[L_OUT_W], lay_i[L_OUT_C]
    groups = lay_i[L_GROUPS]
    kh, kw = lay_i[L_KH], lay_i[L_KW]
    if dense:
        ch = c_t
    elif op == OP_CONV:  # grouped or depthwise: the input channels feeding these outputs
        ch = min(in_c, cdiv(m_t, out_c / groups) * (in_c / groups))
    else:  # channel-wise vector ops
        ch = m_t
    r = rows_in(op, h, in_h, out_h, kh, lay_i[L_SH])
    ifmap = r * in_w * ch * ab * lay_i[L_IN_FACTOR]
    if op == OP_MATMUL:
        filt = m_t * c_t * fb
    elif op == OP_CONV:
        filt = m_t * kh * kw * (c_t if dense else in_c / groups) * fb
    else:
        filt = 0.0
    ofmap = h * out_w * m_t * ab
    return ifmap, filt, ofmap


@njit(cache=True)
def fits(ifmap, filt, ofmap, hw):
    """Double buffering: each operand's tile may use half of its buffer."""
    if hw[H_UNIFIED] > 0:
        return 2.0 * (ifmap + filt + ofmap) <= hw[H_UNIFIED_B]
    return 2.0 * ifmap <= hw[H_IFMAP_B] and 2.0 * filt <= hw[H_FILTER_B] and 2.0 * ofmap <= hw[H_OFMAP_B]


@njit(cache=True)
def max_rows(op, dense, m_t, c_t, lay_i, ab, fb, hw):
    """Largest number of output rows per tile that fits (0 if not even one row fits)."""
    lo, hi = 0, int(lay_i[L_OUT_H])
    while lo < hi:
        mid = (lo + hi + 1) // 2
        i_b, f_b, o_b = tile_bytes(op, dense, mid, m_t, c_t, lay_i, ab, fb)
        if fits(i_b, f_b, o_b, hw):
            lo = mid
        else:
            hi = mid - 1
    return lo


@njit(cache=True)
def ifmap_pass_bytes(op, h_t, lay_i, ab):
    """Bytes of all ifmap tiles over one pass of output rows (all input channels)."""
    out_h = lay_i[L_OUT_H]
    n_h = cdiv(out_h, h_t)
    last = out_h - (n_h - 1) * h_t
    rows = ((n_h - 1) * rows_in(op, h_t, lay_i[L_IN_H], out_h, lay_i[L_KH], lay_i[L_SH])
            + rows_in(op, last, lay_i[L_IN_H], out_h, lay_i[L_KH], lay_i[L_SH]))
    return rows * lay_i[L_IN_W] * lay_i[L_IN_C] * ab * lay_i[L_IN_FACTOR]


@njit(cache=True)
def traffic(order, dense, n_h, n_m, n_c, i_pass, w_total, o_total):
    """DRAM bytes of a tiling: a tile operand reloads whenever its tile index changes between steps.

    order 0: m outer, h, c inner; order 1: h outer, m, c inner.
    """
    if order == 0:
        i_mult = n_m if (dense and (n_h > 1 or n_c > 1)) else 1
        f_mult = n_h if n_c > 1 else 1
    else:
        i_mult = n_m if (dense and n_c > 1) else 1
        f_mult = n_h if (n_m > 1 or n_c > 1) else 1
    return i_pass * i_mult, w_total * f_mult, o_total


@njit(cache=True)
def choose_tiling(op, dense, lay_i, ab, fb, align, hw):
    """Best (h_t, m_t, c_t, order) by DRAM bytes, then by fewer tiles; h_t = 0 if nothing fits."""
    out_h, out_w, out_c = lay_i[L_OUT_H], lay_i[L_OUT_W], lay_i[L_OUT_C]
    c_red = lay_i[L_IN_C] / lay_i[L_GROUPS] if op != OP_MATMUL else lay_i[L_IN_C]
    w_total = lay_i[L_FILTER_ELEMS] * fb
    o_total = out_h * out_w * out_c * ab
    best_cost, best_tiles = INF, INF
    best = (0, 0, 0, 0)
    c_t = c_red
    while True:
        m_t = out_c
        while True:
            h_t = max_rows(op, dense, m_t, c_t, lay_i, ab, fb, hw)
            if h_t > 0:
                n_h, n_m, n_c = cdiv(out_h, h_t), cdiv(out_c, m_t), cdiv(c_red, c_t)
                i_pass = ifmap_pass_bytes(op, h_t, lay_i, ab)
                for order in range(2):
                    i_b, f_b, o_b = traffic(order, dense, n_h, n_m, n_c, i_pass, w_total, o_total)
                    cost = i_b + f_b + o_b
                    tiles = n_h * n_m * n_c
                    if cost < best_cost or (cost == best_cost and tiles < best_tiles):
                        best_cost, best_tiles = cost, tiles
                        best = (h_t, int(m_t), int(c_t), order)
            if m_t <= 1:
                break
            m_t = next_tile(m_t, align)
        if best[0] > 0 or not dense or c_t <= 1:
            break
        c_t = cdiv(c_t, 2)
    return best


@njit(cache=True)
def next_tile(m_t, align):
    """Halve a channel tile, keeping it a multiple of ``align`` while it is larger than ``align``."""
    half = cdiv(m_t, 2)
    if half > align:
        return cdiv(half, align) * align
    return half


@njit(cache=True)
def dma_walk(op, dense, h_t, m_t, c_t, order, lay_i, ab, fb, compute, hw):
    """Walk the tiles with double-buffered DMA: (total cycles, DRAM read bytes, write bytes, tiles).

    One DMA queue serves loads and stores in the order they become ready. Step i's inputs load
    into the buffer step i-2 used, so they may start once step i-2 has computed; step i-2's
    output tile stores then too, and step i may start once its inputs are in, step i-1 is done
    and its output buffer (step i-2's) has drained. The first load and the last stores are exposed.
    """
    out_h, out_c = lay_i[L_OUT_H], lay_i[L_OUT_C]
    c_red = lay_i[L_IN_C] / lay_i[L_GROUPS] if op != OP_MATMUL else lay_i[L_IN_C]
    n_h, n_m, n_c = cdiv(out_h, h_t), cdiv(out_c, m_t), cdiv(c_red, c_t)
    bw, lat = hw[H_BW], hw[H_LAT]
    n = n_h * n_m * n_c
    dram_r = 0.0
    dram_w = 0.0
    dma_free = 0.0
    end1 = 0.0   # compute end of step i-1
    end2 = 0.0   # compute end of step i-2
    out1 = 0.0   # output bytes step i-1 produced (0 if its tile is not finished)
    out2 = 0.0
    prev_i, prev_f = -1, -1
    for step in range(n):
        ci = step % n_c
        rest = step // n_c
        if order == 0:
            hi, mi = rest % n_h, rest // n_h
        else:
            mi, hi = rest % n_m, rest // n_m
        h = min(h_t, out_h - hi * h_t)
        m = min(m_t, out_c - mi * m_t)
        c = min(c_t, c_red - ci * c_t)
        i_b, f_b, o_b = tile_bytes(op, dense, h, m, c, lay_i, ab, fb)
        i_id = (hi * n_c + ci) if dense else (hi * n_m + mi) * n_c + ci
        f_id = mi * n_c + ci
        load = 0.0
        if i_id != prev_i:
            load += i_b
        if f_id != prev_f and f_b > 0:
            load += f_b
        prev_i, prev_f = i_id, f_id
        dram_r += load
        load_done = max(dma_free, end2)
        if load > 0:
            load_done += lat + load / bw
        dma_free = load_done
        drained = 0.0
        if out2 > 0:
            drained = max(dma_free, end2) + lat + out2 / bw
            dma_free = drained
        start = max(max(end1, load_done), drained)
        end2, end1 = end1, start + compute * (h / out_h) * (m / out_c) * (c / c_red)
        out2, out1 = out1, (o_b if ci == n_c - 1 else 0.0)
        dram_w += out1
    if out2 > 0:
        dma_free = max(dma_free, end2) + lat + out2 / bw
    if out1 > 0:
        dma_free = max(dma_free, end1) + lat + out1 / bw
    return max(end1, dma_free), dram_r, dram_w, float(n)


H_CHOICES = 4  # row-tile sizes tried for the chosen channel tiling: h_max, h_max/2, /4, /8


@njit(cache=True)
def best_walk(op, dense, h_max, m_t, c_t, order, lay_i, ab, fb, compute, hw):
    """Among a few row-tile sizes (fewer rows = more overlap, more halo), the fastest walk."""
    best_total, best_r, best_w, best_n = INF, 0.0, 0.0, 0.0
    h = h_max
    for _ in range(H_CHOICES):
        total, r, w, n = dma_walk(op, dense, h, m_t, c_t, order, lay_i, ab, fb, compute, hw)
        # Totals within a relative 1e-9 are a tie (the walk sums floats in varying order); a tie
        # goes to the walk that moves fewer bytes.
        if total < best_total * (1.0 - TIE) or (total <= best_total * (1.0 + TIE) and r + w < best_r + best_w):
            best_total, best_r, best_w, best_n = total, r, w, n
        if h == 1:
            break
        h = cdiv(h, 2)
    return best_total, best_r, best_w, best_n


@njit(cache=True)
def sram_traffic(dataflow, rows, cols, k_red, pixels, m, groups, macs_per_pe, ab, fb):
    """Array-side SRAM (read, write) bytes for a conv/GEMM under the given dataflow."""
    k = cdiv(k_red, macs_per_pe)
    if dataflow == DF_OS:
        reads = pixels * k_red * cdiv(m, cols) * ab + m * k_red * cdiv(pixels, rows) * fb
        writes = pixels * m * ab
    elif dataflow == DF_IS:
        passes = cdiv(k, rows)
        reads = k_red * pixels * ab + m * k_red * cdiv(pixels, cols) * fb + pixels * m * (passes - 1) * ab
        writes = pixels * m * passes * ab
    else:
        passes = cdiv(k, rows)
        reads = k_red * m * fb + pixels * k_red * cdiv(m, cols) * ab + pixels * m * (passes - 1) * ab
        writes = pixels * m * passes * ab
    return reads * groups, writes * groups


@njit(cache=True)
def layer_cost(lay_i, hw, macs_pe, vops, emac, pbytes, out):
    """Fill ``out[:]`` (N_OUT_FIELDS values) for one layer column on one hardware column."""
    for f in range(N_OUT_FIELDS):
        out[f] = 0.0
    op = int(lay_i[L_OP])
    if op == OP_CONCAT:  # concat/reshape: a view of existing buffers, free
        out[O_UNIT] = 0.0
        return
    wp, ap = int(lay_i[L_WPREC]), int(lay_i[L_APREC])
    ab = pbytes[ap]
    fb = pbytes[wp] if op != OP_MATMUL else ab
    rows, cols, dataflow = hw[H_ROWS], hw[H_COLS], int(hw[H_DATAFLOW])
    lanes = hw[H_LANES]
    out_h, out_w, out_c = lay_i[L_OUT_H], lay_i[L_OUT_W], lay_i[L_OUT_C]
    pixels = out_h * out_w
    groups = lay_i[L_GROUPS]
    is_mm = op == OP_CONV or op == OP_MATMUL
    dense = (op == OP_CONV and groups == 1) or op == OP_MATMUL
    depthwise = op == OP_CONV and groups > 1 and groups == lay_i[L_IN_C]

    k_pe = min(macs_pe[wp], macs_pe[ap]) if is_mm else 0.0
    v_ops = min(vops[wp], vops[ap]) if op == OP_CONV else vops[ap]
    n_ops = pixels * out_c * lay_i[L_OPS_PER_OUT]

    arr, folds, eff = INF, 0.0, 0.0
    if is_mm and k_pe > 0:
        if op == OP_MATMUL:
            k_red, m_g, g = lay_i[L_IN_C], out_c, 1.0
        else:
            k_red = lay_i[L_KH] * lay_i[L_KW] * lay_i[L_IN_C] / groups
            m_g, g = out_c / groups, groups
        arr, folds, eff = array_cycles(dataflow, rows, cols, k_red, pixels, m_g, g, k_pe)
    vec = INF
    if (depthwise or not is_mm) and lanes > 0 and v_ops > 0:
        vec = vector_cycles(lanes, v_ops, out_c, pixels, lay_i[L_OPS_PER_OUT])
    out[O_ARRAY_CYCLES] = arr
    out[O_VECTOR_CYCLES] = vec
    if arr == INF and vec == INF:
        out[O_STATUS] = STATUS_NO_UNIT
        return
    on_array = arr <= vec
    compute = arr if on_array else vec
    unit = UNIT_ARRAY if on_array else UNIT_VECTOR
    align = cols if on_array else lanes
    h_t, m_t, c_t, order = choose_tiling(op, dense, lay_i, ab, fb, min(align, out_c), hw)
    if h_t == 0:
        out[O_STATUS] = STATUS_NO_TILING
        return
    total, dram_r, dram_w, tiles = best_walk(op, dense, h_t, m_t, c_t, order, lay_i, ab, fb, compute, hw)

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
    sr += dram_w  # outputs are read out of SRAM to go to DRAM
    sw += dram_r  # inputs arriving from DRAM are written into SRAM
    energy = (dyn + (sr + sw) * hw[H_E_SRAM] + (dram_r + dram_w) * hw[H_E_DRAM]
              + total * hw[H_STATIC_PJ])
    out[O_COMPUTE] = compute
    out[O_STALL] = total - compute
    out[O_TOTAL] = total
    out[O_OPS] = n_ops
    out[O_UNIT] = unit
    out[O_UTIL] = n_ops / (total * peak) if total > 0 else 0.0
    out[O_SRAM_R] = sr
    out[O_SRAM_W] = sw
    out[O_DRAM_R] = dram_r
    out[O_DRAM_W] = dram_w
    out[O_ENERGY] = energy
    out[O_TILES] = tiles
    out[O_FOLDS] = folds
    out[O_MAP_EFF] = eff


@njit(cache=True)
def run_one_pair(lay, layer_start, layer_end, hwt, macs_pe, vops, emac, pbytes, n, h, row0, out):
    """Every layer of network ``n`` on hardware ``h`` into ``out[:, row0:...]``."""
    col = np.empty(N_OUT_FIELDS)
    hw = hwt[:, h]
    m_pe, v_op, e_mac = macs_pe[:, h], vops[:, h], emac[:, h]
    for i in range(layer_start[n], layer_end[n]):
        layer_cost(lay[:, i], hw, m_pe, v_op, e_mac, pbytes, col)
        r = row0 + i - layer_start[n]
        for f in range(N_OUT_FIELDS):
            out[f, r] = col[f]


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
