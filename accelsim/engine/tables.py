"""Structure-of-arrays tables the kernels read, and the column names shared with the reference.

Layer table ``lay[field, layer]`` (float64) and hardware table ``hwt[field, config]``; per-format
hardware numbers are separate ``[format, config]`` arrays. Packing validates nothing: the wrapper
in :mod:`accelsim.engine.simulate` does that before calling a kernel.
"""

from __future__ import annotations

import numpy as np

from .. import precision as prec
from ..config import DATAFLOWS, KINDS, OP_CLASSES
from ..workload.ir import OP_CODE, Network

# ---- operator codes (same numbers as accelsim.workload.ir.OP_CODE) ----
OP_CONV, OP_POOL, OP_ADD, OP_ACT, OP_CONCAT, OP_UPSAMPLE, OP_MATMUL, OP_CONV_T = (
    OP_CODE[k] for k in ("conv", "pool", "add", "act", "concat", "upsample", "matmul", "conv_transpose"))
DF_OS, DF_WS, DF_IS = 0, 1, 2

# ---- layer table rows ----
# The last eight give the layer's dilated kernel extent (for input halos) and its place in the DAG
# (for activation placement), relative to the layer itself so that equal operators in equal
# surroundings pack equally: SRC0/SRC1 are how many layers back the first/second input was
# produced (0: the network input, or an operand placement does not track, which comes from DRAM);
# LAST_USE is how many layers later the output is last read (to the end of the network for outputs).
(L_OP, L_IN_H, L_IN_W, L_IN_C, L_OUT_H, L_OUT_W, L_OUT_C, L_KH, L_KW, L_SH, L_SW, L_GROUPS,
 L_WPREC, L_APREC, L_FILTER_ELEMS, L_IN_FACTOR, L_OPS_PER_OUT,
 L_KH_EXT, L_KW_EXT, L_SRC0, L_SRC1, L_IN0_SHARE, L_LAST_USE, L_N_CONSUMERS, L_RESIDENT_OK) = range(25)
N_LAYER_FIELDS = 25

# ---- hardware table rows ----
# The first N_HW_FIELDS rows are the systolic model's (the estimator's features read exactly these);
# the rows after them hold the config's kind, its calibration and the roofline model's numbers.
(H_ROWS, H_COLS, H_DATAFLOW, H_LANES, H_UNIFIED, H_IFMAP_B, H_FILTER_B, H_OFMAP_B, H_UNIFIED_B,
 H_BW, H_LAT, H_E_VEC, H_E_SRAM, H_E_DRAM, H_STATIC_PJ, H_POLICY, H_WEIGHTS_RESIDENT, H_ALIGN) = range(18)
N_HW_FIELDS = 18
POLICY_DRAM, POLICY_RESIDENT, POLICY_FUSED = 0, 1, 2
POLICIES = ("dram", "resident", "fused")
# H_OVERHEAD + class: cycles added to every layer of an op class that runs; H_EFF + class: the
# calibration efficiency of an op class; H_CACHE_B, H_HALF_OUTPUTS: the roofline cache (bytes) and
# efficiency curve; H_PEAK + class x formats + format: a roofline device's peak ops per cycle.
H_KIND, H_OVERHEAD, H_EFF, H_CACHE_B, H_HALF_OUTPUTS, H_PEAK = 18, 19, 22, 25, 26, 27
KIND_SYSTOLIC, KIND_ROOFLINE = 0, 1
CLASS_DENSE, CLASS_DEPTHWISE, CLASS_ELEMENTWISE = 0, 1, 2   # the order of config.OP_CLASSES
N_FORMATS = prec.COUNT
N_HW_ROWS = H_PEAK + len(OP_CLASSES) * N_FORMATS

# ---- per-layer output rows ----
(O_COMPUTE, O_STALL, O_TOTAL, O_OPS, O_UNIT, O_UTIL, O_SRAM_R, O_SRAM_W, O_DRAM_R, O_DRAM_W,
 O_ENERGY, O_TILES, O_FOLDS, O_STATUS, O_ARRAY_CYCLES, O_VECTOR_CYCLES, O_MAP_EFF,
 O_INPUT_ON_CHIP, O_OUTPUT_ON_CHIP, O_WEIGHTS_ON_CHIP, O_FUSED_CHAIN, O_FUSE_MODE) = range(22)
N_OUT_FIELDS = 22
OUT_NAMES = ("compute_cycles", "stall_cycles", "total_cycles", "ops", "unit", "utilization",
             "sram_read_bytes", "sram_write_bytes", "dram_read_bytes", "dram_write_bytes", "energy_pj",
             "tiles", "folds", "status", "array_cycles", "vector_cycles", "mapping_efficiency",
             "input_on_chip", "output_on_chip", "weights_on_chip", "fused_chain", "fuse_mode")
# fuse_mode: what a fused chain does with the halo its kxk layers' neighbouring tiles share (see
# accelsim.engine.kernels): "cache" keeps it on chip (full-width halo lines between row bands, halo
# columns between the tiles of a band), "recompute" recomputes it for every tile, "recompute_rows"
# keeps the halo columns within a band but recomputes the halo rows between bands.
FUSE_NONE, FUSE_CACHE, FUSE_RECOMPUTE, FUSE_RECOMPUTE_ROWS = 0, 1, 2, 3
FUSE_MODES = ("", "cache", "recompute", "recompute_rows")

UNIT_NONE, UNIT_ARRAY, UNIT_VECTOR = 0, 1, 2
UNIT_NAMES = ("none", "array", "vector")
STATUS_OK, STATUS_NO_TILING, STATUS_NO_UNIT = 0, 1, 2

PRECISION_BYTES = np.array([prec.BYTES_PER_ELEMENT[n] for n in prec.NAMES], dtype=np.float64)


def _ops_per_output(layer) -> float:
    """Operations per output element: MACs for conv and matmul (depthwise taps on the vector unit),
    the pool window, the adds of an element-wise sum... A transposed conv's useful MACs are not the
    same at every output pixel (some taps meet inserted zeros), so it stores their mean, a fraction
    the kernel multiplies back and rounds to the whole count."""
    kh, kw = layer.kernel
    if layer.op == "conv_transpose":
        return layer.macs / layer.output_elements
    if layer.op == "conv":
        return kh * kw * (layer.in_channels // layer.groups)
    if layer.op == "matmul":
        return layer.in_channels
    if layer.op in ("pool", "upsample"):
        return kh * kw
    if layer.op == "add":
        return max(1, len(layer.inputs) - 1)
    return 1.0


# Consumers that read a tensor through their ifmap tiles, so that the tensor may stay on chip for
# them: the first operand of anything but a concat/reshape view, and the second operand of a
# two-input element-wise add or multiply. (A matmul's second operand streams as its filter.)
def _reads_via_ifmap(layer, slot: int) -> bool:
    if layer.op == "concat":
        return False
    if slot == 0:
        return True
    return slot == 1 and layer.op == "add" and len(layer.inputs) == 2


def pack_network(net: Network, shapes: dict | None = None) -> np.ndarray:
    """One column per layer; the network's tensor shapes resolve extra inputs (add, matmul)."""
    out_shape = {"input": net.input_shape}
    index = {}
    for i, layer in enumerate(net.layers):
        out_shape[layer.name] = layer.out_shape
        index[layer.name] = i
    n = len(net.layers)
    last_use = np.full(n, -1, dtype=np.int64)
    consumers = np.zeros(n, dtype=np.int64)
    via_ifmap = np.ones(n, dtype=bool)
    for i, layer in enumerate(net.layers):
        for slot, src in enumerate(layer.inputs):
            j = index.get(src)
            if j is None:
                continue
            last_use[j] = i
            consumers[j] += 1
            via_ifmap[j] &= _reads_via_ifmap(layer, slot)
    lay = np.zeros((N_LAYER_FIELDS, n), dtype=np.float64)
    for i, layer in enumerate(net.layers):
        ih, iw, ic = layer.in_shape
        oh, ow, oc = layer.out_shape
        kh, kw = layer.kernel
        sh, sw = layer.stride
        dh, dw = getattr(layer, "dilation", (1, 1))
        first = ih * iw * ic
        if layer.op == "matmul":
            b = out_shape[layer.inputs[1]]
            filt, factor = b[0] * b[1] * b[2], 1.0
        else:
            filt = layer.weight_elements
            extra = sum(_prod(out_shape[s]) for s in layer.inputs[1:]) if layer.op == "add" else 0
            factor = 1.0 + extra / first
        src0 = i - index[layer.inputs[0]] if layer.inputs[0] in index else 0
        src1 = i - index[layer.inputs[1]] if len(layer.inputs) == 2 and layer.op == "add" and \
            layer.inputs[1] in index else 0
        if layer.op == "add":
            sizes = [_prod(out_shape[s]) for s in layer.inputs]
            share0 = sizes[0] / sum(sizes)
        else:
            share0 = 1.0
        resident_ok = consumers[i] > 0 and via_ifmap[i] and layer.op != "concat"
        lay[:, i] = (OP_CODE[layer.op], ih, iw, ic, oh, ow, oc, kh, kw, sh, sw, layer.groups,
                     prec.INDEX[layer.weight_precision], prec.INDEX[layer.act_precision], filt, factor,
                     _ops_per_output(layer), dh * (kh - 1) + 1, dw * (kw - 1) + 1, src0, src1, share0,
                     (last_use[i] if consumers[i] else n) - i, consumers[i], 1.0 if resident_ok else 0.0)
    return lay


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def pack_hardware(hws) -> tuple:
    """Returns (hwt, macs_per_pe[fmt, hw], vector_ops[fmt, hw], energy_per_mac[fmt, hw],
    bytes_per_element[fmt, hw]); formats a config lacks keep the default storage size. A roofline
    config fills only the DRAM, energy and budget rows of the systolic part (no MACs per PE, no vector
    ops) and its own rows; its ``energy_per_mac`` entry is the energy of one op."""
    n = len(hws)
    hwt = np.zeros((N_HW_ROWS, n), dtype=np.float64)
    macs = np.zeros((prec.COUNT, n), dtype=np.float64)
    vops = np.zeros((prec.COUNT, n), dtype=np.float64)
    emac = np.zeros((prec.COUNT, n), dtype=np.float64)
    pbytes = np.repeat(PRECISION_BYTES[:, None], n, axis=1)
    for j, hw in enumerate(hws):
        _pack_kind_rows(hwt[:, j], hw)
        if hw.kind == "roofline":
            hwt[H_BW, j], hwt[H_E_DRAM, j] = hw.dram_bytes_per_cycle, hw.dram.energy_per_byte_pj
            hwt[H_STATIC_PJ, j], hwt[H_ALIGN, j] = hw.static_power_mw * 1e3 / hw.clock_mhz, 1.0
            for p in hw.precisions:
                emac[prec.INDEX[p.name], j] = p.energy_per_op_pj
                pbytes[prec.INDEX[p.name], j] = p.bytes_per_element
            continue
        s = hw.sram
        kb = 1024.0
        hwt[:N_HW_FIELDS, j] = (hw.array.rows, hw.array.cols, DATAFLOWS.index(hw.array.dataflow), hw.vector.lanes,
                     1.0 if s.unified else 0.0,
                     (s.ifmap_kb or 0) * kb, (s.filter_kb or 0) * kb, (s.ofmap_kb or 0) * kb,
                     (s.unified_kb or 0) * kb, hw.dram_bytes_per_cycle, hw.dram_latency_cycles,
                     hw.vector.energy_per_op_pj, s.energy_per_byte_pj, hw.dram.energy_per_byte_pj,
                     hw.static_power_mw * 1e3 / hw.array.clock_mhz,
                     POLICIES.index(getattr(hw, "activation_policy", "dram")),
                     1.0 if getattr(hw, "weights_resident", False) else 0.0,
                     float(getattr(hw, "channel_alignment", 1)))
        for p in hw.precisions:
            macs[prec.INDEX[p.name], j] = p.macs_per_pe_per_cycle
            emac[prec.INDEX[p.name], j] = p.energy_per_mac_pj
            pbytes[prec.INDEX[p.name], j] = p.bytes_per_element
        if hw.vector.lanes:
            for name, v in hw.vector.ops_per_lane_per_cycle:
                vops[prec.INDEX[name], j] = v
    return hwt, macs, vops, emac, pbytes



def _pack_kind_rows(col: np.ndarray, hw) -> None:
    """The rows after the systolic ones: kind, calibration, and a roofline device's numbers."""
    col[H_KIND] = KINDS.index(hw.kind)
    for c, name in enumerate(OP_CLASSES):
        col[H_OVERHEAD + c] = hw.overhead_us_of(name) * hw.clock_mhz
        col[H_EFF + c] = hw.calibration.efficiency.of(name)
    if hw.kind != "roofline":
        return
    col[H_CACHE_B] = hw.roofline.cache_kb * 1024.0
    col[H_HALF_OUTPUTS] = hw.roofline.half_outputs
    for p in hw.precisions:
        for c, name in enumerate(OP_CLASSES):
            col[H_PEAK + c * prec.COUNT + prec.INDEX[p.name]] = p.gops(name) * 1e3 / hw.clock_mhz
