"""Compiled loops over a :class:`~accelsim.workload.packed.PackedNetwork`'s rows: the engine's layer
table, the activation arena and the parameter bytes, each equal to what the ``Network`` path gives
(:func:`accelsim.engine.tables.pack_network`, :func:`accelsim.workload.arena.plan_arena` and
``padded_param_bytes``, whose docstrings state the rules) without building ``Layer`` objects."""

from __future__ import annotations

import math

import numpy as np
from ._numba import njit

from ..workload.rowfields import (N_ROW_FIELDS, R_APREC, R_BIAS, R_DH, R_DW, R_GROUPS, R_IC, R_IH, R_IW, R_KH, R_KW, R_MACS,
                               R_NIN, R_OC, R_OH, R_OP, R_OW, R_SH, R_SW, R_WPREC)
from . import tables as T

_OP_CONV, _OP_CONV_T, _OP_MATMUL, _OP_ADD, _OP_ACT = T.OP_CONV, T.OP_CONV_T, T.OP_MATMUL, T.OP_ADD, T.OP_ACT
_OP_POOL, _OP_UPSAMPLE, _OP_CONCAT = T.OP_POOL, T.OP_UPSAMPLE, T.OP_CONCAT
_NL = T.N_LAYER_FIELDS


@njit(cache=True)
def _out_elements(t, j, in_h, in_w, in_c):
    """Elements of tensor ``j``'s output (the network input when ``j`` < 0)."""
    if j < 0:
        return in_h * in_w * in_c
    return t[j, R_OH] * t[j, R_OW] * t[j, R_OC]


@njit(cache=True)
def pack_rows(t, ptr, off, in_h, in_w, in_c, max_dim, max_elements):
    """``(lay, macs, params, bad)``: the layer table ``lay[field, layer]`` of
    :func:`accelsim.engine.tables.pack_network`, the network's MACs and parameters, and the first
    layer above NetworkBuilder's size limits (-1: none)."""
    n = t.shape[0]
    lay = np.zeros((_NL, n))
    macs = params = 0
    bad = -1
    last_use = np.full(n, -1, dtype=np.int64)
    consumers = np.zeros(n, dtype=np.int64)
    via_ifmap = np.ones(n, dtype=np.bool_)
    for i in range(n):
        op, nin = t[i, R_OP], t[i, R_NIN]
        for slot in range(nin):
            j = i - off[ptr[i] + slot]
            if j < 0:
                continue
            last_use[j] = i
            consumers[j] += 1
            if op == _OP_CONCAT:
                reads = False
            elif slot == 0:
                reads = True
            else:
                reads = slot == 1 and op == _OP_ADD and nin == 2
            via_ifmap[j] = via_ifmap[j] and reads
    for i in range(n):
        op, nin = t[i, R_OP], t[i, R_NIN]
        ih, iw, ic = t[i, R_IH], t[i, R_IW], t[i, R_IC]
        oc, kh, kw, groups = t[i, R_OC], t[i, R_KH], t[i, R_KW], t[i, R_GROUPS]
        first = ih * iw * ic
        conv = op == _OP_CONV or op == _OP_CONV_T
        weights = kh * kw * (ic // groups) * oc if conv else 0
        macs += t[i, R_MACS]
        if conv:
            params += weights + (oc if t[i, R_BIAS] else 0)
        out_elements = t[i, R_OH] * t[i, R_OW] * oc
        if bad < 0 and (max(ih, iw, ic, t[i, R_OH], t[i, R_OW], oc, kh, kw) > max_dim or first > max_elements
                        or out_elements > max_elements or weights > max_elements):
            bad = i
        if op == _OP_MATMUL:
            filt = float(_out_elements(t, i - off[ptr[i] + 1], in_h, in_w, in_c))
            factor = 1.0
        else:
            filt = float(weights)
            extra = 0
            if op == _OP_ADD:
                for slot in range(1, nin):
                    extra += _out_elements(t, i - off[ptr[i] + slot], in_h, in_w, in_c)
            factor = 1.0 + extra / first
        src0 = off[ptr[i]] if i - off[ptr[i]] >= 0 else 0
        src1 = 0
        if nin == 2 and op == _OP_ADD and i - off[ptr[i] + 1] >= 0:
            src1 = off[ptr[i] + 1]
        share0 = 1.0
        if op == _OP_ADD:
            total = 0
            for slot in range(nin):
                total += _out_elements(t, i - off[ptr[i] + slot], in_h, in_w, in_c)
            share0 = _out_elements(t, i - off[ptr[i]], in_h, in_w, in_c) / total
        resident_ok = consumers[i] > 0 and via_ifmap[i] and op != _OP_CONCAT
        if op == _OP_CONV_T:
            ops = t[i, R_MACS] / out_elements
        elif op == _OP_CONV:
            ops = float(kh * kw * (ic // groups))
        elif op == _OP_MATMUL:
            ops = float(ic)
        elif op == _OP_POOL or op == _OP_UPSAMPLE:
            ops = float(kh * kw)
        elif op == _OP_ADD:
            ops = float(max(1, nin - 1))
        else:
            ops = 1.0
        col = lay[:, i]
        col[T.L_OP], col[T.L_IN_H], col[T.L_IN_W], col[T.L_IN_C] = op, ih, iw, ic
        col[T.L_OUT_H], col[T.L_OUT_W], col[T.L_OUT_C] = t[i, R_OH], t[i, R_OW], oc
        col[T.L_KH], col[T.L_KW], col[T.L_SH], col[T.L_SW], col[T.L_GROUPS] = kh, kw, t[i, R_SH], t[i, R_SW], groups
        col[T.L_WPREC], col[T.L_APREC], col[T.L_FILTER_ELEMS] = t[i, R_WPREC], t[i, R_APREC], filt
        col[T.L_IN_FACTOR], col[T.L_OPS_PER_OUT] = factor, ops
        col[T.L_KH_EXT], col[T.L_KW_EXT] = t[i, R_DH] * (kh - 1) + 1, t[i, R_DW] * (kw - 1) + 1
        col[T.L_SRC0], col[T.L_SRC1], col[T.L_IN0_SHARE] = src0, src1, share0
        col[T.L_LAST_USE] = (last_use[i] if consumers[i] else n) - i
        col[T.L_N_CONSUMERS], col[T.L_RESIDENT_OK] = consumers[i], 1.0 if resident_ok else 0.0
    return lay, macs, params, bad


@njit(cache=True)
def _padded(h, w, c, alignment):
    return h * w * (-(-c // alignment) * alignment)


@njit(cache=True)
def _peak_live(sizes, starts, ends, steps):
    delta = np.zeros(steps + 2, dtype=np.int64)
    for k in range(sizes.shape[0]):
        delta[starts[k]] += sizes[k]
        delta[ends[k] + 1] -= sizes[k]
    peak = live = 0
    for d in delta:
        live += d
        peak = max(peak, live)
    return peak


@njit(cache=True)
def memory_rows(t, ptr, off, in_h, in_w, in_c, in_prec, bpe, alignment):
    """``(parameter bytes, arena peak bytes, arena lower bound bytes)``: ``padded_param_bytes`` and
    :func:`accelsim.workload.arena.plan_arena` (byte offsets aligned to 1) on ``bytes per element``
    ``bpe[format]`` and channel ``alignment``, as :func:`accelsim.engine.simulate.memory_figures`."""
    peak, lower = _arena(t, ptr, off, in_h, in_w, in_c, in_prec, bpe, alignment)
    return param_bytes_rows(t, bpe, alignment), peak, lower


@njit(cache=True)
def _arena(t, ptr, off, in_h, in_w, in_c, in_prec, bpe, alignment):
    n = t.shape[0]
    size = np.empty(n + 1, dtype=np.int64)
    start = np.zeros(n + 1, dtype=np.int64)
    end = np.full(n + 1, n, dtype=np.int64)
    consumed = np.zeros(n + 1, dtype=np.bool_)
    size[0] = math.ceil(_padded(in_h, in_w, in_c, alignment) * bpe[in_prec])
    for i in range(n):
        size[i + 1] = math.ceil(_padded(t[i, R_OH], t[i, R_OW], t[i, R_OC], alignment) * bpe[t[i, R_APREC]])
        start[i + 1] = i
    for i in range(n):
        for slot in range(t[i, R_NIN]):
            src = i - off[ptr[i] + slot] + 1   # tensor index: 0 is the input, i + 1 layer i's output
            end[src] = i
            consumed[src] = True
    for k in range(n + 1):
        if not consumed[k]:
            end[k] = n
    root = np.arange(n + 1)
    buf_end = end.copy()
    buf_size = size.copy()
    for i in range(n):
        k = i + 1
        first = i - off[ptr[i]] + 1
        r = root[first]
        op = t[i, R_OP]
        if op == _OP_CONCAT and t[i, R_NIN] == 1:
            pass
        elif (op == _OP_ADD or op == _OP_ACT) and size[first] == size[k] and buf_end[r] == i and r != 0:
            pass
        else:
            continue
        root[k] = r
        buf_end[r] = max(buf_end[r], end[k])
        buf_size[r] = max(buf_size[r], size[k])
    nb = 0
    for k in range(n + 1):
        if root[k] == k:
            nb += 1
    bufs = np.empty(nb, dtype=np.int64)
    nb = 0
    for k in range(n + 1):
        if root[k] == k:
            bufs[nb] = k
            nb += 1
    lower = _peak_live(buf_size[bufs], start[bufs], buf_end[bufs], n)
    # greedy by size, ties by first step then by order of appearance (a stable sort of one key)
    order = bufs[np.argsort(-buf_size[bufs] * (n + 2) + start[bufs], kind="mergesort")]
    p_off = np.empty(nb, dtype=np.int64)
    p_size = np.empty(nb, dtype=np.int64)
    p_start = np.empty(nb, dtype=np.int64)
    p_end = np.empty(nb, dtype=np.int64)
    by_off = np.empty(nb, dtype=np.int64)   # the placed buffers, by offset (ties in any order)
    peak = 0
    for q in range(nb):
        b = order[q]
        s, e, sz = start[b], buf_end[b], buf_size[b]
        # lowest offset clear of every placed buffer live at the same time: walk them by offset
        o = 0
        for idx in range(q):
            p = by_off[idx]
            if p_start[p] > e or s > p_end[p]:
                continue
            if o + sz <= p_off[p]:
                break
            if p_off[p] + p_size[p] > o:
                o = p_off[p] + p_size[p]
        p_off[q], p_size[q], p_start[q], p_end[q] = o, sz, s, e
        peak = max(peak, o + sz)
        idx = q
        while idx > 0 and p_off[by_off[idx - 1]] > o:
            by_off[idx] = by_off[idx - 1]
            idx -= 1
        by_off[idx] = q
    return peak, lower


@njit(cache=True)
def param_bytes_rows(t, bpe, alignment):
    """:func:`accelsim.workload.arena.padded_param_bytes` of the rows."""
    total = 0.0
    for i in range(t.shape[0]):
        op = t[i, R_OP]
        if op != _OP_CONV and op != _OP_CONV_T:
            continue
        out_c = -(-t[i, R_OC] // alignment) * alignment
        groups = t[i, R_GROUPS]
        per_group_in = t[i, R_IC] // groups
        in_c = -(-per_group_in // alignment) * alignment if groups == 1 else per_group_in
        elements = out_c * t[i, R_KH] * t[i, R_KW] * in_c + (out_c if t[i, R_BIAS] else 0)
        total += elements * bpe[t[i, R_WPREC]]
    return total


# ---- a stage of inverted bottlenecks, as rows (NetworkBuilder.ibn / fused_ibn / squeeze_excite) ----
@njit(cache=True)
def _row(t, n, op, h, w, c, oh, ow, oc, kh, kw, s, groups, p, d, bias, macs, nin):
    r = t[n]
    r[R_OP], r[R_IH], r[R_IW], r[R_IC], r[R_OH], r[R_OW], r[R_OC] = op, h, w, c, oh, ow, oc
    r[R_KH], r[R_KW], r[R_SH], r[R_SW], r[R_GROUPS], r[R_WPREC], r[R_APREC] = kh, kw, s, s, groups, p, p
    r[R_DH], r[R_DW], r[R_BIAS], r[R_MACS], r[R_NIN] = d, d, bias, macs, nin


@njit(cache=True)
def _conv(t, off, n, m, src, h, w, c, oc, k, s, d, groups, p):
    """Row ``n``: NetworkBuilder.conv ('same' padding d*(k//2), a bias) reading handle ``src``."""
    oh = (h + 2 * d * (k // 2) - d * (k - 1) - 1) // s + 1
    ow = (w + 2 * d * (k // 2) - d * (k - 1) - 1) // s + 1
    _row(t, n, _OP_CONV, h, w, c, oh, ow, oc, k, k, s, groups, p, d, 1, oh * ow * oc * k * k * (c // groups), 1)
    off[m] = n - src
    return oh, ow


@njit(cache=True)
def _elementwise(t, off, n, m, a, b, h, w, c, p):
    """Row ``n``: an add, or a squeeze-excite's gating mul, of handles ``a`` and ``b``."""
    _row(t, n, _OP_ADD, h, w, c, h, w, c, 1, 1, 1, 1, p, 1, 0, 0, 2)
    off[m], off[m + 1] = n - a, n - b


@njit(cache=True)
def stage_rows(ibn, k, out, stride, depth, dilation, h, w, c, mid0, mid1, squeeze0, squeeze1, p):
    """``(table, offsets)`` of ``depth`` blocks (``ibn``: 1x1 expand unless mid == c, kxk depthwise;
    else a kxk expand conv), each with a squeeze-excite of ``squeeze`` channels when > 0, a 1x1
    project and a residual add where shapes allow, on an input (h, w, c); the first block has
    expanded channels ``mid0`` and squeeze ``squeeze0`` and ``stride`` (a ``dilation`` > 1 runs every
    block at stride 1 with that dilation, and a first block whose stride it replaced has no
    residual), the others ``mid1`` and ``squeeze1``. Handle -1 is the stage's input."""
    cap = depth * 8
    t = np.zeros((cap, N_ROW_FIELDS), dtype=np.int64)
    off = np.zeros(cap * 2, dtype=np.int64)
    n = m = 0
    x = -1
    for i in range(depth):
        mid = mid0 if i == 0 else mid1
        squeeze = squeeze0 if i == 0 else squeeze1
        s = stride if (i == 0 and dilation == 1) else 1
        residual = s == 1 and c == out and not (dilation > 1 and i == 0 and stride > 1)
        y = x
        if ibn:
            if mid != c:
                _conv(t, off, n, m, y, h, w, c, mid, 1, 1, 1, 1, p)
                y, n, m = n, n + 1, m + 1
            oh, ow = _conv(t, off, n, m, y, h, w, mid, mid, k, s, dilation, mid, p)
        else:
            oh, ow = _conv(t, off, n, m, y, h, w, c, mid, k, s, dilation, 1, p)
        y, n, m = n, n + 1, m + 1
        if squeeze > 0:
            _row(t, n, _OP_POOL, oh, ow, mid, 1, 1, mid, oh, ow, 1, 1, p, 1, 0, 0, 1)
            off[m] = n - y
            n, m = n + 1, m + 1
            _conv(t, off, n, m, n - 1, 1, 1, mid, squeeze, 1, 1, 1, 1, p)
            n, m = n + 1, m + 1
            _conv(t, off, n, m, n - 1, 1, 1, squeeze, mid, 1, 1, 1, 1, p)
            n, m = n + 1, m + 1
            _elementwise(t, off, n, m, y, n - 1, oh, ow, mid, p)
            y, n, m = n, n + 1, m + 2
        _conv(t, off, n, m, y, oh, ow, mid, out, 1, 1, 1, 1, p)
        y, n, m = n, n + 1, m + 1
        if residual:
            _elementwise(t, off, n, m, x, y, oh, ow, out, p)
            y, n, m = n, n + 1, m + 2
        x, h, w, c = y, oh, ow, out
    return t[:n].copy(), off[:m].copy()


# ---- whole classifier networks as rows, a batch per call (a search's never-seen genomes) ----
# One row of ``nets`` per network and one of ``stages`` per stage, in network order:
(NET_RES, NET_STEM, NET_PREC, NET_HEAD, NET_HIDDEN, NET_CLASSES, NET_FIRST_STAGE, NET_STAGES) = range(8)
N_NET_FIELDS = 8
(STG_IBN, STG_KERNEL, STG_OUT, STG_STRIDE, STG_DEPTH, STG_MID0, STG_MID1, STG_SQUEEZE0, STG_SQUEEZE1,
 STG_PREC) = range(10)
N_STAGE_FIELDS = 10


@njit(cache=True)
def classifier_rows(nets, stages, max_dim, max_elements):
    """Rows of whole networks -- a 3x3 stride-2 stem conv of ``NET_STEM`` channels on a ``NET_RES``
    square RGB input, stages of inverted bottlenecks (:func:`stage_rows`, undilated), a 1x1 head conv
    of ``NET_HEAD`` channels (none when 0), global average pooling, a hidden linear layer of
    ``NET_HIDDEN`` outputs (none when 0) and a linear layer of ``NET_CLASSES`` -- with each
    network's engine table as :func:`pack_rows` gives it; what ``codesign.spaces.space.packed_network``
    builds for a classifier genome, a batch at a time. Returns ``(table, offsets, row_ptr, off_ptr,
    in_ptr, lay, macs, params, bad)``: network ``i`` owns rows ``row_ptr[i]:row_ptr[i + 1]``
    (``lay`` columns likewise), offsets ``off_ptr[i]:off_ptr[i + 1]`` and ``in_ptr``
    ``row_ptr[i] + i : row_ptr[i + 1] + i + 1``; ``bad[i]`` is pack_rows' first layer above the size
    limits, or ``n_layers`` when a layer's output is empty (-1: none)."""
    count = nets.shape[0]
    cap = 0
    for i in range(count):
        cap += 5
        for s in range(nets[i, NET_FIRST_STAGE], nets[i, NET_FIRST_STAGE] + nets[i, NET_STAGES]):
            cap += stages[s, STG_DEPTH] * 8
    t = np.zeros((cap, N_ROW_FIELDS), dtype=np.int64)
    off = np.zeros(cap * 2, dtype=np.int64)
    row_ptr = np.zeros(count + 1, dtype=np.int64)
    off_ptr = np.zeros(count + 1, dtype=np.int64)
    empty = np.full(count, -1, dtype=np.int64)
    n = m = 0
    for i in range(count):
        row_ptr[i], off_ptr[i] = n, m
        p = nets[i, NET_PREC]
        h = w = nets[i, NET_RES]
        c = nets[i, NET_STEM]
        h, w = _conv(t, off, n, m, n - 1, h, w, 3, c, 3, 2, 1, 1, p)   # reads the network input
        n, m = n + 1, m + 1
        for s in range(nets[i, NET_FIRST_STAGE], nets[i, NET_FIRST_STAGE] + nets[i, NET_STAGES]):
            st = stages[s]
            table, offsets = stage_rows(st[STG_IBN] == 1, st[STG_KERNEL], st[STG_OUT], st[STG_STRIDE],
                                        st[STG_DEPTH], 1, h, w, c, st[STG_MID0], st[STG_MID1], st[STG_SQUEEZE0],
                                        st[STG_SQUEEZE1], st[STG_PREC])
            k = table.shape[0]
            t[n:n + k] = table
            off[m:m + offsets.shape[0]] = offsets
            n, m = n + k, m + offsets.shape[0]
            h, w, c = t[n - 1, R_OH], t[n - 1, R_OW], t[n - 1, R_OC]
        if nets[i, NET_HEAD] > 0:
            _conv(t, off, n, m, n - 1, h, w, c, nets[i, NET_HEAD], 1, 1, 1, 1, p)
            c = nets[i, NET_HEAD]
            n, m = n + 1, m + 1
        _row(t, n, _OP_POOL, h, w, c, 1, 1, c, h, w, 1, 1, p, 1, 0, 0, 1)   # NetworkBuilder.global_avg_pool
        off[m] = 1
        n, m = n + 1, m + 1
        if nets[i, NET_HIDDEN] > 0:
            _conv(t, off, n, m, n - 1, 1, 1, c, nets[i, NET_HIDDEN], 1, 1, 1, 1, p)
            c = nets[i, NET_HIDDEN]
            n, m = n + 1, m + 1
        _conv(t, off, n, m, n - 1, 1, 1, c, nets[i, NET_CLASSES], 1, 1, 1, 1, p)
        n, m = n + 1, m + 1
        for r in range(row_ptr[i], n):
            if min(t[r, R_OH], t[r, R_OW], t[r, R_OC]) <= 0 and empty[i] < 0:
                empty[i] = r - row_ptr[i]
    row_ptr[count], off_ptr[count] = n, m
    skip = np.full(count, -1, dtype=np.int64)
    for i in range(count):
        if empty[i] >= 0:   # left to the caller's row builder, which names the layer
            skip[i] = row_ptr[i + 1] - row_ptr[i]
    in_ptr, lay, macs, params, bad = pack_batch(t, off, row_ptr, off_ptr, nets[:, NET_RES].copy(), skip, max_dim,
                                                max_elements)
    return t[:n], off[:m], row_ptr, off_ptr, in_ptr, lay, macs, params, bad


@njit(cache=True)
def pack_batch(t, off, row_ptr, off_ptr, res, skip, max_dim, max_elements):
    """``(in_ptr, lay, macs, params, bad)`` of a batch of networks, network ``i`` the rows
    ``t[row_ptr[i]:row_ptr[i + 1]]`` with offsets ``off[off_ptr[i]:off_ptr[i + 1]]`` on a ``res[i]``
    square RGB input, as :func:`classifier_rows` lays them out; network ``i`` is not packed when
    ``skip[i]`` >= 0, and ``bad[i]`` is then ``skip[i]`` (else pack_rows' first layer above the size
    limits, -1: none)."""
    count = row_ptr.shape[0] - 1
    n = row_ptr[count]
    in_ptr = np.zeros(n + count, dtype=np.int64)
    lay = np.zeros((_NL, n))
    macs = np.zeros(count, dtype=np.int64)
    params = np.zeros(count, dtype=np.int64)
    bad = np.full(count, -1, dtype=np.int64)
    for i in range(count):
        a, b = row_ptr[i], row_ptr[i + 1]
        q = a + i
        for r in range(a, b):
            in_ptr[q + r - a + 1] = in_ptr[q + r - a] + t[r, R_NIN]
        if skip[i] >= 0:
            bad[i] = skip[i]
            continue
        one, macs[i], params[i], bad[i] = pack_rows(t[a:b], in_ptr[q:q + b - a + 1], off[off_ptr[i]:off_ptr[i + 1]],
                                                    res[i], res[i], 3, max_dim, max_elements)
        lay[:, a:b] = one
    return in_ptr, lay, macs, params, bad
