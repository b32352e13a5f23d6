"""NAS-Bench-201 networks as rows, a batch per compiled call: what
:func:`accelsim.workload.nb201.nb201_network` gives with ``form="traced", rows=True`` (the zoo model,
as a torch.fx trace of ``NB201Net`` lowers), without writing the operator list in Python.

Each network goes through the same three steps as :func:`accelsim.workload.lowering.lower`, on
integer arrays instead of ``Op`` objects:

1. the operator list the trace records (stem conv + BN; per cell, per edge in arch order a
   ReLU-conv-BN, an average pool or an identity, 'none' edges adding nothing, an all-'none' node a
   multiply by 0 of the cell input, each node's sum a chain of two-input adds; the residual reduction
   blocks; head BN, ReLU, global pool, flatten, linear);
2. identities resolved to their input and a ReLU of a tensor already ReLU'd resolved to the first
   one (across cells too: a cell whose output is an earlier tensor shares that tensor's ReLUs);
3. a batch norm folded into the conv before it when that conv's output has one user and nothing
   folded or fused yet (the conv gets a bias), a ReLU fused into the conv/linear/add before it when
   its input has one user and that layer has no activation yet; everything else one row each.

``tests/test_packed_rows.py`` checks the rows equal the lowering's, field for field and offset for
offset, on random cells (all 15,625 in the slow suite), with the JIT on and off.
"""

from __future__ import annotations

import numpy as np

from ..workload.rowfields import N_ROW_FIELDS, R_NIN
from ._numba import njit
from . import tables as T
from .rows import _row, pack_batch

_OP_CONV, _OP_POOL, _OP_ADD, _OP_ACT = T.OP_CONV, T.OP_POOL, T.OP_ADD, T.OP_ACT

# operator kinds of the traced graph
_CONV, _BN, _RELU, _POOL, _ADD, _ZERO, _IDENT, _VIEW, _LINEAR = range(9)
# graph columns: kind, first and second input (-1: the network input), output shape, kernel (kh, kw),
# stride, bias
_G_KIND, _G_A, _G_B, _G_H, _G_W, _G_C, _G_KH, _G_KW, _G_S, _G_BIAS = range(10)
_G_FIELDS = 10
# the cell's edges (to node j, from node i) in arch order, and the op indices of NB201_OPS
_EDGE_TO = (1, 2, 2, 3, 3, 3)
_EDGE_FROM = (0, 0, 1, 0, 1, 2)
_NONE, _SKIP, _CONV1, _CONV3, _POOL3 = range(5)


@njit(cache=True)
def _shape(g, v, res):
    if v < 0:
        return res, res, 3
    return g[v, _G_H], g[v, _G_W], g[v, _G_C]


@njit(cache=True)
def _put(g, n, kind, a, b, h, w, c, kh, kw, s, bias):
    r = g[n]
    r[_G_KIND], r[_G_A], r[_G_B], r[_G_H], r[_G_W], r[_G_C] = kind, a, b, h, w, c
    r[_G_KH], r[_G_KW], r[_G_S], r[_G_BIAS] = kh, kw, s, bias
    return n + 1


@njit(cache=True)
def _conv_op(g, n, x, res, cout, k, s, bias):
    h, w, _ = _shape(g, x, res)
    p = (k - 1) // 2
    return _put(g, n, _CONV, x, -1, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1, cout, k, k, s, bias)


@njit(cache=True)
def _unary(g, n, kind, x, res):
    h, w, c = _shape(g, x, res)
    return _put(g, n, kind, x, -1, h, w, c, 1, 1, 1, 0)


@njit(cache=True)
def _relu_conv_bn(g, n, x, res, cout, k, s):
    n = _unary(g, n, _RELU, x, res)
    n = _conv_op(g, n, n - 1, res, cout, k, s, 0)
    return _unary(g, n, _BN, n - 1, res)


@njit(cache=True)
def _add_op(g, n, a, b, res):
    h, w, c = _shape(g, a, res)
    return _put(g, n, _ADD, a, b, h, w, c, 1, 1, 1, 0)


@njit(cache=True)
def _graph(g, ops, channels, cells, classes, res):
    """Writes the traced operator list of one network into ``g``; returns its length."""
    n = _conv_op(g, 0, -1, res, channels, 3, 1, 0)   # stem
    n = _unary(g, n, _BN, n - 1, res)
    x, c = n - 1, channels
    states = np.zeros(4, dtype=np.int64)
    terms = np.zeros(3, dtype=np.int64)
    for stage in range(3):
        if stage:   # residual reduction block
            n = _relu_conv_bn(g, n, x, res, 2 * c, 3, 2)
            n = _relu_conv_bn(g, n, n - 1, res, 2 * c, 3, 1)
            b = n - 1
            h, w, _ = _shape(g, x, res)
            n = _put(g, n, _POOL, x, -1, h // 2, w // 2, c, 2, 2, 2, 0)
            n = _conv_op(g, n, n - 1, res, 2 * c, 1, 1, 0)
            n = _add_op(g, n, b, n - 1, res)
            x, c = n - 1, 2 * c
        for _ in range(cells):
            states[0] = x
            for j in range(1, 4):
                nt = 0
                for e in range(6):
                    if _EDGE_TO[e] != j:
                        continue
                    op, src = ops[e], states[_EDGE_FROM[e]]
                    if op == _NONE:
                        continue
                    if op == _SKIP:
                        n = _unary(g, n, _IDENT, src, res)
                    elif op == _POOL3:
                        h, w, cc = _shape(g, src, res)
                        n = _put(g, n, _POOL, src, -1, h, w, cc, 3, 3, 1, 0)
                    else:
                        n = _relu_conv_bn(g, n, src, res, c, 1 if op == _CONV1 else 3, 1)
                    terms[nt] = n - 1
                    nt += 1
                if nt == 0:   # every input edge is 'none': states[0] * 0
                    n = _unary(g, n, _ZERO, states[0], res)
                    terms[0], nt = n - 1, 1
                s = terms[0]   # the node's sum: a chain of two-input adds, after its edges
                for q in range(1, nt):
                    n = _add_op(g, n, s, terms[q], res)
                    s = n - 1
                states[j] = s
            x = states[3]
    n = _unary(g, n, _BN, x, res)   # head
    n = _unary(g, n, _RELU, n - 1, res)
    h, w, _ = _shape(g, n - 1, res)
    n = _put(g, n, _POOL, n - 1, -1, 1, 1, c, h, w, 1, 0)
    n = _unary(g, n, _VIEW, n - 1, res)
    return _put(g, n, _LINEAR, n - 1, -1, 1, 1, classes, 1, 1, 1, 1)


@njit(cache=True)
def _lower(g, n, res, p, t, off, r0, m0):
    """Rows of graph ``g[:n]`` from row ``r0`` and offset ``m0`` of ``t``/``off``; returns the next
    row and offset, or (-1, -1) where the lowering would refuse the graph (an empty output, an add of
    two shapes), for the caller's row builder to name."""
    alias = np.arange(n)
    kept = np.ones(n, dtype=np.bool_)
    relu_of = np.full(n + 1, -1, dtype=np.int64)   # by input + 1: the first ReLU of that tensor
    for i in range(n):
        k = g[i, _G_KIND]
        a = g[i, _G_A]
        if a >= 0:
            a = alias[a]
            g[i, _G_A] = a
        if k == _ADD:
            b = alias[g[i, _G_B]]
            g[i, _G_B] = b
        if k == _IDENT:
            alias[i], kept[i] = a, False
        elif k == _RELU:
            if relu_of[a + 1] >= 0:
                alias[i], kept[i] = relu_of[a + 1], False
            else:
                relu_of[a + 1] = i
    users = np.zeros(n + 1, dtype=np.int64)   # by value + 1
    for i in range(n):
        if kept[i]:
            users[g[i, _G_A] + 1] += 1
            if g[i, _G_KIND] == _ADD:
                users[g[i, _G_B] + 1] += 1
    users[alias[n - 1] + 1] += 1   # the network output
    owner = np.full(n, -1, dtype=np.int64)
    has_act = np.zeros(n, dtype=np.bool_)
    has_bn = np.zeros(n, dtype=np.bool_)
    folded = np.zeros(n, dtype=np.bool_)
    bias = g[:n, _G_BIAS].copy()
    for i in range(n):
        if not kept[i]:
            continue
        k, a = g[i, _G_KIND], g[i, _G_A]
        if k == _CONV or k == _LINEAR or k == _ADD:
            owner[i] = i
        elif k == _BN or k == _RELU:
            src = owner[a] if a >= 0 else -1
            if src < 0 or users[a + 1] != 1 or has_act[src]:
                continue
            if k == _BN:
                if g[src, _G_KIND] == _ADD or has_bn[src]:
                    continue
                bias[src], has_bn[src] = 1, True
            else:
                has_act[src] = True
            owner[i], folded[i] = src, True
    handle = np.full(n, -1, dtype=np.int64)
    r, m = r0, m0
    for i in range(n):
        if not kept[i]:
            continue
        k, a = g[i, _G_KIND], g[i, _G_A]
        ha = handle[a] if a >= 0 else r0 - 1   # the input sits just before the first row
        if folded[i] or k == _VIEW:
            handle[i] = ha
            continue
        ih, iw, ic = _shape(g, a, res)
        oh, ow, oc = g[i, _G_H], g[i, _G_W], g[i, _G_C]
        if oh <= 0 or ow <= 0 or oc <= 0:
            return -1, -1
        kh, kw, s = g[i, _G_KH], g[i, _G_KW], g[i, _G_S]
        if k == _CONV or k == _LINEAR:
            _row(t, r, _OP_CONV, ih, iw, ic, oh, ow, oc, kh, kw, s, 1, p, 1, bias[i], oh * ow * oc * kh * kw * ic, 1)
        elif k == _POOL:
            _row(t, r, _OP_POOL, ih, iw, ic, oh, ow, oc, kh, kw, s, 1, p, 1, 0, 0, 1)
        elif k == _ADD:
            b = g[i, _G_B]
            bh, bw, bc = _shape(g, b, res)
            if bh != ih or bw != iw or bc != ic:
                return -1, -1
            _row(t, r, _OP_ADD, ih, iw, ic, oh, ow, oc, 1, 1, 1, 1, p, 1, 0, 0, 2)
            off[m + 1] = r - (handle[b] if b >= 0 else r0 - 1)
        else:   # a standalone batch norm, ReLU or multiply by 0
            _row(t, r, _OP_ACT, ih, iw, ic, oh, ow, oc, 1, 1, 1, 1, p, 1, 0, 0, 1)
        off[m] = r - ha
        handle[i] = r
        r, m = r + 1, m + t[r, R_NIN]
    return r, m


@njit(cache=True)
def nb201_rows(ops, channels, cells, classes, res, p, max_dim, max_elements):
    """Rows of the NB201 networks of the cells ``ops[i]`` (six op indices into ``NB201_OPS`` each, in
    arch order), all with ``channels``, ``cells`` per stage, ``classes`` outputs, a ``res`` square RGB
    input and precision index ``p``. Returns what :func:`accelsim.engine.rows.classifier_rows` returns:
    ``(table, offsets, row_ptr, off_ptr, in_ptr, lay, macs, params, bad)``; ``bad[i]`` >= 0 marks a
    network the caller's row builder must build (and name the failing layer of)."""
    count = ops.shape[0]
    cap = 2 + 2 * 9 + 3 * cells * 24 + 5
    g = np.zeros((cap, _G_FIELDS), dtype=np.int64)
    size = count * 128   # rows; grown when a batch needs more (a typical network has about 120)
    t = np.empty((size, N_ROW_FIELDS), dtype=np.int64)
    off = np.empty(size * 2, dtype=np.int64)
    row_ptr = np.zeros(count + 1, dtype=np.int64)
    off_ptr = np.zeros(count + 1, dtype=np.int64)
    bad = np.full(count, -1, dtype=np.int64)
    n = m = 0
    for i in range(count):
        row_ptr[i], off_ptr[i] = n, m
        k = _graph(g, ops[i], channels, cells, classes, res)
        if n + k > size:   # room for every operator as a row
            size = max(2 * size, n + k)
            t2 = np.empty((size, N_ROW_FIELDS), dtype=np.int64)
            t2[:n] = t[:n]
            off2 = np.empty(size * 2, dtype=np.int64)
            off2[:m] = off[:m]
            t, off = t2, off2
        n2, m2 = _lower(g, k, res, p, t, off, n, m)
        if n2 < 0:
            bad[i] = 0
        else:
            n, m = n2, m2
    row_ptr[count], off_ptr[count] = n, m
    t, off = t[:n].copy(), off[:m].copy()
    in_ptr, lay, macs, params, bad = pack_batch(t, off, row_ptr, off_ptr, np.full(count, res, dtype=np.int64), bad,
                                                max_dim, max_elements)
    return t, off, row_ptr, off_ptr, in_ptr, lay, macs, params, bad
