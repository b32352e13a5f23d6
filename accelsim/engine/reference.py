"""Plain-Python restatement of the engine's whole model, written for clarity rather than speed.

It reports every field of ``tables.OUT_NAMES`` for every layer of a network, working on ``Layer``,
``Network`` and ``Hardware`` objects directly (never on the packed tables), and where a different
formulation is natural it uses one, so that a test comparing the two checks the kernels' shortcuts:

* SCALE-Sim compute cycles, folds and mapping efficiency come from walking the fold grid (one
  fold at a time, counting the PEs each one uses) instead of the closed formulas.
* The tiling planner builds the explicit list of tiles of every candidate and derives its DRAM
  bytes by walking that list (the kernel uses closed forms over tile sums).
* The double-buffered DMA is replayed as a list of events (loads, compute, stores) shared by the
  layer walk and by the bands of a fused chain.
* Parameter bytes are the sum over the distinct filter tiles a walk loads.
* Residency is decided with explicit lifetimes (a tensor's set of layers) and, at each layer, the
  sum of the kept tensors alive there, recomputed from scratch for every decision (the kernel keeps
  a running occupancy).
* Fused chains are enumerated explicitly (every run of 2..MAX_CHAIN chainable layers), and so are
  the schedules of each run of chainable layers (every way to cut it into layers alone and
  accepted chains): the cheapest schedule wins (the kernel runs a dynamic programme over the
  network); a chain's per-layer compute is a list of unit calls.

* Calibration: the efficiency of a layer's op class divides its compute cycles (phase 1 and a
  chain's per-layer cycles); the per-layer overhead of its op class is added last, as in the kernel.
* A roofline device (``kind: roofline``) is restated by :func:`roofline_layer` from the layer's own
  MAC count (a transposed conv's counted the scatter way), shapes and weights, not from the packed
  per-output numbers.

Where the kernel's model is a deliberate simplification, it is restated as such (with a comment):
e.g. a grouped conv tile of ``m`` outputs reads ``ceil(m / outputs_per_group)`` groups of input
channels wherever it starts, and a matmul's second operand streams as its filter without its batch.

Entry points: :func:`simulate_network` (one dict per layer, keys ``tables.OUT_NAMES``; ``unit``
"none"/"array"/"vector", ``status`` "ok"/"no_tiling"/"no_unit", ``fuse_mode``
""/"cache"/"recompute"/"recompute_rows",
``fused_chain`` the 1-based index of the chain's first layer or 0) and :func:`simulate_layer` (one
layer alone). Tests check the kernels against it on random networks and configs; nothing else
should import it.
"""

from __future__ import annotations

import functools
import math

from .. import precision as prec
from ..config import Hardware
from ..workload.ir import INPUT, Layer, Network
from .tables import OUT_NAMES   # the field names only; nothing here reads the packed tables

INF = math.inf
TIE = 1e-9        # relative difference below which two cycle or byte totals count as equal
MAX_CHAIN = 4     # longest chain of layers run depth-first
WALK_CHOICES = 4  # row (or column) tile sizes a walk tries: the largest that fits, /2, /4, /8


def ceil_div(a, b):
    return math.ceil(a / b)


def padded(channels, alignment):
    """Channels as stored: rounded up to a multiple of the config's channel alignment."""
    if alignment <= 1:
        return channels
    return ceil_div(channels, alignment) * alignment


def _better(t, moved, best_t, best_moved):
    """Faster by more than the tie tolerance, or tied and moving fewer bytes."""
    return t < best_t * (1 - TIE) or (t <= best_t * (1 + TIE) and moved < best_moved)


# ------------------------------------------------------------------------------------------------
# Compute: SCALE-Sim folds and the vector unit
# ------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def scalesim_fold_walk(dataflow: str, rows: int, cols: int, k_red, pixels, m, groups, k_pe):
    """Walk the fold grid of ``groups`` GEMMs (pixels x k_red) @ (k_red x m) one fold at a time:
    (cycles, folds, PE-slots used over all folds). A PE packs ``k_pe`` reduction elements."""
    k = ceil_div(k_red, k_pe)
    spatial_rows, spatial_cols, temporal = {"os": (pixels, m, k), "ws": (k, m, pixels),
                                            "is": (k, pixels, m)}[dataflow]
    fill = rows + cols - 2 if dataflow == "os" else 2 * rows + cols - 2
    cycles, folds, used = 0, 0, 0
    for _ in range(int(groups)):
        for r0 in range(0, int(spatial_rows), rows):
            for c0 in range(0, int(spatial_cols), cols):
                cycles += fill + temporal
                folds += 1
                used += min(rows, spatial_rows - r0) * min(cols, spatial_cols - c0)
    return cycles - 1, folds, used   # SCALE-Sim reports one cycle less


def scalesim_cycles(dataflow: str, rows: int, cols: int, k_red, pixels, m, groups, k_pe):
    """SCALE-Sim "Total Cycles" counted fold by fold: (cycles, folds)."""
    cycles, folds, _ = scalesim_fold_walk(dataflow, rows, cols, k_red, pixels, m, groups, k_pe)
    return cycles, folds


def _format_numbers(hw: Hardware, fmt: str):
    """(MACs per PE per cycle, vector ops per lane per cycle, energy per MAC, bytes per element) of a
    format on ``hw``; formats the config lacks cannot compute and keep their default storage size.
    On a roofline device: no MACs per PE or vector ops, and the energy of one op."""
    for p in hw.precisions:
        if p.name == fmt and hw.kind == "roofline":
            return 0, 0.0, p.energy_per_op_pj, p.bytes_per_element
        if p.name == fmt:
            vops = dict(hw.vector.ops_per_lane_per_cycle).get(fmt, 0.0) if hw.vector.lanes else 0.0
            return p.macs_per_pe_per_cycle, vops, p.energy_per_mac_pj, p.bytes_per_element
    return 0, 0.0, 0.0, prec.BYTES_PER_ELEMENT[fmt]


# ------------------------------------------------------------------------------------------------
# One layer on one config: geometry, tiles and their bytes
# ------------------------------------------------------------------------------------------------
def span(op, n, size_in, size_out, k_ext, stride):
    """Input rows (or columns) that ``n`` output rows (columns) read; padding is not read."""
    if op == "upsample":
        need = ceil_div(n * size_in, size_out) + k_ext - 1
    elif op == "conv_transpose":
        # n outputs of the dense conv over the zero-inserted input read a window of n + k - 1 of its
        # rows; real input rows sit every ``stride`` rows of it, so at most this many are real
        need = ceil_div(n + k_ext - 1, stride)
    elif k_ext > stride:
        need = (n - 1) * stride + k_ext   # overlapping windows: one halo
    else:
        need = n * k_ext                  # disjoint windows (a strided 1x1 reads every s-th row)
    return min(need, size_in)


def op_class(layer: Layer) -> str:
    """The op class (``config.OP_CLASSES``) calibration and roofline rates are given for."""
    if layer.op == "matmul" or (layer.op in ("conv", "conv_transpose") and layer.groups == 1):
        return "dense"
    return "depthwise" if layer.op in ("conv", "conv_transpose") else "elementwise"


def class_efficiency(layer: Layer, hw: Hardware) -> float:
    """The calibration's share of the modelled compute rate for the layer's op class."""
    return hw.calibration.efficiency.of(op_class(layer))


class LayerModel:
    """What the tiling, the walks and the chains need to know of one layer on one config."""

    def __init__(self, layer: Layer, hw: Hardware, shapes: dict):
        self.layer, self.hw, self.op = layer, hw, layer.op
        self.align = hw.channel_alignment
        self.in_h, self.in_w, self.in_c = layer.in_shape
        self.out_h, self.out_w, self.out_c = layer.out_shape
        self.kh, self.kw = layer.kernel
        self.sh, self.sw = layer.stride
        self.kh_ext, self.kw_ext = layer.effective_kernel
        self.groups = layer.groups
        w_fmt = layer.weight_precision
        a_fmt = layer.act_precision
        mac_w, vop_w, e_w, b_w = _format_numbers(hw, w_fmt)
        mac_a, vop_a, e_a, b_a = _format_numbers(hw, a_fmt)
        self.ab = b_a
        self.fb = b_a if layer.op == "matmul" else b_w   # a matmul's second operand is an activation
        self.k_pe = min(mac_w, mac_a)
        self.v_ops = min(vop_w, vop_a) if layer.op == "conv" else vop_a
        self.e_mac = max(e_w, e_a)
        self.filtered = layer.op in ("conv", "conv_transpose")   # a kxk filter of weights, in groups
        self.dense = (self.filtered and layer.groups == 1) or layer.op == "matmul"
        self.depthwise = layer.is_depthwise
        # What a tile's reduction slice ``c`` splits: input channels (per group), or for a pool the
        # rows of the window one output row reads.
        if layer.op == "pool":
            self.c_red = self.rows_read(1)
        else:
            self.c_red = self.in_c if layer.op == "matmul" else self.in_c / layer.groups
        if layer.op == "matmul":
            # The second operand streams through the filter buffer. Its tiles are m x c elements:
            # the batch (attention heads) is not multiplied in (a simplification of the model).
            self.filter_elems = math.prod(shapes[layer.inputs[1]])
            self.in_factor = 1.0
        else:
            self.filter_elems = layer.weight_elements
            # An element-wise op's further operands ride along with the first one's tiles.
            extra = sum(math.prod(shapes[s]) for s in layer.inputs[1:]) if layer.op == "add" else 0
            self.in_factor = 1.0 + extra / (self.in_h * self.in_w * self.in_c)
        self.ops = self._ops()
        self._tile_bytes = {}

    def _ops(self):
        """Useful operations: MACs for conv and matmul, window taps for pool/upsample, one per output
        element (per extra operand) for element-wise ops."""
        L = self.layer
        if L.op in ("conv", "matmul"):
            return float(L.macs)
        if L.op == "conv_transpose":
            return float(self._transposed_macs())
        outputs = L.output_elements
        if L.op in ("pool", "upsample"):
            return float(outputs * self.kh * self.kw)
        if L.op == "add":
            return float(outputs * max(1, len(L.inputs) - 1))
        return float(outputs)

    def _transposed_macs(self):
        """Useful MACs of a transposed conv, counted the scatter way: every (input pixel, filter tap)
        pair whose output pixel lies inside the (cropped) output, times the channels it multiplies.
        Its array mapping is the dense conv over the zero-inserted input (``gemm``), so the products
        with inserted zeros run on the array but are not counted here: they show as lost utilisation."""
        L = self.layer
        ph, pw = L.padding[:2]
        rows = sum(1 for i in range(self.in_h) for j in range(self.kh) if 0 <= i * self.sh - ph + j < self.out_h)
        cols = sum(1 for i in range(self.in_w) for j in range(self.kw) if 0 <= i * self.sw - pw + j < self.out_w)
        return rows * cols * (self.in_c // self.groups) * self.out_c

    def ops_per_output(self):
        return self.ops / self.layer.output_elements

    def gemm(self):
        """(reduction length, outputs per group, groups) of the GEMMs the array runs."""
        if self.op == "matmul":
            return self.in_c, self.out_c, 1
        return self.kh * self.kw * self.in_c / self.groups, self.out_c / self.groups, self.groups

    # -- geometry ------------------------------------------------------------------------------
    def rows_read(self, h):
        return span(self.op, h, self.in_h, self.out_h, self.kh_ext, self.sh)

    def cols_read(self, w):
        if w >= self.out_w:   # a full-width tile reads every input column
            return self.in_w
        return span(self.op, w, self.in_w, self.out_w, self.kw_ext, self.sw)

    def in_channels_read(self, m, c):
        """Stored input channels a tile of ``m`` outputs and ``c`` reduction channels reads."""
        if self.dense:
            return padded(c, self.align)
        if self.filtered:
            # The groups feeding m outputs, counted as ceil(m / outputs per group) wherever the tile
            # starts (the model's simplification for tiles that straddle a group boundary).
            per_group_out = self.out_c / self.groups
            per_group_in = self.in_c / self.groups
            return padded(min(self.in_c, ceil_div(m, per_group_out) * per_group_in), self.align)
        return padded(m, self.align)   # channel-wise ops read their own channels

    def tile_bytes(self, h, w, m, c):
        """(ifmap, filter, ofmap) bytes of one tile of h x w outputs, m output and c reduction channels."""
        key = (h, w, m, c)
        if key not in self._tile_bytes:
            self._tile_bytes[key] = self._tile_bytes_uncached(h, w, m, c)
        return self._tile_bytes[key]

    def splits_reduction(self, by_cols):
        """Dense convs and matmuls may split their input channels; a pool its window's rows, but only
        in one-row column tiles (the last resort)."""
        return self.dense or (self.op == "pool" and by_cols)

    def _tile_bytes_uncached(self, h, w, m, c):
        rows = self.rows_read(h)
        if self.op == "pool" and c < self.c_red:   # a slice of the window's rows, accumulated
            rows = c
        ifmap = rows * self.cols_read(w) * self.in_channels_read(m, c) * self.ab * self.in_factor
        if self.op == "matmul":
            filt = padded(m, self.align) * padded(c, self.align) * self.fb
        elif self.filtered:
            per_output = padded(c, self.align) if self.dense else self.in_c / self.groups
            filt = padded(m, self.align) * self.kh * self.kw * per_output * self.fb
        else:
            filt = 0.0
        ofmap = h * w * padded(m, self.align) * self.ab
        return ifmap, filt, ofmap

    def fits(self, h, w, m, c):
        """Double buffering: each operand's tile may take half of its buffer (or of the unified one)."""
        i, f, o = self.tile_bytes(h, w, m, c)
        s = self.hw.sram
        if s.unified:
            return 2 * (i + f + o) <= s.unified_kb * 1024
        return 2 * i <= s.ifmap_kb * 1024 and 2 * f <= s.filter_kb * 1024 and 2 * o <= s.ofmap_kb * 1024

    def tiles(self, h_t, w_t, m_t, c_t, order):
        """The tiles in loop order, as (h, w, m, c, ifmap tile id, filter tile id, finishes its outputs).

        Spatial tiles are row tiles, or row x column tiles; order 0 runs channel tiles outermost,
        order 1 spatial tiles outermost; reduction tiles are always innermost.
        """
        def split(total, step):
            return [min(step, total - start) for start in range(0, math.ceil(total), int(step))]

        spatial = [(hs, ws) for hs in split(self.out_h, h_t) for ws in split(self.out_w, w_t)]
        chans = split(self.out_c, m_t)
        reds = split(self.c_red, c_t)
        if order == 0:
            outer = [(si, mi) for mi in range(len(chans)) for si in range(len(spatial))]
        else:
            outer = [(si, mi) for si in range(len(spatial)) for mi in range(len(chans))]
        out = []
        for si, mi in outer:
            for ci, c in enumerate(reds):
                h, w = spatial[si]
                # a dense tile's inputs serve every output channel; a grouped or channel-wise one's
                # only its own channels
                ifmap_id = (si, ci) if self.dense else (si, mi, ci)
                out.append((h, w, chans[mi], c, ifmap_id, (mi, ci), ci == len(reds) - 1))
        return out

    def transfers(self, tiles, compute, in_dram=1.0, filter_dram=1.0, out_dram=1.0):
        """Per tile (bytes loaded, compute cycles, bytes stored): an operand loads when its tile
        changes from the previous step's; ``*_dram`` are the shares that go through DRAM."""
        steps = []
        prev_ifmap = prev_filter = None
        for h, w, m, c, ifmap_id, filter_id, finishes in tiles:
            i_b, f_b, o_b = self.tile_bytes(h, w, m, c)
            load = 0.0
            if ifmap_id != prev_ifmap:
                load += i_b * in_dram
            if filter_id != prev_filter and f_b > 0:
                load += f_b * filter_dram
            prev_ifmap, prev_filter = ifmap_id, filter_id
            share = (h / self.out_h) * (m / self.out_c) * (c / self.c_red) * (w / self.out_w)
            steps.append((load, compute * share, o_b * out_dram if finishes else 0.0))
        return steps

    def parameter_bytes(self, tiles):
        """Filter bytes of one pass: each distinct filter tile once."""
        seen = {}
        for h, w, m, c, _, filter_id, _ in tiles:
            seen[filter_id] = self.tile_bytes(h, w, m, c)[1]
        return sum(seen.values())


# ------------------------------------------------------------------------------------------------
# DMA replay (shared by tile walks and fused bands)
# ------------------------------------------------------------------------------------------------
def replay_dma(steps, bw, lat):
    """Replay double-buffered DMA over ``steps`` of (load bytes, compute cycles, store bytes).

    One DMA queue serves transfers in the order they become ready. Step i's load goes into the
    buffer step i-2 used, so it waits for step i-2's compute; step i-2's output store follows it;
    step i computes once its load is in, step i-1 has computed and step i-2's store has drained.
    The stores of the last two steps run after the loop. Returns (total cycles, events), an event
    being (what, step, start, end).
    """
    events = []
    dma_free = 0.0
    ends = []

    def transfer(what, i, ready, nbytes):
        nonlocal dma_free
        start = max(dma_free, ready)
        dma_free = start + lat + nbytes / bw
        events.append((what, i, start, dma_free))
        return dma_free

    for i, (load, compute, _) in enumerate(steps):
        buffer_free = ends[i - 2] if i >= 2 else 0.0
        if load > 0:
            load_done = transfer("load", i, buffer_free, load)
        else:   # nothing to load: the step still waits its turn in the queue
            dma_free = load_done = max(dma_free, buffer_free)
        drained = 0.0
        if i >= 2 and steps[i - 2][2] > 0:
            drained = transfer("store", i - 2, ends[i - 2], steps[i - 2][2])
        start = max(ends[i - 1] if i else 0.0, load_done, drained)
        ends.append(start + compute)
        events.append(("compute", i, start, start + compute))
    for j in (len(steps) - 2, len(steps) - 1):
        if j >= 0 and steps[j][2] > 0:
            transfer("store", j, ends[j], steps[j][2])
    last_compute = ends[-1] if ends else 0.0
    last_dma = max((e[3] for e in events if e[0] != "compute"), default=0.0)
    return max(last_compute, last_dma), events


# ------------------------------------------------------------------------------------------------
# Phase 1: one layer on its own, every operand through DRAM
# ------------------------------------------------------------------------------------------------
def next_channel_tile(m_t, alignment):
    """Halve a channel tile; while larger than the unit's width, keep it a multiple of that width."""
    half = ceil_div(m_t, 2)
    return ceil_div(half, alignment) * alignment if half > alignment else half


def choose_tiling(model: LayerModel, unit_width):
    """(h_t, w_t, m_t, c_t, order) moving the fewest DRAM bytes, then with the fewest tiles; None if
    not even the smallest tile fits. Full-width row tiles first; one-row column tiles only when no
    full-width tile fits at all."""
    for by_cols in (False, True):
        best, best_key = None, (INF, INF)
        c_t = model.c_red
        while True:
            m_t = model.out_c
            while True:
                if by_cols:
                    ext = next((w for w in range(int(model.out_w), 0, -1) if model.fits(1, w, m_t, c_t)), 0)
                    h_t, w_t = 1, ext
                else:
                    ext = next((h for h in range(int(model.out_h), 0, -1)
                                if model.fits(h, model.out_w, m_t, c_t)), 0)
                    h_t, w_t = ext, model.out_w
                if ext:
                    for order in (0, 1):
                        tiles = model.tiles(h_t, w_t, m_t, c_t, order)
                        steps = model.transfers(tiles, 0.0)
                        moved = sum(s[0] + s[2] for s in steps)
                        cost, n = best_key
                        if moved < cost * (1 - TIE) or (moved <= cost * (1 + TIE) and len(tiles) < n):
                            best_key = (moved, len(tiles))
                            best = (h_t, w_t, m_t, c_t, order)
                if m_t <= 1:
                    break
                m_t = next_channel_tile(m_t, unit_width)
            if best or not model.splits_reduction(by_cols) or c_t <= 1:
                break
            c_t = ceil_div(c_t, 2)   # split the reduction only when nothing fits unsplit
        if best:
            return best
    return None


def walk(model: LayerModel, tiling, compute, in_dram=1.0, filter_dram=1.0, out_dram=1.0):
    """The DMA walk of ``tiling``'s tiles: (total cycles, DRAM read, DRAM write, tiles)."""
    tiles = model.tiles(*tiling)
    steps = model.transfers(tiles, compute, in_dram, filter_dram, out_dram)
    total, _ = replay_dma(steps, model.hw.dram_bytes_per_cycle, model.hw.dram_latency_cycles)
    return total, sum(s[0] for s in steps), sum(s[2] for s in steps), float(len(tiles))


def best_walk(model: LayerModel, tiling, compute):
    """Among the largest row (or column) tile of ``tiling`` and its halves (fewer rows: more overlap,
    more halo), the fastest walk, every operand through DRAM; a tie (within TIE) goes to fewer bytes.
    Returns (total cycles, DRAM read, DRAM write, tiles) and the tiling walked."""
    h_max, w_max, m_t, c_t, order = tiling
    by_cols = w_max < model.out_w
    best, best_tiling = (INF, 0.0, 0.0, 0.0), None
    extent = w_max if by_cols else h_max
    for _ in range(WALK_CHOICES):
        h, w = (h_max, extent) if by_cols else (extent, w_max)
        result = walk(model, (h, w, m_t, c_t, order), compute)
        if _better(result[0], result[1] + result[2], best[0], best[1] + best[2]):
            best, best_tiling = result, (h, w, m_t, c_t, order)
        if extent == 1:
            break
        extent = ceil_div(extent, 2)
    return best, best_tiling


def unit_cycles(model: LayerModel, pixels, unit):
    """Compute cycles of one call of ``unit`` over ``pixels`` output pixels (all channels)."""
    hw = model.hw
    if unit == "array":
        k_red, m, groups = model.gemm()
        return scalesim_cycles(hw.array.dataflow, hw.array.rows, hw.array.cols, k_red, pixels, m, groups,
                               model.k_pe)[0]
    # vector unit: channels spread over lanes, each output needing its ops in lane-op steps
    return ceil_div(model.out_c, hw.vector.lanes) * pixels * ceil_div(model.ops_per_output(), model.v_ops)


def sram_traffic(model: LayerModel):
    """Array-side SRAM (read, write) bytes of a conv/matmul under the config's dataflow."""
    hw = model.hw
    rows, cols = hw.array.rows, hw.array.cols
    pixels = model.out_h * model.out_w
    k_red, m, groups = model.gemm()
    ab, fb = model.ab, model.fb
    passes = ceil_div(ceil_div(k_red, model.k_pe), rows)   # reduction folds: partial sums go round
    if hw.array.dataflow == "os":
        reads = pixels * k_red * ceil_div(m, cols) * ab + m * k_red * ceil_div(pixels, rows) * fb
        writes = pixels * m * ab
    elif hw.array.dataflow == "is":
        reads = k_red * pixels * ab + m * k_red * ceil_div(pixels, cols) * fb + pixels * m * (passes - 1) * ab
        writes = pixels * m * passes * ab
    else:
        reads = k_red * m * fb + pixels * k_red * ceil_div(m, cols) * ab + pixels * m * (passes - 1) * ab
        writes = pixels * m * passes * ab
    return reads * groups, writes * groups


def _empty_record():
    rec = {name: 0.0 for name in OUT_NAMES}
    rec.update(unit="none", status="ok", fuse_mode="", fused_chain=0)
    return rec


class LayerRun:
    """A layer's record (the OUT_NAMES fields) and what the network pass needs of phase 1."""

    def __init__(self, model: LayerModel):
        self.model = model
        self.rec = _empty_record()
        self.tiling = None
        self.need_i = self.need_f = self.need_o = 0.0
        self.out_bytes = self.param_bytes = 0.0
        self.sram_r = self.sram_w = self.dynamic_pj = self.peak_ops = 0.0

    @property
    def ok(self):
        return self.rec["status"] == "ok"


def phase1(model: LayerModel) -> LayerRun:
    """A layer on its own: unit, tiling, walk and energy with every operand through DRAM."""
    run = LayerRun(model)
    rec = run.rec
    if model.op == "concat":   # a view of existing buffers: free
        return run
    hw = model.hw
    mm = model.op in ("conv", "conv_transpose", "matmul")
    pixels = model.out_h * model.out_w
    array = vector = INF
    folds = efficiency = 0.0
    if mm and model.k_pe > 0:
        k_red, m, groups = model.gemm()
        array, n_folds, used = scalesim_fold_walk(hw.array.dataflow, hw.array.rows, hw.array.cols, k_red, pixels,
                                                  m, groups, model.k_pe)
        folds, efficiency = float(n_folds), used / (n_folds * hw.array.rows * hw.array.cols)
    if (model.depthwise or not mm) and hw.vector.lanes > 0 and model.v_ops > 0:
        vector = unit_cycles(model, pixels, "vector")
    # calibration: the op class's efficiency slows both units alike
    array, vector = array / class_efficiency(model.layer, hw), vector / class_efficiency(model.layer, hw)
    rec["array_cycles"], rec["vector_cycles"] = array, vector
    if array == INF and vector == INF:
        rec["status"] = "no_unit"
        return run
    unit = "array" if array <= vector else "vector"
    compute = array if unit == "array" else vector
    width = hw.array.cols if unit == "array" else hw.vector.lanes
    tiling = choose_tiling(model, min(width, model.out_c))
    if tiling is None:
        rec["status"] = "no_tiling"
        return run
    (total, read, write, n), tiling = best_walk(model, tiling, compute)
    run.tiling = tiling   # the walked tiles: what residency budgets and re-walks use
    if unit == "array":
        run.sram_r, run.sram_w = sram_traffic(model)
        run.dynamic_pj = model.ops * model.e_mac
        run.peak_ops = hw.array.rows * hw.array.cols * model.k_pe
    else:
        run.sram_r = model.ops * model.ab + model.filter_elems * model.fb
        run.sram_w = pixels * model.out_c * model.ab
        run.dynamic_pj = model.ops * hw.vector.energy_per_op_pj
        run.peak_ops = hw.vector.lanes * model.v_ops
        folds = efficiency = 0.0   # folds describe the array mapping, which was not used
    rec.update(unit=unit, compute_cycles=float(compute), total_cycles=total, dram_read_bytes=read,
               dram_write_bytes=write, tiles=n, folds=folds, mapping_efficiency=efficiency, ops=model.ops)
    h_t, w_t, m_t, c_t, order = tiling
    i_b, f_b, o_b = model.tile_bytes(h_t, w_t, m_t, c_t)
    run.need_i, run.need_f, run.need_o = 2 * i_b, 2 * f_b, 2 * o_b   # double-buffered
    run.out_bytes = model.out_h * model.out_w * padded(model.out_c, model.align) * model.ab
    if model.filtered:   # a matmul's filter operand is an activation, not a parameter
        run.param_bytes = model.parameter_bytes(model.tiles(h_t, w_t, m_t, c_t, order))
    finish(run)
    return run


def finish(run: LayerRun):
    """Stall, SRAM bytes, energy and utilisation from a layer's cycles and DRAM bytes."""
    rec, hw = run.rec, run.model.hw
    total = rec["total_cycles"]
    rec["stall_cycles"] = total - rec["compute_cycles"]
    # inputs arriving from DRAM are written into SRAM; outputs leaving for DRAM are read out of it
    rec["sram_read_bytes"] = run.sram_r + rec["dram_write_bytes"]
    rec["sram_write_bytes"] = run.sram_w + rec["dram_read_bytes"]
    static_pj_per_cycle = hw.static_power_mw * 1e3 / hw.array.clock_mhz
    rec["energy_pj"] = (run.dynamic_pj
                        + (rec["sram_read_bytes"] + rec["sram_write_bytes"]) * hw.sram.energy_per_byte_pj
                        + (rec["dram_read_bytes"] + rec["dram_write_bytes"]) * hw.dram.energy_per_byte_pj
                        + total * static_pj_per_cycle)
    rec["utilization"] = rec["ops"] / (total * run.peak_ops) if total > 0 and run.peak_ops > 0 else 0.0


# ------------------------------------------------------------------------------------------------
# The network: tensors, lifetimes, residency
# ------------------------------------------------------------------------------------------------
class Graph:
    """Who produces and who reads each layer's output, and for how long it lives."""

    def __init__(self, layers, shapes):
        self.layers = layers
        self.shapes = shapes
        self.index = {layer.name: i for i, layer in enumerate(layers)}
        self.readers = {i: [] for i in range(len(layers))}   # producer -> [(consumer, input slot)]
        for j, layer in enumerate(layers):
            for slot, src in enumerate(layer.inputs):
                if src in self.index:
                    self.readers[self.index[src]].append((j, slot))

        # the layers during which a read output exists: its producer through its last reader
        self.lifetimes = {p: set(range(p, max(j for j, _ in r) + 1)) for p, r in self.readers.items() if r}

    def lifetime(self, p):
        return self.lifetimes[p]

    @staticmethod
    def tracked_slot(layer, slot):
        """Whether input ``slot`` of ``layer`` is read through its ifmap tiles (and so may come from a
        tensor kept on chip): the first operand of anything but a concat/reshape view, and the second
        operand of a two-input element-wise add or multiply. A matmul's second operand streams as
        its filter."""
        if layer.op == "concat":
            return False
        return slot == 0 or (slot == 1 and layer.op == "add" and len(layer.inputs) == 2)

    def may_stay(self, p):
        """Layer p's output may stay on chip: someone reads it, every reader reads it through its
        ifmap tiles, and p is not a view."""
        readers = self.readers[p]
        return (self.layers[p].op != "concat" and bool(readers)
                and all(self.tracked_slot(self.layers[j], slot) for j, slot in readers))

    def input_share(self, j, p):
        """The share of layer j's ifmap bytes that tensor p supplies (by element count for an add)."""
        layer = self.layers[j]
        names = layer.inputs
        if layer.op == "add":
            sizes = [math.prod(self.shapes[s]) for s in names]
            shares = [s / sum(sizes) for s in sizes]
        else:
            shares = [1.0] + [0.0] * (len(names) - 1)
        return sum(shares[slot] for slot, src in enumerate(names)
                   if self.tracked_slot(layer, slot) and self.index.get(src) == p)


def weights_on_chip_bytes(runs, hw):
    """All parameter bytes, if every parameter may stay on chip across inferences, else 0: in the
    filter buffer, or in a unified buffer beside the largest streamed activation working set."""
    total = sum(r.param_bytes for r in runs)
    if total <= 0:
        return 0.0
    if hw.sram.unified:
        worst = max(r.need_i + r.need_o for r in runs)
        return total if total + worst <= hw.sram.unified_kb * 1024 else 0.0
    return total if total <= hw.sram.filter_kb * 1024 else 0.0


def activation_capacity(run: LayerRun, hw, weight_bytes):
    """SRAM for activations at a layer: a unified buffer less its filter tiles (or all weights when
    they stay); separate ifmap and ofmap buffers pooled (their roles swap between layers)."""
    s = hw.sram
    if s.unified:
        return s.unified_kb * 1024 - (weight_bytes if weight_bytes > 0 else run.need_f)
    return (s.ifmap_kb + s.ofmap_kb) * 1024


def sram_in_use(graph, runs, j, kept):
    """Activation SRAM at layer j with the tensors in ``kept`` on chip: the kept tensors alive at j
    whole, plus the streamed tiles of j's operands that are not on chip."""
    on_chip_in = sum(graph.input_share(j, p) for p in kept)
    streamed = runs[j].need_i * (1 - on_chip_in) + (0.0 if j in kept else runs[j].need_o)
    return streamed + sum(runs[p].out_bytes for p in kept if j in graph.lifetime(p))


def place_resident(graph, runs, hw, weight_bytes):
    """Greedy in production order: keep a tensor when, at every layer of its lifetime, it fits beside
    the tensors already kept and the layer's streamed tiles. Returns the kept producers."""
    capacity = [activation_capacity(r, hw, weight_bytes) for r in runs]
    kept = []
    for p in range(len(runs)):
        if not graph.may_stay(p):
            continue
        trial = kept + [p]
        if all(sram_in_use(graph, runs, j, trial) <= capacity[j] for j in sorted(graph.lifetime(p))):
            kept.append(p)
    return kept, capacity


# ------------------------------------------------------------------------------------------------
# Fused chains: depth-first bands
# ------------------------------------------------------------------------------------------------
class Chain:
    """Layers i..j run depth-first in tiles of layer j's output: bands of rows, each cut into column
    tiles (full-width bands whenever one fits). ``mode`` says what happens to the halo neighbouring
    tiles share: "cache" keeps it (full-width halo lines between bands, halo columns between the
    tiles of a band), so every output is computed once; "recompute" recomputes it in every tile;
    "recompute_rows" keeps the halo columns within a band and recomputes the halo rows."""

    MODES = ("cache", "recompute_rows", "recompute")

    def __init__(self, net, i, j):
        self.net, self.i, self.j = net, i, j
        self.runs = net.runs[i:j + 1]
        self.models = [r.model for r in self.runs]

    @staticmethod
    def recomputed(mode):
        """(halo rows recomputed, halo columns recomputed)."""
        return mode != "cache", mode == "recompute"

    @staticmethod
    def geometry(model, axis):
        """(input size, output size, effective kernel, stride) along rows (0) or columns (1)."""
        if axis == 0:
            return model.in_h, model.out_h, model.kh_ext, model.sh
        return model.in_w, model.out_w, model.kw_ext, model.sw

    def tiles(self, axis, t):
        """Extents of layer j's tiles along ``axis``."""
        size = self.geometry(self.models[-1], axis)[1]
        n = ceil_div(size, t)
        return [t] * (n - 1) + [size - (n - 1) * t]

    def new_extents(self, axis, t):
        """Cached halos: the new outputs each chain layer makes per tile, its consumer's new outputs
        times the consumer's stride (the rest is in the consumer's buffer)."""
        ext = [t]
        for consumer in reversed(self.models[1:]):
            size_in, _, _, s = self.geometry(consumer, axis)
            ext.append(min(ext[-1] * s, size_in))
        return ext[::-1]

    def windows(self, axis, extents):
        """Recomputed halos: per chain layer, the outputs it computes for tiles of ``extents`` outputs
        of layer j: its consumer's whole input window of each of them."""
        lists = [list(extents)]
        for consumer in reversed(self.models[1:]):
            size_in, size_out, k, s = self.geometry(consumer, axis)
            lists.append([span("conv", e, size_in, size_out, k, s) for e in lists[-1]])
        return lists[::-1]

    def calls(self, axis, t, recompute):
        """Per chain layer, the extent of each of its unit calls along ``axis``. Recomputed: one call
        per tile. Cached: calls of the new extent while whole ones fit in the layer's output, then one
        for the rest."""
        tiles = self.tiles(axis, t)
        if recompute:
            return self.windows(axis, tiles)
        out = []
        for model, f in zip(self.models, self.new_extents(axis, t)):
            size = self.geometry(model, axis)[1]
            c = [f] * min(len(tiles) - 1, math.floor(size / f))
            if size - sum(c) > 0:
                c.append(size - sum(c))
            out.append(c)
        return out

    def tile_extents(self, axis, t, recompute):
        """Per chain layer, the outputs it computes for one full tile."""
        return [w[0] for w in self.windows(axis, [t])] if recompute else self.new_extents(axis, t)

    def footprint(self, mode, h, w, in_on_chip, out_on_chip):
        """SRAM of one tile: double-buffered input and output tiles (unless those tensors are on chip
        anyway) and a buffer per intermediate tensor holding its consumer's window. With halo rows
        cached, the rows shared with the next band are kept at full width; the other rows (all of
        them when rows are recomputed) span the tile's columns and their halo."""
        rec_r, rec_c = self.recomputed(mode)
        er, ec = self.tile_extents(0, h, rec_r), self.tile_extents(1, w, rec_c)
        foot = 0.0
        for k, model in enumerate(self.models):
            if rec_r:
                rows, halo = span("conv", er[k], model.in_h, model.out_h, model.kh_ext, model.sh), 0
            else:
                rows = min(er[k] * model.sh + max(model.kh_ext - model.sh, 0), model.in_h)
                halo = min(max(model.kh_ext - model.sh, 0), rows)
            if rec_c:
                cols = span("conv", ec[k], model.in_w, model.out_w, model.kw_ext, model.sw)
            else:
                cols = min(ec[k] * model.sw + max(model.kw_ext - model.sw, 0), model.in_w)
            window = (halo * model.in_w + (rows - halo) * cols) * padded(model.in_c, model.align) * model.ab
            if k > 0:
                foot += window
            elif in_on_chip == 0:
                foot += 2 * window
        last = self.models[-1]
        if out_on_chip == 0:
            foot += 2 * h * w * padded(last.out_c, last.align) * last.ab
        return foot

    def space(self):
        """SRAM the tiles may use: at each chain layer, the activation SRAM less the kept tensors alive
        there that are not the chain's own intermediates; -1 when its weights cannot all be on chip."""
        net, hw = self.net, self.net.hw
        chain_weights = sum(r.param_bytes for r in self.runs)
        if net.weight_bytes <= 0 and not hw.sram.unified and chain_weights > hw.sram.filter_kb * 1024:
            return -1.0
        intermediates = set(range(self.i, self.j))
        avail = INF
        for l in range(self.i, self.j + 1):
            others = sum(net.runs[p].out_bytes for p in net.kept
                         if p not in intermediates and l in net.graph.lifetime(p))
            if hw.sram.unified:
                base = hw.sram.unified_kb * 1024 - (net.weight_bytes if net.weight_bytes > 0 else chain_weights)
            else:
                base = net.capacity[l]
            avail = min(avail, base - others)
        return avail

    def compute(self, mode, h, w):
        """(compute cycles, outputs computed per output) of each chain layer: one unit call per pair
        of a row call and a column call; SCALE-Sim's -1 once per layer."""
        rec_r, rec_c = self.recomputed(mode)
        cycles, factors = [], []
        for run, model, rows, cols in zip(self.runs, self.models, self.calls(0, h, rec_r), self.calls(1, w, rec_c)):
            calls = sum(unit_cycles(model, r * c, run.rec["unit"]) + 1 for r in rows for c in cols) - 1
            cycles.append(calls / class_efficiency(model.layer, model.hw))
            factors.append(sum(rows) * sum(cols) / (model.out_h * model.out_w))
        return cycles, factors

    def input_extent(self, axis, t, recompute):
        """(input rows or columns of the first layer loaded in all, by the first tile)."""
        first = self.models[0]
        size_in, size_out, k, s = self.geometry(first, axis)
        if recompute:
            reads = [span("conv", e, size_in, size_out, k, s) for e in self.calls(axis, t, True)[0]]
            return sum(reads), reads[0]
        tiles = self.tiles(axis, t)
        head = span("conv", self.new_extents(axis, t)[0] if len(tiles) > 1 else size_out, size_in, size_out, k, s)
        return size_in, head

    def cost(self, mode, h, w, in_on_chip, out_on_chip):
        """(total cycles, DRAM read, DRAM write, tiles, input bytes loaded, per-layer compute,
        per-layer recompute factors)."""
        net, hw = self.net, self.net.hw
        first, last = self.models[0], self.models[-1]
        rec_r, rec_c = self.recomputed(mode)
        per_layer, factors = self.compute(mode, h, w)
        heights, widths = self.tiles(0, h), self.tiles(1, w)
        n_tiles = len(heights) * len(widths)
        in_px = padded(first.in_c, first.align) * first.ab * (1 - in_on_chip)
        out_px = padded(last.out_c, last.align) * last.ab * (1 - out_on_chip)
        weights = sum(r.param_bytes * net.filter_dram for r in self.runs)
        rows_all, rows_head = self.input_extent(0, h, rec_r)
        cols_all, cols_head = self.input_extent(1, w, rec_c)
        # the first tile loads the input its outputs need; later tiles share the rest evenly
        loads = [rows_head * cols_head * in_px]
        if n_tiles > 1:
            loads += [(rows_all * cols_all * in_px - loads[0]) / (n_tiles - 1)] * (n_tiles - 1)
        stores = [th * tw * out_px for th in heights for tw in widths]
        steps = [(loads[t] + (weights if t == 0 else 0.0), sum(per_layer) / n_tiles, stores[t])
                 for t in range(n_tiles)]
        total, _ = replay_dma(steps, hw.dram_bytes_per_cycle, hw.dram_latency_cycles)
        read = sum(s[0] for s in steps)
        write = sum(s[2] for s in steps)
        return total, read, write, float(n_tiles), sum(loads), per_layer, factors

    def best(self, exhaustive=False):
        """The fastest tile schedule that fits (dict or None). Full-width bands with cached halos when
        one fits; otherwise, under each halo mode, tiles of half the width, a quarter, ... while
        narrower tiles keep getting faster. At each width: the tallest band that fits and its halves.
        ``exhaustive``: every mode at every width, whether or not a full-width band fits (to measure
        what the engine's bounded search gives up)."""
        avail = self.space()
        if avail <= 0:
            return None
        in_on_chip = self.net.in_share[self.i]
        out_on_chip = 1.0 if self.j in self.net.kept else 0.0
        out_h, out_w = self.models[-1].out_h, self.models[-1].out_w

        def tallest(mode, w):
            return next((h for h in range(int(out_h), 0, -1)
                         if self.footprint(mode, h, w, in_on_chip, out_on_chip) <= avail), 0)

        def fastest(mode, h, w):
            found = None
            for _ in range(WALK_CHOICES):
                t, r, wr, tiles, in_b, per_layer, factors = self.cost(mode, h, w, in_on_chip, out_on_chip)
                if found is None or _better(t, r + wr, found["total"], found["read"] + found["write"]):
                    found = dict(total=t, read=r, write=wr, tiles=tiles, mode=mode, input_bytes=in_b,
                                 per_layer=per_layer, factors=factors)
                if h == 1:
                    break
                h = ceil_div(h, 2)
            return found

        if not exhaustive and "cache" in self.MODES and tallest("cache", out_w) > 0:
            return fastest("cache", tallest("cache", out_w), out_w)
        best = None
        for mode in self.MODES:
            previous = INF
            widths = [out_w] if exhaustive and mode == "cache" else []
            w = out_w
            while w > 1:
                w = ceil_div(w, 2)
                widths.append(w)
            for w in widths:
                h = tallest(mode, w)
                if h == 0:
                    continue
                here = fastest(mode, h, w)
                if best is None or _better(here["total"], here["read"] + here["write"],
                                           best["total"], best["read"] + best["write"]):
                    best = here
                if here["total"] >= previous * (1 - TIE) and not exhaustive:
                    break   # narrower tiles stopped paying off
                previous = here["total"]
        return best


class NetworkModel:
    """A network on one config: phase 1 per layer, then residency, weight residency and fused
    chains as the config's memory policy asks."""

    def __init__(self, layers, shapes, hw):
        self.hw = hw
        self.graph = Graph(layers, shapes)
        self.runs = [phase1(LayerModel(layer, hw, shapes)) for layer in layers]
        self.weight_bytes = 0.0
        self.filter_dram = 1.0
        self.kept, self.capacity, self.in_share = [], [0.0] * len(layers), [0.0] * len(layers)

    def run(self):
        self.place()
        for run in self.runs:   # calibration: every layer that ran, its op class's overhead
            overhead = self.hw.overhead_us_of(op_class(run.model.layer)) * self.hw.clock_mhz
            if overhead > 0 and run.model.op != "concat" and run.ok:
                run.rec["total_cycles"] += overhead
                finish(run)

    def place(self):
        hw, runs = self.hw, self.runs
        if not all(r.ok for r in runs):
            return   # a network that cannot run keeps phase 1's numbers
        if hw.activation_policy == "dram" and not hw.weights_resident:
            return
        if hw.weights_resident:
            self.weight_bytes = weights_on_chip_bytes(runs, hw)
        self.filter_dram = 0.0 if self.weight_bytes > 0 else 1.0
        if hw.activation_policy != "dram":
            self.kept, self.capacity = place_resident(self.graph, runs, hw, self.weight_bytes)
        else:
            self.capacity = [activation_capacity(r, hw, self.weight_bytes) for r in runs]
        self.in_share = [float(sum(self.graph.input_share(j, p) for p in self.kept)) for j in range(len(runs))]
        for j, run in enumerate(runs):
            if run.model.op == "concat":
                continue
            out_on_chip = 1.0 if j in self.kept else 0.0
            # resident weights spare the walk its filter loads, but not a matmul's second operand
            filter_dram = 1.0 if run.model.op == "matmul" else self.filter_dram
            if self.in_share[j] > 0 or out_on_chip > 0 or self.filter_dram == 0:
                # the same tiles as phase 1's walk, with the on-chip operands' transfers left out
                total, read, write, n = walk(run.model, run.tiling, run.rec["compute_cycles"],
                                             1 - self.in_share[j], filter_dram, 1 - out_on_chip)
                run.rec.update(total_cycles=total, dram_read_bytes=read, dram_write_bytes=write, tiles=n)
            run.rec["input_on_chip"] = self.in_share[j]
            run.rec["output_on_chip"] = out_on_chip
            run.rec["weights_on_chip"] = 1.0 - self.filter_dram if run.param_bytes > 0 else 0.0
        if hw.activation_policy == "fused":
            self.fuse()
        for run in runs:
            if run.model.op != "concat":
                finish(run)

    # -- fused policy ----------------------------------------------------------------------------
    def chainable(self, j):
        """Layer j may continue a chain from layer j-1: both convolutions, and j is the only reader
        of j-1's output."""
        prev, layer = self.graph.layers[j - 1], self.graph.layers[j]
        return (layer.op == "conv" and prev.op == "conv" and self.graph.readers[j - 1] == [(j, 0)]
                and self.graph.may_stay(j - 1))

    def chainable_runs(self):
        """Maximal runs first..last of layers linked by chainable links (a single layer is a run)."""
        first = 0
        for j in range(1, len(self.runs) + 1):
            if j == len(self.runs) or not self.chainable(j):
                yield first, j - 1
                first = j

    def candidate_chains(self):
        """Every run i..j of 2..MAX_CHAIN layers whose every link is chainable."""
        n = len(self.runs)
        for i in range(n):
            for j in range(i + 1, min(n, i + MAX_CHAIN)):
                if all(self.chainable(l) for l in range(i + 1, j + 1)):
                    yield i, j

    def fuse(self):
        """Run chains depth-first where that is faster than their layers one by one and moves no more
        DRAM bytes; a chain's layers share its cycles in proportion to their compute."""
        accepted = {}
        for i, j in self.candidate_chains():
            chain = Chain(self, i, j)
            # banding never computes in fewer cycles than the whole layers: layers that do not stall
            # one by one cannot run faster depth-first
            if sum(r.rec["total_cycles"] for r in chain.runs) <= sum(
                    r.rec["compute_cycles"] for r in chain.runs) * (1 + TIE):
                continue
            best = chain.best()
            if best is None:
                continue
            alone_t = sum(r.rec["total_cycles"] for r in chain.runs)
            alone_b = sum(r.rec["dram_read_bytes"] + r.rec["dram_write_bytes"] for r in chain.runs)
            # taken only when faster than the layers one by one and moving no more DRAM bytes
            if best["total"] < alone_t * (1 - TIE) and best["read"] + best["write"] <= alone_b * (1 + TIE):
                accepted[(i, j)] = (chain, best)
        # Every plan: a run of chainable layers cut into segments, each a layer alone or an accepted
        # chain (runs are independent: no chain crosses a link that is not chainable). The cheapest
        # wins; plans within TIE of it are equally cheap (exact ties are common: a chain often saves
        # whole DMA latencies), and among those the one whose segments, read from the run's last
        # layer back, are the shortest first.
        totals = [r.rec["total_cycles"] for r in self.runs]

        def plans(first, last):
            if first > last:
                yield ()
                return
            for (i, j), (_, best) in accepted.items():
                if i == first:
                    for rest in plans(j + 1, last):
                        yield ((i, j, best["total"]),) + rest
            for rest in plans(first + 1, last):
                yield ((first, first, totals[first]),) + rest

        best_plan = []
        for first, last in self.chainable_runs():
            scored = [(sum(t for _, _, t in plan), tuple(j - i + 1 for i, j, _ in reversed(plan)), plan)
                      for plan in plans(first, last)]
            cheapest = min(cost for cost, _, _ in scored)
            plan = min((p for p in scored if p[0] <= cheapest * (1 + TIE)), key=lambda p: p[1])[2]
            best_plan += [(i, j) for i, j, _ in plan if j > i]
        for key in best_plan:
            chain, best = accepted[key]
            compute = sum(best["per_layer"])
            for k, (run, cycles) in enumerate(zip(chain.runs, best["per_layer"])):
                l = chain.i + k
                rec = run.rec
                weights = run.param_bytes * self.filter_dram
                rec.update(compute_cycles=cycles, total_cycles=best["total"] * cycles / compute,
                           dram_read_bytes=weights + (best["input_bytes"] if k == 0 else 0.0),
                           dram_write_bytes=best["write"] if l == chain.j else 0.0, tiles=best["tiles"],
                           fused_chain=chain.i + 1, fuse_mode=best["mode"])
                # recomputed outputs cost their MACs and their SRAM traffic again
                factor = best["factors"][k]
                run.dynamic_pj *= factor
                run.sram_r *= factor
                run.sram_w *= factor
                if l > chain.i:
                    rec["input_on_chip"] = 1.0
                if l < chain.j:
                    rec["output_on_chip"] = 1.0


# ------------------------------------------------------------------------------------------------
# Entry points
# ------------------------------------------------------------------------------------------------
def roofline_layer(model: LayerModel) -> dict:
    """One layer on a roofline device: the larger of its compute time and its DRAM time, plus the
    per-layer overhead of its op class, in cycles of the reporting clock.

    compute: ops / (peak rate x efficiency curve x calibration), a MAC being two ops of the rate; the
    rate is the op class's in the slower of the layer's formats (its activations' alone for element
    ops); curve = outputs / (outputs + half_outputs). DRAM: every operand once, the input again for
    every half-cache chunk of the weights when the weights and one output row's input rows overflow
    the cache.
    """
    rec = _empty_record()
    layer, hw = model.layer, model.hw
    if layer.op == "concat":
        return rec
    rates = {p.name: p for p in hw.precisions}
    cls = op_class(layer)
    mac_op = layer.op in ("conv", "conv_transpose", "matmul")
    formats = (layer.weight_precision, layer.act_precision) if mac_op else (layer.act_precision,)
    if any(f not in rates for f in formats):
        rec.update(status="no_unit", array_cycles=INF, vector_cycles=INF)
        return rec
    peak_ops_per_s = min(rates[f].gops(cls) for f in formats) * 1e9
    ops = model.ops * (2 if mac_op else 1)
    outputs = layer.output_elements
    curve = outputs / (outputs + hw.roofline.half_outputs)
    seconds = ops / (peak_ops_per_s * curve * hw.calibration.efficiency.of(cls))
    compute = seconds * hw.clock_mhz * 1e6
    input_bytes = model.in_h * model.in_w * model.in_c * model.ab * model.in_factor
    band = model.rows_read(1) * model.in_w * model.in_c * model.ab * model.in_factor
    weights = model.filter_elems * model.fb
    cache = hw.roofline.cache_kb * 1024
    passes = max(1, ceil_div(weights, cache / 2)) if weights + band > cache else 1
    read, write = input_bytes * passes + weights, outputs * model.ab
    memory = (read + write) / hw.dram.bandwidth_gb_per_s / 1e9 * hw.clock_mhz * 1e6
    total = max(compute, memory) + hw.overhead_us_of(cls) * hw.clock_mhz
    unit = "vector" if cls == "elementwise" else "array"
    e_op = max(rates[f].energy_per_op_pj for f in formats)
    rec.update(unit=unit, compute_cycles=compute, total_cycles=total, stall_cycles=total - compute, ops=model.ops,
               array_cycles=compute if unit == "array" else INF, vector_cycles=compute if unit == "vector" else INF,
               dram_read_bytes=read, dram_write_bytes=write, sram_read_bytes=write, sram_write_bytes=read,
               tiles=float(passes), mapping_efficiency=curve,
               utilization=ops / (seconds * peak_ops_per_s) * compute / total,
               energy_pj=ops * e_op + (read + write) * hw.dram.energy_per_byte_pj
               + total * hw.static_power_mw * 1e3 / hw.clock_mhz)
    return rec


def simulate_network(net: Network, hw: Hardware) -> list[dict]:
    """One record per layer (keys ``OUT_NAMES``)."""
    shapes = {INPUT: net.input_shape}
    for layer in net.layers:
        shapes[layer.name] = layer.out_shape
    if hw.kind == "roofline":
        return [roofline_layer(LayerModel(layer, hw, shapes)) for layer in net.layers]
    model = NetworkModel(list(net.layers), shapes, hw)
    model.run()
    return [r.rec for r in model.runs]


def simulate_layer(layer: Layer, hw: Hardware, shapes: dict | None = None) -> dict:
    """One layer as a network of its own: every operand comes from DRAM (``shapes`` gives the shapes
    of its extra operands; by default each input has the layer's input shape)."""
    shapes = dict(shapes or {})
    for src in layer.inputs:
        shapes.setdefault(src, layer.in_shape)
    shapes[layer.name] = layer.out_shape
    if hw.kind == "roofline":
        return roofline_layer(LayerModel(layer, hw, shapes))
    model = NetworkModel([layer], shapes, hw)
    model.run()
    return model.runs[0].rec


def input_rows(layer: Layer, h: int) -> int:
    """Input rows ``h`` output rows of ``layer`` read (halo included, padding not read)."""
    return span(layer.op, h, layer.in_shape[0], layer.out_shape[0], layer.effective_kernel[0], layer.stride[0])
