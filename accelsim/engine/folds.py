"""The compute model's formulas, written once for two callers: SCALE-Sim's fold and cycle counts,
the vector unit's cycles, which unit can run a layer in its formats, and the array's SRAM traffic.

The bodies below are plain Python over arithmetic, comparisons and numpy ufuncs (``np.ceil``,
``np.maximum``, ``np.logical_and``, ...), so the same source runs two ways:
:mod:`accelsim.engine.kernels` compiles them with numba for one layer on one config (scalars), and
``codesign.estimator.features`` calls them on numpy arrays of thousands of (layer, config) rows
(:func:`array_folds_rows` and :func:`sram_traffic_rows` for a dataflow per row). Counts are
whole-valued floats (a ceiling is a float, not an int), exact below 2**53, so both give the same bits.

``accelsim.engine.reference`` restates the model independently (walking the fold grid) to check it.
"""

from __future__ import annotations

import numpy as np

from .tables import DF_IS, DF_OS, DF_WS, OP_CONV, OP_CONV_T, OP_MATMUL


def array_folds(dataflow, rows, cols, k_red, pixels, m, groups, macs_per_pe):
    """SCALE-Sim's folds of ``groups`` GEMMs, each (pixels x k_red) @ (k_red x m), on a rows x cols
    array for one ``dataflow`` (a number; ``DF_WS`` for any code other than OS and IS).

    A PE doing ``macs_per_pe`` MACs per cycle packs that many elements of the reduction: K =
    ceil(k_red / macs_per_pe). OS: Sr=P, Sc=M, T=K; WS: Sr=K, Sc=M, T=P; IS: Sr=K, Sc=P, T=M. A fold
    takes R+C+T-2 cycles (OS) or 2R+C+T-2 (WS, IS); SCALE-Sim reports folds * per_fold - 1.

    Returns (cycles, folds, mapping efficiency, row folds, column folds, cycles per fold); the
    efficiency of no folds at all (an empty GEMM) is 0."""
    k = np.ceil(k_red / macs_per_pe)
    if dataflow == DF_OS:
        sr, sc, t = pixels, m, k
        per_fold = rows + cols + t - 2
    elif dataflow == DF_IS:
        sr, sc, t = k, pixels, m
        per_fold = 2 * rows + cols + t - 2
    else:
        sr, sc, t = k, m, pixels
        per_fold = 2 * rows + cols + t - 2
    fold_r = np.ceil(sr / rows)
    fold_c = np.ceil(sc / cols)
    folds = fold_r * fold_c * groups
    eff = sr * sc * groups / np.maximum(folds * rows * cols, 1.0)
    return folds * per_fold - 1.0, folds, eff, fold_r, fold_c, per_fold


def vector_cycles(lanes, ops_per_lane, channels, pixels, ops_per_output):
    """Vector-unit cycles: channels spread across lanes; each output needs ``ops_per_output`` lane-ops."""
    return np.ceil(channels / lanes) * pixels * np.ceil(ops_per_output / ops_per_lane)


def runnable_units(op, groups, in_c, macs_w, macs_a, vops_w, vops_a, lanes):
    """Which unit can run a layer in its formats: (on the MAC array, on the vector unit).

    ``macs_w`` / ``macs_a``: the array's MACs per PE per cycle in the layer's weight / activation
    format, ``vops_w`` / ``vops_a`` the vector unit's ops per lane per cycle in them (0 for a format
    the config lacks). The array runs convolutions and matmuls when it has both formats; the vector
    unit runs depthwise convolutions and every operator but conv and matmul when it has lanes and the
    activation format (and, for a convolution, the weight format too). A transposed conv runs on the
    array only (as the dense conv over its zero-inserted input). A layer neither can run is the
    engine's ``STATUS_NO_UNIT``."""
    conv = op == OP_CONV
    gemm = np.logical_or(np.logical_or(conv, op == OP_MATMUL), op == OP_CONV_T)
    depthwise = np.logical_and(conv, np.logical_and(groups > 1, groups == in_c))
    array = np.logical_and(gemm, np.logical_and(macs_w > 0, macs_a > 0))
    formats = np.logical_and(vops_a > 0, np.logical_or(vops_w > 0, np.logical_not(conv)))
    vector = np.logical_and(np.logical_or(depthwise, np.logical_not(gemm)), np.logical_and(lanes > 0, formats))
    return array, vector


def sram_traffic(dataflow, rows, cols, k_red, pixels, m, groups, macs_per_pe, ab, fb):
    """Array-side SRAM (read, write) bytes of ``groups`` GEMMs, each (pixels x k_red) @ (k_red x m),
    on a rows x cols array for one ``dataflow`` (``DF_WS`` for any code other than OS and IS);
    ``ab`` / ``fb``: bytes per activation / weight element. WS and IS make ``ceil(K / rows)`` passes
    over the reduction (K as in :func:`array_folds`), each but the first re-reading the partial sums."""
    k = np.ceil(k_red / macs_per_pe)
    if dataflow == DF_OS:
        reads = pixels * k_red * np.ceil(m / cols) * ab + m * k_red * np.ceil(pixels / rows) * fb
        writes = pixels * m * ab
    elif dataflow == DF_IS:
        passes = np.ceil(k / rows)
        reads = k_red * pixels * ab + m * k_red * np.ceil(pixels / cols) * fb + pixels * m * (passes - 1) * ab
        writes = pixels * m * passes * ab
    else:
        passes = np.ceil(k / rows)
        reads = k_red * m * fb + pixels * k_red * np.ceil(m / cols) * ab + pixels * m * (passes - 1) * ab
        writes = pixels * m * passes * ab
    return reads * groups, writes * groups


def array_folds_rows(dataflow, rows, cols, k_red, pixels, m, groups, macs_per_pe) -> tuple:
    """:func:`array_folds` on numpy arrays (broadcast to one shape) with a dataflow code per row:
    the same six arrays, each row computed for its own dataflow."""
    return _per_dataflow(array_folds, 6, dataflow, rows, cols, k_red, pixels, m, groups, macs_per_pe)


def sram_traffic_rows(dataflow, rows, cols, k_red, pixels, m, groups, macs_per_pe, ab, fb) -> tuple:
    """:func:`sram_traffic` on numpy arrays (broadcast to one shape) with a dataflow code per row:
    (read bytes, write bytes), each row computed for its own dataflow."""
    return _per_dataflow(sram_traffic, 2, dataflow, rows, cols, k_red, pixels, m, groups, macs_per_pe, ab, fb)


def _per_dataflow(formula, n_out, dataflow, *args) -> tuple:
    """``formula(code, *args)`` (``n_out`` results) on numpy arrays broadcast to one shape, the rows
    of each dataflow code computed together (a code other than OS and IS is WS, as in the kernel)."""
    dataflow, *args = np.broadcast_arrays(np.asarray(dataflow), *args)
    args = [np.asarray(a, dtype=np.float64) for a in args]
    out = tuple(np.zeros(dataflow.shape) for _ in range(n_out))
    os_, is_ = dataflow == DF_OS, dataflow == DF_IS
    for code, sel in ((DF_OS, os_), (DF_IS, is_), (DF_WS, ~(os_ | is_))):
        if sel.any():
            for whole, part in zip(out, formula(code, *(a[sel] for a in args))):
                whole[sel] = part
    return out
