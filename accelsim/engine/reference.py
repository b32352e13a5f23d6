"""Plain-Python restatement of the engine's model, written for clarity rather than speed.

It works on ``Layer`` and ``Hardware`` objects directly, counts folds with explicit loops, builds
the list of tiles, derives DRAM bytes by walking that list (the kernel uses closed forms) and
replays the double-buffered DMA as a list of events. Tests check the kernels against it on random
layers and configs; nothing else should call it.
"""

from __future__ import annotations

import math

from .. import precision as prec
from ..config import Hardware
from ..workload.ir import Layer

INF = math.inf


def ceil_div(a, b):
    return math.ceil(a / b)


def scalesim_cycles(dataflow: str, rows: int, cols: int, k_red, pixels, m, groups, k_pe):
    """Count cycles fold by fold: (cycles, folds)."""
    k = ceil_div(k_red, k_pe)
    dims = {"os": (pixels, m, k), "ws": (k, m, pixels), "is": (k, pixels, m)}[dataflow]
    sr, sc, t = dims
    cycles, folds = 0, 0
    for _ in range(int(groups)):
        for r0 in range(0, int(sr), rows):
            for c0 in range(0, int(sc), cols):
                fill = rows + cols - 2 if dataflow == "os" else 2 * rows + cols - 2
                cycles += fill + t
                folds += 1
    return cycles - 1, folds


def _input_rows(layer: Layer, h: int) -> int:
    in_h, out_h = layer.in_shape[0], layer.out_shape[0]
    kh, sh = layer.kernel[0], layer.stride[0]
    if layer.op == "upsample":
        need = ceil_div(h * in_h, out_h) + kh - 1
    elif kh > sh:
        need = (h - 1) * sh + kh
    else:
        need = h * kh
    return min(need, in_h)


class LayerModel:
    """The quantities of one layer on one hardware config that the tiling and DMA need."""

    def __init__(self, layer: Layer, hw: Hardware, shapes: dict):
        self.layer, self.hw = layer, hw
        self.op = layer.op
        self.ab = prec.BYTES_PER_ELEMENT[layer.act_precision]
        self.fb = self.ab if layer.op == "matmul" else prec.BYTES_PER_ELEMENT[layer.weight_precision]
        self.dense = (layer.op == "conv" and layer.groups == 1) or layer.op == "matmul"
        in_h, in_w, in_c = layer.in_shape
        if layer.op == "matmul":
            b = shapes[layer.inputs[1]]
            self.filter_elems, self.in_factor = b[0] * b[1] * b[2], 1.0
            self.c_red = in_c
        else:
            self.filter_elems = layer.weight_elements
            extra = sum(math.prod(shapes[s]) for s in layer.inputs[1:]) if layer.op == "add" else 0
            self.in_factor = 1.0 + extra / (in_h * in_w * in_c)
            self.c_red = in_c / layer.groups

    def tile_bytes(self, h, m, c):
        L = self.layer
        in_h, in_w, in_c = L.in_shape
        out_c = L.out_channels
        if self.dense:
            ch = c
        elif self.op == "conv":
            per_group_out = out_c / L.groups
            ch = min(in_c, ceil_div(m, per_group_out) * (in_c / L.groups))
        else:
            ch = m
        ifmap = _input_rows(L, h) * in_w * ch * self.ab * self.in_factor
        if self.op == "matmul":
            filt = m * c * self.fb
        elif self.op == "conv":
            filt = m * L.kernel[0] * L.kernel[1] * (c if self.dense else in_c / L.groups) * self.fb
        else:
            filt = 0.0
        ofmap = h * L.out_shape[1] * m * self.ab
        return ifmap, filt, ofmap

    def fits(self, h, m, c):
        i, f, o = self.tile_bytes(h, m, c)
        s = self.hw.sram
        if s.unified:
            return 2 * (i + f + o) <= s.unified_kb * 1024
        return 2 * i <= s.ifmap_kb * 1024 and 2 * f <= s.filter_kb * 1024 and 2 * o <= s.ofmap_kb * 1024

    def tiles(self, h_t, m_t, c_t, order):
        """The steps in loop order: dicts with sizes and tile identities."""
        L = self.layer
        out_h, out_c = L.out_shape[0], L.out_channels
        n_h, n_m, n_c = ceil_div(out_h, h_t), ceil_div(out_c, m_t), ceil_div(self.c_red, c_t)
        outer, middle = (range(n_m), range(n_h)) if order == 0 else (range(n_h), range(n_m))
        steps = []
        for a in outer:
            for b in middle:
                mi, hi = (a, b) if order == 0 else (b, a)
                for ci in range(n_c):
                    steps.append({
                        "h": min(h_t, out_h - hi * h_t), "m": min(m_t, out_c - mi * m_t),
                        "c": min(c_t, self.c_red - ci * c_t),
                        "ifmap_id": (hi, ci) if self.dense else (hi, mi, ci), "filter_id": (mi, ci),
                        "finishes_output": ci == n_c - 1})
        return steps

    def loads(self, steps):
        """(load bytes per step, store bytes per step): an operand reloads when its tile changes."""
        loads, stores = [], []
        prev_i = prev_f = None
        for s in steps:
            i, f, o = self.tile_bytes(s["h"], s["m"], s["c"])
            load = 0.0
            if s["ifmap_id"] != prev_i:
                load += i
            if s["filter_id"] != prev_f and f > 0:
                load += f
            prev_i, prev_f = s["ifmap_id"], s["filter_id"]
            loads.append(load)
            stores.append(o if s["finishes_output"] else 0.0)
        return loads, stores


def choose_tiling(model: LayerModel, align: int):
    """Same candidate order as the kernel; DRAM bytes come from walking each candidate."""
    out_c = model.layer.out_channels
    best, best_key = None, (INF, INF)
    c_t = model.c_red
    while True:
        m_t = out_c
        while True:
            h_t = max((h for h in range(1, model.layer.out_shape[0] + 1) if model.fits(h, m_t, c_t)), default=0)
            if h_t:
                for order in (0, 1):
                    steps = model.tiles(h_t, m_t, c_t, order)
                    loads, stores = model.loads(steps)
                    key = (sum(loads) + sum(stores), len(steps))
                    if key < best_key:
                        best_key, best = key, (h_t, m_t, c_t, order)
            if m_t <= 1:
                break
            half = ceil_div(m_t, 2)
            m_t = ceil_div(half, align) * align if half > align else half
        if best or not model.dense or c_t <= 1:
            return best
        c_t = ceil_div(c_t, 2)


def replay_dma(model: LayerModel, steps, compute: float):
    """Event replay of double-buffered DMA; returns total cycles."""
    hw = model.hw
    bw, lat = hw.dram_bytes_per_cycle, hw.dram_latency_cycles
    L = model.layer
    loads, stores = model.loads(steps)
    dma_free = 0.0
    ends = []           # compute end time of every step so far
    for i, s in enumerate(steps):
        buffer_free = ends[i - 2] if i >= 2 else 0.0
        load_done = max(dma_free, buffer_free) + ((lat + loads[i] / bw) if loads[i] > 0 else 0.0)
        dma_free = load_done
        drained = 0.0
        if i >= 2 and stores[i - 2] > 0:
            drained = max(dma_free, ends[i - 2]) + lat + stores[i - 2] / bw
            dma_free = drained
        start = max(ends[i - 1] if i else 0.0, load_done, drained)
        share = (s["h"] / L.out_shape[0]) * (s["m"] / L.out_channels) * (s["c"] / model.c_red)
        ends.append(start + compute * share)
    for j in (len(steps) - 2, len(steps) - 1):
        if j >= 0 and stores[j] > 0:
            dma_free = max(dma_free, ends[j]) + lat + stores[j] / bw
    return max(ends[-1], dma_free), sum(loads), sum(stores), len(steps)


def simulate_layer(layer: Layer, hw: Hardware, shapes: dict) -> dict:
    """Cycle, byte and mapping outputs (names as in ``tables.OUT_NAMES``; energy is not restated).

    ``status`` is "ok", "no_tiling" or "no_unit".
    """
    res = {"compute_cycles": 0.0, "stall_cycles": 0.0, "total_cycles": 0.0, "unit": "none", "status": "ok",
           "dram_read_bytes": 0.0, "dram_write_bytes": 0.0, "energy_pj": 0.0, "folds": 0.0,
           "array_cycles": 0.0, "vector_cycles": 0.0, "tiles": 0.0}
    if layer.op == "concat":
        return res
    model = LayerModel(layer, hw, shapes)
    names = hw.precision_names
    kpe = {p.name: p.macs_per_pe_per_cycle for p in hw.precisions}
    vops = dict(hw.vector.ops_per_lane_per_cycle) if hw.vector.lanes else {}
    oh, ow, oc = layer.out_shape
    pixels = oh * ow
    mm = layer.op in ("conv", "matmul")
    depthwise = layer.is_depthwise
    w, a = layer.weight_precision, layer.act_precision
    array = INF
    if mm and w in names and a in names:
        k_pe = min(kpe[w], kpe[a])
        if layer.op == "matmul":
            array, folds = scalesim_cycles(hw.array.dataflow, hw.array.rows, hw.array.cols,
                                           layer.in_channels, pixels, oc, 1, k_pe)
        else:
            k_red = layer.kernel[0] * layer.kernel[1] * layer.in_channels / layer.groups
            array, folds = scalesim_cycles(hw.array.dataflow, hw.array.rows, hw.array.cols, k_red, pixels,
                                           oc / layer.groups, layer.groups, k_pe)
        res["folds"] = float(folds)
    vector = INF
    v = min(vops.get(w, 0), vops.get(a, 0)) if layer.op == "conv" else vops.get(a, 0)
    if (depthwise or not mm) and v > 0:
        if layer.op == "conv":
            per_out = layer.kernel[0] * layer.kernel[1] * (layer.in_channels // layer.groups)
        elif layer.op in ("pool", "upsample"):
            per_out = layer.kernel[0] * layer.kernel[1]
        elif layer.op == "add":
            per_out = max(1, len(layer.inputs) - 1)
        else:
            per_out = 1
        vector = ceil_div(oc, hw.vector.lanes) * pixels * ceil_div(per_out, v)
    res["array_cycles"], res["vector_cycles"] = array, vector
    if array == INF and vector == INF:
        res["status"] = "no_unit"
        return res
    on_array = array <= vector
    compute = array if on_array else vector
    res["unit"] = "array" if on_array else "vector"
    if not on_array:
        res["folds"] = 0.0  # folds describe the array mapping, which was not used
    align = min(hw.array.cols if on_array else hw.vector.lanes, oc)
    tiling = choose_tiling(model, align)
    if tiling is None:
        res["status"] = "no_tiling"
        return res
    h_t, m_t, c_t, order = tiling
    best = None
    h = h_t
    for _ in range(4):
        total, r, wr, n = replay_dma(model, model.tiles(h, m_t, c_t, order), compute)
        # A relative 1e-9 is a tie, broken by fewer bytes (as in the kernel).
        if best is None or total < best[0] * (1 - 1e-9) or (
                total <= best[0] * (1 + 1e-9) and r + wr < best[1] + best[2]):
            best = (total, r, wr, n)
        if h == 1:
            break
        h = ceil_div(h, 2)
    total, r, wr, n = best
    res.update(compute_cycles=float(compute), total_cycles=total, stall_cycles=total - compute,
               dram_read_bytes=r, dram_write_bytes=wr, tiles=float(n))
    return res


def simulate_network(net, hw: Hardware) -> list[dict]:
    shapes = {"input": net.input_shape}
    for layer in net.layers:
        shapes[layer.name] = layer.out_shape
    return [simulate_layer(layer, hw, shapes) for layer in net.layers]
