"""Engine results -> per-layer service steps for the system model (engine or host CPU, any batch size).

Each step of a request is one layer, on the engine or on the host, described by four numbers in
engine clock cycles and bytes:

``time``   the layer's time with the DRAM port to itself: the engine's ``total_cycles`` (compute +
           DMA stalls), or for a host layer ops / host rate + the handoff.
``bytes``  DRAM bytes the layer moves (reads + writes).
``hide``   how long the layer's transfers may take before they delay it: ``max(compute, bytes /
           bandwidth)`` on the engine (double-buffered DMA hides transfers behind compute, and a
           memory-bound layer already waits for its bytes), ``time`` on the host.
``unit``   ENGINE or HOST.

Under contention the port gives the layer's transfer a share of the bandwidth, so its bytes
finish ``dma_elapsed`` after the layer starts, and the layer ends at
``start + time + max(0, dma_elapsed - hide)``. With the port to itself ``dma_elapsed = bytes /
bandwidth <= hide``, so the layer takes exactly the engine's ``total_cycles``.

Batching N requests of one stream runs each layer once for all N: compute scales with N, weights
are read from DRAM once (``bytes_N = N * bytes - (N - 1) * weight_bytes``), and the exposed DMA
stall scales with the bytes moved (``stall_N = stall * bytes_N / bytes``). The engine itself
simulates batch 1 only; this is the simplest model that keeps ``time_N >= bytes_N / bandwidth``
and ``time_N <= N * time``.

Placement across requests and streams: with ``memory.weights_resident`` the engine keeps a
network's weights on chip between back-to-back requests; streams sharing the engine keep theirs
only when all of their parameters fit the weight SRAM together (:func:`shared_weights_hardware`),
otherwise every request loads its weights. A stream with layers on the host CPU runs its engine
layers with every tensor through DRAM (the host reads and writes DRAM, so nothing handed to or
from it can stay in the engine's SRAM).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

import numpy as np

from .. import precision as prec
from ..config import Hardware
from ..engine import tables as T
from ..engine.simulate import Report, _precision_problem, memory_figures, simulate_many
from ..errors import ConfigError, MappingError
from ..workload.ir import INPUT, Network
from .scenario import HostSpec, StreamSpec

ENGINE, HOST = 0, 1


def _elements(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def host_ops(layer) -> float:
    """Operations a CPU executes for a layer: 2 per MAC, else element ops per output."""
    if layer.macs:
        return 2.0 * layer.macs
    if layer.op == "concat":
        return 0.0
    kh, kw = layer.kernel
    per_out = {"pool": kh * kw, "upsample": 4 if (kh, kw) == (2, 2) else 1,
               "add": max(1, len(layer.inputs) - 1)}.get(layer.op, 1)
    return float(layer.output_elements * per_out)


def host_bytes(net: Network, layer) -> tuple[float, float]:
    """(activation bytes read + written, weight bytes) of a layer run on the CPU, from DRAM."""
    act = prec.BYTES_PER_ELEMENT[layer.act_precision]
    shapes = {INPUT: net.input_shape}
    ins = 0
    for src in layer.inputs:
        ins += _elements(shapes[src] if src == INPUT else net.layer(src).out_shape)
    if layer.op == "concat":
        return 0.0, 0.0
    weights = layer.weight_elements * prec.BYTES_PER_ELEMENT[layer.weight_precision]
    return float((ins + layer.output_elements) * act), float(weights)


@dataclass(frozen=True, eq=False)
class StreamService:
    """A stream's engine report and the layer steps the system model walks."""

    stream: StreamSpec
    network: Network
    report: Report           # engine results; layers the engine cannot run have status != 0
    on_host: np.ndarray      # bool per layer
    host_flops: np.ndarray   # ops per layer if run on the host
    host_act_bytes: np.ndarray
    host_weight_bytes: np.ndarray

    def steps(self, batch: int, hw: Hardware, host: HostSpec) -> list:
        """[(unit, time_cycles, dram_bytes, hide_cycles, layer_index)] for a batch of ``batch``, zero-cost layers left out."""
        cache = self.__dict__.setdefault("_steps", {})
        key = (batch, host)
        if key in cache:
            return cache[key]
        pl = self.report.per_layer
        bw = hw.dram_bytes_per_cycle
        clock_hz = hw.clock_mhz * 1e6
        host_ops_per_cycle = host.gops * 1e9 / clock_hz
        handoff = host.handoff_s * clock_hz
        out = []
        prev_host = False
        for i in range(pl.shape[1]):
            if self.on_host[i]:
                t = batch * self.host_flops[i] / host_ops_per_cycle + (0.0 if prev_host else handoff)
                b = batch * self.host_act_bytes[i] + self.host_weight_bytes[i]
                prev_host = True
                if t > 0 or b > 0:
                    out.append((HOST, float(t), float(b), float(t), i))
                continue
            compute, stall, total = pl[T.O_COMPUTE, i], pl[T.O_STALL, i], pl[T.O_TOTAL, i]
            b1 = pl[T.O_DRAM_R, i] + pl[T.O_DRAM_W, i]
            if batch == 1:
                t, b, c = total, b1, compute
            else:
                layer = self.network.layers[i]
                weights = min(layer.weight_elements * prec.BYTES_PER_ELEMENT[layer.weight_precision],
                              pl[T.O_DRAM_R, i])
                b = batch * b1 - (batch - 1) * weights
                c = batch * compute
                t = c + (stall * b / b1 if b1 > 0 else batch * stall)
            if t > 0 or b > 0:   # free views (concat, reshape) neither take time nor end a host run
                out.append((ENGINE, float(t), float(b), float(max(c, b / bw)), i))
                prev_host = False
        cache[key] = out
        return out

    @property
    def engine_latency_cycles(self) -> float:
        return float(self.report.per_layer[T.O_TOTAL][~self.on_host].sum())


def _matches(layer, patterns) -> bool:
    return any(layer.op == p or fnmatchcase(layer.name, p) for p in patterns)


def shared_weights_hardware(hw: Hardware, nets) -> Hardware:
    """``hw`` as the streams see it: weights stay on chip across requests only if every stream's
    parameters fit the weight SRAM together (the filter buffer, or half a unified buffer)."""
    if not hw.weights_resident or len(nets) <= 1:
        return hw
    total = sum(memory_figures(n, hw).param_bytes for n in nets)
    room = (hw.sram.unified_kb / 2 if hw.sram.unified else hw.sram.filter_kb) * 1024.0
    return hw if total <= room else hw.replace(weights_resident=False)


def build_service(stream: StreamSpec, net: Network, hw: Hardware, source: str = "<scenario>") -> StreamService:
    """Run the engine on the stream's network and decide which layers fall back to the host CPU.

    A layer goes to the host when ``host_ops`` names it or the engine has no unit for it (e.g. no
    vector unit for pooling). A format the hardware lacks, or a layer that fits no SRAM tiling,
    stays an error: the first is a model/hardware mismatch, the second a config to fix.
    """
    problem = _precision_problem(net, hw)
    if problem:
        raise MappingError(f"{source}: streams.{stream.name}: {problem}")
    report = simulate_many([net], [hw]).report(0, 0)
    status = report.per_layer[T.O_STATUS]
    forced = np.array([_matches(layer, stream.host_ops) for layer in net.layers], dtype=bool)
    if (forced | (status == T.STATUS_NO_UNIT)).any() and hw.activation_policy != "dram":
        report = simulate_many([net], [hw.replace(activation_policy="dram")]).report(0, 0)
        status = report.per_layer[T.O_STATUS]
    for pattern in stream.host_ops:
        if not any(_matches(layer, (pattern,)) for layer in net.layers):
            raise ConfigError(f"{source}: streams.{stream.name}.host_ops: {pattern!r} matches no op kind or "
                              f"layer name of {net.name}")
    bad = np.nonzero((status == T.STATUS_NO_TILING) & ~forced)[0]
    if bad.size:
        layer = net.layers[int(bad[0])]
        raise MappingError(f"{source}: streams.{stream.name}: layer {layer.name!r} of {net.name} fits no tiling "
                           f"in the SRAM of hardware {hw.name!r}; list it in host_ops to run it on the CPU")
    on_host = forced | (status == T.STATUS_NO_UNIT)
    ops = np.array([host_ops(layer) for layer in net.layers])
    hb = np.array([host_bytes(net, layer) for layer in net.layers]).reshape(-1, 2)
    return StreamService(stream, net, report, on_host, ops, hb[:, 0], hb[:, 1])
