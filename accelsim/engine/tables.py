"""Structure-of-arrays tables the kernels read, and the column names shared with the reference.

Layer table ``lay[field, layer]`` (float64) and hardware table ``hwt[field, config]``; per-format
hardware numbers are separate ``[format, config]`` arrays. Packing validates nothing: the wrapper
in :mod:`accelsim.engine.simulate` does that before calling a kernel.
"""

from __future__ import annotations

import numpy as np

from .. import precision as prec
from ..config import DATAFLOWS, Hardware
from ..workload.ir import OP_CODE, Network

# ---- operator codes (same numbers as accelsim.workload.ir.OP_CODE) ----
OP_CONV, OP_POOL, OP_ADD, OP_ACT, OP_CONCAT, OP_UPSAMPLE, OP_MATMUL = (
    OP_CODE[k] for k in ("conv", "pool", "add", "act", "concat", "upsample", "matmul"))
DF_OS, DF_WS, DF_IS = 0, 1, 2

# ---- layer table rows ----
(L_OP, L_IN_H, L_IN_W, L_IN_C, L_OUT_H, L_OUT_W, L_OUT_C, L_KH, L_KW, L_SH, L_SW, L_GROUPS,
 L_WPREC, L_APREC, L_FILTER_ELEMS, L_IN_FACTOR, L_OPS_PER_OUT) = range(17)
N_LAYER_FIELDS = 17

# ---- hardware table rows ----
(H_ROWS, H_COLS, H_DATAFLOW, H_LANES, H_UNIFIED, H_IFMAP_B, H_FILTER_B, H_OFMAP_B, H_UNIFIED_B,
 H_BW, H_LAT, H_E_VEC, H_E_SRAM, H_E_DRAM, H_STATIC_PJ) = range(15)
N_HW_FIELDS = 15

# ---- per-layer output rows ----
(O_COMPUTE, O_STALL, O_TOTAL, O_OPS, O_UNIT, O_UTIL, O_SRAM_R, O_SRAM_W, O_DRAM_R, O_DRAM_W,
 O_ENERGY, O_TILES, O_FOLDS, O_STATUS, O_ARRAY_CYCLES, O_VECTOR_CYCLES, O_MAP_EFF) = range(17)
N_OUT_FIELDS = 17
OUT_NAMES = ("compute_cycles", "stall_cycles", "total_cycles", "ops", "unit", "utilization",
             "sram_read_bytes", "sram_write_bytes", "dram_read_bytes", "dram_write_bytes", "energy_pj",
             "tiles", "folds", "status", "array_cycles", "vector_cycles", "mapping_efficiency")

UNIT_NONE, UNIT_ARRAY, UNIT_VECTOR = 0, 1, 2
UNIT_NAMES = ("none", "array", "vector")
STATUS_OK, STATUS_NO_TILING, STATUS_NO_UNIT = 0, 1, 2

PRECISION_BYTES = np.array([prec.BYTES_PER_ELEMENT[n] for n in prec.NAMES], dtype=np.float64)


def _ops_per_output(layer) -> float:
    """Vector-unit operations per output element (depthwise taps, pool window, adds...)."""
    kh, kw = layer.kernel
    if layer.op == "conv":
        return kh * kw * (layer.in_channels // layer.groups)
    if layer.op in ("pool", "upsample"):
        return kh * kw
    if layer.op == "add":
        return max(1, len(layer.inputs) - 1)
    return 1.0


def pack_network(net: Network, shapes: dict | None = None) -> np.ndarray:
    """One column per layer; the network's tensor shapes resolve extra inputs (add, matmul)."""
    out_shape = {"input": net.input_shape}
    for layer in net.layers:
        out_shape[layer.name] = layer.out_shape
    lay = np.zeros((N_LAYER_FIELDS, len(net.layers)), dtype=np.float64)
    for i, layer in enumerate(net.layers):
        ih, iw, ic = layer.in_shape
        oh, ow, oc = layer.out_shape
        kh, kw = layer.kernel
        sh, sw = layer.stride
        first = ih * iw * ic
        if layer.op == "matmul":
            b = out_shape[layer.inputs[1]]
            filt, factor = b[0] * b[1] * b[2], 1.0
        else:
            filt = layer.weight_elements
            extra = sum(_prod(out_shape[s]) for s in layer.inputs[1:]) if layer.op == "add" else 0
            factor = 1.0 + extra / first
        lay[:, i] = (OP_CODE[layer.op], ih, iw, ic, oh, ow, oc, kh, kw, sh, sw, layer.groups,
                     prec.INDEX[layer.weight_precision], prec.INDEX[layer.act_precision], filt, factor,
                     _ops_per_output(layer))
    return lay


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def pack_hardware(hws) -> tuple:
    """Returns (hwt, macs_per_pe[fmt, hw], vector_ops[fmt, hw], energy_per_mac[fmt, hw])."""
    n = len(hws)
    hwt = np.zeros((N_HW_FIELDS, n), dtype=np.float64)
    macs = np.zeros((prec.COUNT, n), dtype=np.float64)
    vops = np.zeros((prec.COUNT, n), dtype=np.float64)
    emac = np.zeros((prec.COUNT, n), dtype=np.float64)
    for j, hw in enumerate(hws):
        s = hw.sram
        kb = 1024.0
        hwt[:, j] = (hw.array.rows, hw.array.cols, DATAFLOWS.index(hw.array.dataflow), hw.vector.lanes,
                     1.0 if s.unified else 0.0,
                     (s.ifmap_kb or 0) * kb, (s.filter_kb or 0) * kb, (s.ofmap_kb or 0) * kb,
                     (s.unified_kb or 0) * kb, hw.dram_bytes_per_cycle, hw.dram_latency_cycles,
                     hw.vector.energy_per_op_pj, s.energy_per_byte_pj, hw.dram.energy_per_byte_pj,
                     hw.static_power_mw * 1e3 / hw.array.clock_mhz)
        for p in hw.precisions:
            macs[prec.INDEX[p.name], j] = p.macs_per_pe_per_cycle
            emac[prec.INDEX[p.name], j] = p.energy_per_mac_pj
        if hw.vector.lanes:
            for name, v in hw.vector.ops_per_lane_per_cycle:
                vops[prec.INDEX[name], j] = v
    return hwt, macs, vops, emac


def hardware_table_for(hw: Hardware):
    return pack_hardware([hw])
