"""Hardware description: YAML (or a SCALE-Sim ``.cfg``) -> validated, frozen dataclasses.

A config is of one of two kinds (``kind:``): ``systolic`` (the default: a MAC array, a vector unit and
SRAM buffers) or ``roofline`` (a processor described by peak rates per op class and format, DRAM
bandwidth, a cache and a per-layer overhead; its array, vector, sram and area fields are None). Either
may carry a ``calibration:`` section (per-layer overhead, per-op-class efficiency), left out of the
YAML form at its defaults. :func:`require_kind` is the one-line error for code that needs one kind.

Every field carries a unit, a one-line description and its bounds in its metadata, from which
:data:`HARDWARE_SCHEMA` (JSON Schema, see :mod:`accelsim.schema`) is built: it checks every path that
builds a config (a file, a SCALE-Sim ``.cfg``, ``Hardware.replace``, a search space's candidates)
and gives the config reference in the README (``accelsim.config.reference_markdown()``). Errors name the file, the key path and what was
expected, e.g. ``hw_configs/edge.yaml: memory.sram.ifmap_kb: expected a positive number, got -4``.
``hardware_to_dict`` gives the YAML form back; ``Hardware.replace`` edits that form and rebuilds through
``hardware_from_dict``, so a changed config is checked exactly as a file is. Every numeric field has a
documented sane range (the README's range column): a value outside is a typo or a unit mistake. YAML
files (configs, scenarios, precision maps) are read as UTF-8 by :func:`accelsim.io.read_yaml`, which
refuses duplicate keys and alias expansions beyond ``MAX_YAML_VALUES`` in one line naming the file and line.
"""

from __future__ import annotations

import configparser
import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from . import precision as prec
from . import schema
from .errors import ConfigError, one_line, quote, read_text
from .io import read_yaml

DATAFLOWS = ("os", "ws", "is")
ACTIVATION_POLICIES = ("dram", "resident", "fused")
KINDS = ("systolic", "roofline")   # what the config describes: a MAC array, or a processor by its rates
OP_CLASSES = ("dense", "depthwise", "elementwise")   # what calibration efficiencies and roofline rates are per
# Upper ends of the sane ranges (documented per key in the README's config reference).
MAX_ARRAY_SIDE = 65536       # PE rows, columns, vector lanes
MAX_SRAM_KB = 2 ** 30        # 1 TiB per buffer
MAX_ENERGY_PJ = 1e6          # per MAC, op or byte
MAX_AREA_MM2 = 1e6           # per PE, lane, KiB or fixed block
MAX_GOPS = 1e8               # 100 Pop/s, per op class and format
MAX_OVERHEAD_US = 1e6        # one second per layer
MAX_OUTPUTS = 2 ** 40        # output elements of one layer


_f = schema.field   # unit, meaning, sign bound and sane range of a field: the schema is built from them


@dataclass(frozen=True)
class ArrayConfig:
    """The systolic MAC array: its shape sets the parallelism factor channels should align to."""

    rows: int = _f("PEs", "PE rows (SCALE-Sim ArrayHeight); OS maps output pixels here, WS/IS the reduction",
                   high=MAX_ARRAY_SIDE)
    cols: int = _f("PEs", "PE columns (SCALE-Sim ArrayWidth); OS/WS map output channels here",
                   high=MAX_ARRAY_SIDE)
    dataflow: str = _f("-", "systolic dataflow: os (output), ws (weight) or is (input) stationary",
                       minimum=None, choices=DATAFLOWS)
    clock_mhz: float = _f("MHz", "clock of the array, vector unit and DMA", low=1e-3, high=1e6)


@dataclass(frozen=True)
class PrecisionConfig:
    """One numeric format the MAC array supports."""

    name: str = _f("-", "format name", minimum=None, choices=prec.NAMES)
    macs_per_pe_per_cycle: int = _f("MAC/PE/cycle", "MACs one PE completes per cycle in this format "
                                    "(sub-word packing of the reduction dimension)", high=1024)
    energy_per_mac_pj: float = _f("pJ", "dynamic energy of one MAC", strict=False, high=MAX_ENERGY_PJ)
    bytes_per_element: float = _f("B", "storage size of one element (default: int4 0.5, int8 1, "
                                  "int16/fp16/bf16 2, fp32 4)", default=None, high=64)

    def __post_init__(self):
        if self.bytes_per_element is None:
            object.__setattr__(self, "bytes_per_element", prec.BYTES_PER_ELEMENT[self.name])


@dataclass(frozen=True)
class VectorConfig:
    """SIMD unit for depthwise conv, pooling, element-wise ops and activations."""

    lanes: int = _f("lanes", "SIMD lanes; channels are spread across lanes (0 = no vector unit)",
                    strict=False, high=MAX_ARRAY_SIDE)
    ops_per_lane_per_cycle: tuple = _f("op/lane/cycle", "per format: MACs or element ops one lane "
                                       "completes per cycle", low=1e-3, high=1024)
    energy_per_op_pj: float = _f("pJ", "dynamic energy of one vector op", strict=False, high=MAX_ENERGY_PJ)

    def ops(self, name: str) -> float:
        return dict(self.ops_per_lane_per_cycle).get(name, 0.0)


@dataclass(frozen=True)
class SramConfig:
    """On-chip buffers: separate ifmap/filter/ofmap (as SCALE-Sim) or one unified buffer."""

    energy_per_byte_pj: float = _f("pJ/B", "energy of one SRAM byte read or written", strict=False,
                                   high=MAX_ENERGY_PJ)

    ifmap_kb: float = _f("KiB", "input-activation buffer (double-buffered: half holds a tile)", default=None,
                         high=MAX_SRAM_KB)
    filter_kb: float = _f("KiB", "weight buffer (double-buffered)", default=None, high=MAX_SRAM_KB)
    ofmap_kb: float = _f("KiB", "output-activation buffer (double-buffered)", default=None, high=MAX_SRAM_KB)
    unified_kb: float = _f("KiB", "one buffer shared by all three operands, instead of the three above",
                           default=None, high=MAX_SRAM_KB)

    @property
    def unified(self) -> bool:
        return self.unified_kb is not None

    @property
    def total_kb(self) -> float:
        if self.unified:
            return self.unified_kb
        return self.ifmap_kb + self.filter_kb + self.ofmap_kb


@dataclass(frozen=True)
class DramConfig:
    """Off-chip memory port shared by all DMA transfers."""

    bandwidth_gb_per_s: float = _f("GB/s", "sustained DRAM bandwidth (10^9 bytes per second)", low=1e-3,
                                   high=1e6)
    latency_ns: float = _f("ns", "fixed latency added to every DMA transfer", strict=False, high=1e9)
    energy_per_byte_pj: float = _f("pJ/B", "energy of one DRAM byte transferred", strict=False,
                                   high=MAX_ENERGY_PJ)


@dataclass(frozen=True)
class AreaConfig:
    """Silicon area model, so a hardware search can trade area against latency and energy."""

    pe_mm2: float = _f("mm²", "one PE of the MAC array", strict=False, high=MAX_AREA_MM2)
    sram_mm2_per_kb: float = _f("mm²/KiB", "SRAM macro area per KiB", strict=False, high=MAX_AREA_MM2)
    vector_lane_mm2: float = _f("mm²", "one vector-unit lane", strict=False, high=MAX_AREA_MM2)
    fixed_mm2: float = _f("mm²", "control, DMA and interconnect not scaled with the above", strict=False,
                          high=MAX_AREA_MM2)


@dataclass(frozen=True)
class RooflineFormat:
    """One numeric format of a roofline device: its peak rate per op class (1 MAC = 2 ops)."""

    name: str = _f("-", "format name", minimum=None, choices=prec.NAMES)
    dense_gops: float = _f("Gop/s", "peak rate of dense layers (conv with groups 1, conv-transpose, matmul); "
                           "1 MAC = 2 ops", high=MAX_GOPS)
    depthwise_gops: float = _f("Gop/s", "peak rate of grouped and depthwise convs; 1 MAC = 2 ops", high=MAX_GOPS)
    elementwise_gops: float = _f("Gop/s", "peak rate of pool, add, multiply, activation and upsample layers; "
                                 "one op per window tap or per extra operand of an output element", high=MAX_GOPS)
    energy_per_op_pj: float = _f("pJ", "dynamic energy of one op (a MAC is 2 ops)", strict=False,
                                 high=MAX_ENERGY_PJ)
    bytes_per_element: float = _f("B", "storage size of one element (default: int4 0.5, int8 1, "
                                  "int16/fp16/bf16 2, fp32 4)", default=None, high=64)

    def __post_init__(self):
        if self.bytes_per_element is None:
            object.__setattr__(self, "bytes_per_element", prec.BYTES_PER_ELEMENT[self.name])

    def gops(self, op_class: str) -> float:
        return getattr(self, f"{op_class}_gops")


@dataclass(frozen=True)
class RooflineConfig:
    """A processor (GPU, CPU core, DSP) described by its peak rates, DRAM bandwidth and cache, not by a
    MAC array: a layer takes max(ops / (peak x efficiency), DRAM bytes / bandwidth) + overhead."""

    clock_mhz: float = _f("MHz", "clock that turns time into the reported cycles (cycles = seconds x clock)",
                          low=1e-3, high=1e6)
    cache_kb: float = _f("KiB", "last-level cache: when a layer's weights and one input row band do not fit, "
                         "its input is read ceil(weight bytes / half the cache) times", high=MAX_SRAM_KB)
    layer_overhead_us: float = _f("µs", "fixed launch or dispatch time of every layer that runs, not overlapped",
                                  strict=False, high=MAX_OVERHEAD_US)
    half_outputs: float = _f("elements", "output elements at which a layer reaches half the peak rate: "
                             "efficiency = outputs / (outputs + half_outputs); 0 = always the peak",
                             strict=False, high=MAX_OUTPUTS)
    area_mm2: float = _f("mm²", "silicon area, when known (absent: area is unknown, nan)", default=None,
                         high=MAX_AREA_MM2)


@dataclass(frozen=True)
class EfficiencyConfig:
    """Share of the modelled compute rate each op class reaches: its compute time is divided by this."""

    dense: float = _f("-", "conv with groups 1, conv-transpose and matmul layers; default 1", high=1.0,
                      default=1.0)
    depthwise: float = _f("-", "grouped and depthwise convs; default 1", high=1.0, default=1.0)
    elementwise: float = _f("-", "pool, add, multiply, activation and upsample layers; default 1", high=1.0,
                            default=1.0)

    def of(self, op_class: str) -> float:
        return getattr(self, op_class)


@dataclass(frozen=True)
class OverheadConfig:
    """Fixed time of each layer of an op class, on top of the per-layer overhead: a runtime dispatches a
    conv (algorithm choice, workspace, several kernels) at a different cost from an element-wise op."""

    dense: float = _f("µs", "added to every conv with groups 1, conv-transpose and matmul layer; default 0",
                      strict=False, high=MAX_OVERHEAD_US, default=0.0)
    depthwise: float = _f("µs", "added to every grouped and depthwise conv; default 0", strict=False,
                          high=MAX_OVERHEAD_US, default=0.0)
    elementwise: float = _f("µs", "added to every pool, add, multiply, activation and upsample layer; default 0",
                            strict=False, high=MAX_OVERHEAD_US, default=0.0)

    def of(self, op_class: str) -> float:
        return getattr(self, op_class)


@dataclass(frozen=True)
class CalibrationConfig:
    """Corrections fitted to a measured device, for either kind; the defaults change nothing."""

    layer_overhead_us: float = _f("µs", "fixed time added to every layer that runs, not overlapped with "
                                  "anything (for kind roofline, added to roofline.layer_overhead_us); default 0",
                                  strict=False, high=MAX_OVERHEAD_US, default=0.0)
    efficiency: EfficiencyConfig = _f("-", "per op class, the share of the modelled compute rate reached",
                                      minimum=None, default=EfficiencyConfig())
    overhead_us: OverheadConfig = _f("µs", "per op class, fixed time added to every layer of that class that "
                                     "runs, on top of layer_overhead_us", minimum=None, default=OverheadConfig())

    @property
    def is_default(self) -> bool:
        return self == CalibrationConfig()


@dataclass(frozen=True)
class Hardware:
    """A complete accelerator description; frozen and hashable, so it can key caches."""

    name: str = _f("-", "short identifier", minimum=None)
    array: ArrayConfig = _f("-", "MAC array", minimum=None)
    precisions: tuple = _f("-", "formats the array supports (mapping format -> {...})", minimum=None)
    vector: VectorConfig = _f("-", "vector unit", minimum=None)
    sram: SramConfig = _f("-", "on-chip buffers", minimum=None)
    dram: DramConfig = _f("-", "off-chip memory", minimum=None)
    memory_budget_mb: float = _f("MiB", "product budget for parameter bytes + peak activation bytes",
                                 high=2 ** 30)
    static_power_mw: float = _f("mW", "leakage and always-on power while a network runs", strict=False, high=1e6)
    area: AreaConfig = _f("-", "area model", minimum=None)
    description: str = _f("-", "free text: what this config models and where its numbers come from",
                          minimum=None, default="")
    # Appended after ``description`` (with defaults) so positional construction elsewhere still works.
    # In the YAML these three sit under ``memory:``.
    activation_policy: str = _f(
        "-", "where activations live between layers: dram (every layer reads its inputs from DRAM and writes "
        "its outputs back, as SCALE-Sim assumes), resident (a tensor stays in SRAM from its producer to its "
        "last consumer when it fits beside the tensors already kept and each layer's working set, otherwise "
        "it spills to DRAM) or fused (resident, and chains such as IBN expand→depthwise→project and fused-IBN "
        "expand→project may run depth-first in row bands, so the expanded tensor never exists whole); "
        "default dram",
        minimum=None, choices=ACTIVATION_POLICIES, default="dram")
    weights_resident: bool = _f("-", "true: keep all parameters on chip across inferences when they fit "
                                "(back-to-back requests); default false", minimum=None, default=False)
    channel_alignment: int = _f("elements", "activations and weights are stored with channels padded to a "
                                "multiple of this; default 1 (no padding)", default=1, high=4096)
    # Appended with defaults for the same reason. A roofline config has no array, vector unit, SRAM or
    # area model (those fields are None); its formats (``precisions``) are RooflineFormat entries.
    kind: str = _f("-", "what the config describes: systolic (a MAC array with a vector unit and SRAM "
                   "buffers, the default) or roofline (a processor described by peak rates per op class, "
                   "DRAM bandwidth and a cache)", minimum=None, choices=KINDS, default="systolic")
    roofline: RooflineConfig = _f("-", "the roofline model (kind roofline only)", minimum=None, default=None)
    calibration: CalibrationConfig = _f("-", "corrections fitted to a measured device", minimum=None,
                                        default=CalibrationConfig())

    # ---- derived quantities (units converted once, here) ----
    def precision(self, name: str) -> PrecisionConfig:
        for p in self.precisions:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def precision_names(self) -> tuple:
        return tuple(p.name for p in self.precisions)

    @property
    def clock_mhz(self) -> float:
        """The clock cycles are counted in: the array's, or a roofline device's reporting clock."""
        return self.roofline.clock_mhz if self.kind == "roofline" else self.array.clock_mhz

    @property
    def dram_bytes_per_cycle(self) -> float:
        return self.dram.bandwidth_gb_per_s * 1e3 / self.clock_mhz

    @property
    def dram_latency_cycles(self) -> float:
        return self.dram.latency_ns * self.clock_mhz / 1e3

    @property
    def layer_overhead_us(self) -> float:
        """Fixed time of every layer that runs: the calibration's, plus a roofline device's own."""
        own = self.roofline.layer_overhead_us if self.kind == "roofline" else 0.0
        return own + self.calibration.layer_overhead_us

    def overhead_us_of(self, op_class: str) -> float:
        """Fixed time of every layer of ``op_class`` that runs: :attr:`layer_overhead_us` plus the
        calibration's per-class overhead."""
        return self.layer_overhead_us + self.calibration.overhead_us.of(op_class)

    @property
    def peak_macs_per_cycle(self) -> dict:
        """Per format, the MACs per cycle of dense layers (a roofline device's dense rate / 2)."""
        if self.kind == "roofline":
            return {p.name: p.dense_gops * 1e3 / self.clock_mhz / 2 for p in self.precisions}
        pe = self.array.rows * self.array.cols
        return {p.name: pe * p.macs_per_pe_per_cycle for p in self.precisions}

    @property
    def peak_tops(self) -> dict:
        """Peak tera-operations per second per format (1 MAC = 2 ops)."""
        return {k: 2 * v * self.clock_mhz * 1e6 / 1e12 for k, v in self.peak_macs_per_cycle.items()}

    @property
    def area_mm2(self) -> float:
        """Silicon area: the systolic area model, or a roofline device's ``roofline.area_mm2`` (nan when
        it gives none)."""
        if self.kind == "roofline":
            return math.nan if self.roofline.area_mm2 is None else self.roofline.area_mm2
        a = self.area
        return (self.array.rows * self.array.cols * a.pe_mm2 + self.sram.total_kb * a.sram_mm2_per_kb
                + self.vector.lanes * a.vector_lane_mm2 + a.fixed_mm2)

    def replace(self, **changes) -> "Hardware":
        """Copy with changes, validated exactly as the YAML loader validates a file.

        A key is a YAML key path joined by ``__`` (``memory__sram__ifmap_kb=256``,
        ``memory__activation_policy="fused"``, ``energy__static_power_mw=20``,
        ``precisions__int8__energy_per_mac_pj=0.1``) or an attribute spelling (``array__rows=64``,
        ``sram__ifmap_kb=256``, ``memory_budget_mb=4``, ``static_power_mw=20``, ``activation_policy=...``,
        ``precisions=(PrecisionConfig, ...)``, ``array=ArrayConfig(...)``; ``calibration__layer_overhead_us=5``,
        ``calibration__efficiency__dense=0.8``, ``roofline__clock_mhz=1500``). None means the key is absent,
        as ``key: null`` in YAML (``sram__unified_kb=None``). Errors read as the loader's, from the source
        ``<name replaced>``: ``<neural_engine replaced>: dram.bandwidth_gb_per_s: expected a positive
        number, got -1``.
        """
        source = f"<{self.name} replaced>"
        data = hardware_to_dict(self)
        for key, value in changes.items():
            path = _replace_path(key, source)
            node = data
            for i, part in enumerate(path[:-1]):
                child = node.get(part)
                if child is None:
                    child = node[part] = {}
                elif not isinstance(child, dict):
                    raise ConfigError(f"{source}: {key}: {'.'.join(path[:i + 1])} is a value, not a section "
                                      "with keys")
                node = child
            node[path[-1]] = _yaml_value(path, value)
        return hardware_from_dict(data, source=source)


# ---------------------------------------------------------------------------------------------
# Parsing and validation
# ---------------------------------------------------------------------------------------------
# Top-level YAML keys; sram, the budget and the activation/weight placement sit under ``memory``.
_TOP_KEYS = ("name", "description", "array", "precisions", "vector", "memory", "dram", "energy", "area", "kind",
             "roofline", "calibration")
_MEMORY_KEYS = ("sram", "memory_budget_mb", "activation_policy", "weights_resident", "channel_alignment")
_HARDWARE_FIELDS = {f.name: f for f in dataclasses.fields(Hardware)}
_SECTION = "missing required section"
_ROOFLINE_NOTE = " (kind roofline)"


def _calibration_schema() -> dict:
    cal = {f.name: f for f in dataclasses.fields(CalibrationConfig)}
    efficiency = schema.dataclass_schema(EfficiencyConfig)
    efficiency["description"] = cal["efficiency"].metadata["help"]
    overhead = schema.dataclass_schema(OverheadConfig)
    overhead["description"] = cal["overhead_us"].metadata["help"]
    node = schema.obj({"layer_overhead_us": schema.field_schema(cal["layer_overhead_us"]), "efficiency": efficiency,
                       "overhead_us": overhead},
                      help=_HARDWARE_FIELDS["calibration"].metadata["help"])
    node["x-expected"] = "a mapping with layer_overhead_us, efficiency, overhead_us"
    return node


def _systolic_schema(top: dict, calibration: dict) -> dict:
    """The schema of a systolic config (kind absent or systolic)."""
    vector_fields = {f.name: f for f in dataclasses.fields(VectorConfig)}
    ops = schema.field_schema(vector_fields["ops_per_lane_per_cycle"], kind="number")
    ops_map = {"type": "object", "description": ops["description"], "x-unit": ops["x-unit"],
               "x-range": ops["x-range"], "x-expected": "a non-empty mapping of format -> ops per lane per cycle",
               "propertyNames": {"enum": list(prec.NAMES), "x-unknown": "format"}, "additionalProperties": ops}
    vector = schema.dataclass_schema(VectorConfig, nested={"ops_per_lane_per_cycle": ops_map})
    vector["required"] = ["lanes", "energy_per_op_pj"]
    # the ops are read only when there are lanes; a vector unit with lanes needs them
    vector["if"] = {"properties": {"lanes": {"exclusiveMinimum": 0}}, "required": ["lanes"]}
    vector["then"] = {"required": ["ops_per_lane_per_cycle"], "x-missing": {
        "ops_per_lane_per_cycle": "missing; a vector unit with lanes needs a non-empty mapping of format -> ops "
                                  "per lane per cycle"},
        "properties": {"ops_per_lane_per_cycle": {"minProperties": 1, "x-expected": ops_map["x-expected"]}}}
    precision = schema.dataclass_schema(PrecisionConfig, skip=("name",))
    precisions = {"type": "object", "description": _HARDWARE_FIELDS["precisions"].metadata["help"],
                  "x-expected": "a non-empty mapping of format -> {macs_per_pe_per_cycle, ...}",
                  "x-key-name": "<format>", "minProperties": 1,
                  "propertyNames": {"enum": list(prec.NAMES), "x-unknown": "format"},
                  "additionalProperties": precision}
    memory = schema.obj({"sram": schema.dataclass_schema(SramConfig), "memory_budget_mb": top["memory_budget_mb"],
                         **{k: top[k] for k in _MEMORY_KEYS[2:]}},
                        required=("sram", "memory_budget_mb"), missing_words={"sram": _SECTION})
    memory["x-expected"] = f"a mapping with keys {', '.join(_MEMORY_KEYS)}"
    energy = schema.obj({"static_power_mw": top["static_power_mw"]}, help="energy model beyond per-op energies",
                        expected="a mapping with static_power_mw")
    required = ("name", "array", "precisions", "vector", "memory", "dram", "area")
    root = schema.obj({"name": top["name"], "description": top["description"], "kind": top["kind"],
                       "array": schema.dataclass_schema(ArrayConfig), "precisions": precisions, "vector": vector,
                       "memory": memory, "dram": schema.dataclass_schema(DramConfig), "energy": energy,
                       "area": schema.dataclass_schema(AreaConfig), "calibration": calibration},
                      required=required, sorted_keys=True,
                      missing_words={k: _SECTION for k in required if k != "name"},
                      help="An accelerator: MAC array, formats, vector unit, memories, energy and area.")
    root["x-expected"] = "a mapping at the top level"
    return root


def _roofline_schema(top: dict, calibration: dict) -> dict:
    """The schema of a roofline config (kind: roofline): peak rates per op class and format, DRAM
    bandwidth, a cache and a per-layer overhead instead of an array, a vector unit and SRAM buffers."""
    fmt = schema.dataclass_schema(RooflineFormat, skip=("name",))
    throughput = {"type": "object", "description": "formats the device computes in (mapping format -> {...})",
                  "x-expected": "a non-empty mapping of format -> {dense_gops, depthwise_gops, elementwise_gops, "
                                "energy_per_op_pj}",
                  "x-key-name": "<format>", "minProperties": 1,
                  "propertyNames": {"enum": list(prec.NAMES), "x-unknown": "format"},
                  "additionalProperties": fmt}
    roofline = schema.dataclass_schema(RooflineConfig)
    roofline["properties"]["throughput"] = throughput
    roofline["required"] = roofline["required"] + ["throughput"]
    dram_fields = {f.name: f for f in dataclasses.fields(DramConfig)}
    dram = schema.obj({k: schema.field_schema(dram_fields[k]) for k in ("bandwidth_gb_per_s", "energy_per_byte_pj")},
                      required=("bandwidth_gb_per_s", "energy_per_byte_pj"),
                      help="off-chip memory (its latency is part of roofline.layer_overhead_us)")
    memory = schema.obj({"memory_budget_mb": top["memory_budget_mb"]}, required=("memory_budget_mb",),
                        expected="a mapping with memory_budget_mb")
    energy = schema.obj({"static_power_mw": top["static_power_mw"]}, help="energy model beyond per-op energies",
                        expected="a mapping with static_power_mw")
    kind = dict(top["kind"])
    required = ("name", "kind", "roofline", "memory", "dram")
    root = schema.obj({"name": top["name"], "description": top["description"], "kind": kind, "roofline": roofline,
                       "memory": memory, "dram": dram, "energy": energy, "calibration": calibration},
                      required=required, sorted_keys=True,
                      missing_words={k: _SECTION for k in required if k not in ("name", "kind")},
                      help="A processor described by its rates: peak ops per op class and format, DRAM "
                           "bandwidth, a cache and a per-layer overhead.")
    root["x-expected"] = "a mapping at the top level"
    root["x-reference-note"] = _ROOFLINE_NOTE
    return root


def _hardware_schema() -> dict:
    """The hardware YAML's schema, built from the field declarations above: the systolic form, or the
    roofline form when ``kind: roofline``."""
    top = {f.name: schema.field_schema(f) for f in dataclasses.fields(Hardware)
           if f.name in ("name", "description", "memory_budget_mb", "static_power_mw", "kind") + _MEMORY_KEYS[2:]}
    calibration = _calibration_schema()
    return {"type": "object", "x-expected": "a mapping at the top level",
            "description": "A hardware config: a systolic accelerator, or (kind: roofline) a processor "
                           "described by its rates.",
            "if": {"not": {"properties": {"kind": {"const": "roofline"}}, "required": ["kind"]}},
            "then": _systolic_schema(top, calibration), "else": _roofline_schema(top, calibration)}


HARDWARE_SCHEMA = _hardware_schema()


def _make(cls, data: Mapping, **extra):
    """``cls`` from checked YAML values: integers stored as int, numbers as float, absent keys default."""
    kwargs = dict(extra)
    for f in dataclasses.fields(cls):
        v = data.get(f.name)
        if v is None or f.name in kwargs:
            continue
        kwargs[f.name] = int(v) if f.type in ("int", int) else float(v) if f.type in ("float", float) else v
    return cls(**kwargs)


def _calibration(data: Mapping) -> CalibrationConfig:
    return CalibrationConfig(float(data.get("layer_overhead_us", 0.0)),
                             _make(EfficiencyConfig, data.get("efficiency", {})),
                             _make(OverheadConfig, data.get("overhead_us", {})))


def hardware_from_dict(data: Mapping, source: str = "<dict>") -> Hardware:
    """Check a parsed YAML mapping against :data:`HARDWARE_SCHEMA` and build a :class:`Hardware`."""
    data = schema.check(data, HARDWARE_SCHEMA, source)
    calibration = _calibration(data.get("calibration", {}))
    if data.get("kind") == "roofline":
        rdata = data["roofline"]
        return Hardware(name=data["name"], array=None,
                        precisions=tuple(_make(RooflineFormat, p, name=n) for n, p in rdata["throughput"].items()),
                        vector=None, sram=None, dram=DramConfig(float(data["dram"]["bandwidth_gb_per_s"]), 0.0,
                                                                float(data["dram"]["energy_per_byte_pj"])),
                        memory_budget_mb=float(data["memory"]["memory_budget_mb"]),
                        static_power_mw=float(data.get("energy", {}).get("static_power_mw", 0.0)), area=None,
                        description=data.get("description", ""), kind="roofline",
                        roofline=_make(RooflineConfig, rdata), calibration=calibration)
    precisions = tuple(_make(PrecisionConfig, p, name=n) for n, p in data["precisions"].items())
    vdata = data["vector"]
    ops = tuple((n, float(v)) for n, v in vdata.get("ops_per_lane_per_cycle", {}).items()) if vdata["lanes"] else ()
    mem = data["memory"]
    hw = Hardware(name=data["name"], array=_make(ArrayConfig, data["array"]), precisions=precisions,
                  vector=_make(VectorConfig, vdata, ops_per_lane_per_cycle=ops), sram=_make(SramConfig, mem["sram"]),
                  dram=_make(DramConfig, data["dram"]), memory_budget_mb=float(mem["memory_budget_mb"]),
                  static_power_mw=float(data.get("energy", {}).get("static_power_mw", 0.0)),
                  area=_make(AreaConfig, data["area"]), description=data.get("description", ""),
                  **{k: (int(mem[k]) if k == "channel_alignment" else mem[k]) for k in _MEMORY_KEYS[2:] if k in mem},
                  calibration=calibration)
    validate(hw, source)
    return hw


def _section_dict(obj) -> dict:
    """One config dataclass in its YAML form (absent optional keys left out)."""
    if isinstance(obj, PrecisionConfig):
        d = {"macs_per_pe_per_cycle": obj.macs_per_pe_per_cycle, "energy_per_mac_pj": obj.energy_per_mac_pj}
        if obj.bytes_per_element != prec.BYTES_PER_ELEMENT.get(obj.name):  # only when not the format's default
            d["bytes_per_element"] = obj.bytes_per_element
        return d
    if isinstance(obj, RooflineFormat):
        d = {k: getattr(obj, k) for k in ("dense_gops", "depthwise_gops", "elementwise_gops", "energy_per_op_pj")}
        if obj.bytes_per_element != prec.BYTES_PER_ELEMENT.get(obj.name):
            d["bytes_per_element"] = obj.bytes_per_element
        return d
    if isinstance(obj, VectorConfig):
        return {"lanes": obj.lanes, "ops_per_lane_per_cycle": dict(obj.ops_per_lane_per_cycle),
                "energy_per_op_pj": obj.energy_per_op_pj}
    if isinstance(obj, CalibrationConfig):
        d = {"layer_overhead_us": obj.layer_overhead_us, "efficiency": _section_dict(obj.efficiency)}
        if obj.overhead_us != OverheadConfig():   # written only when used, as the section itself
            d["overhead_us"] = _section_dict(obj.overhead_us)
        return d
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if getattr(obj, f.name) is not None}


def hardware_to_dict(hw: Hardware) -> dict:
    """``hw`` in its YAML form: fresh plain dicts (safe to edit, ``yaml.safe_dump``-able) such that
    ``hardware_from_dict(hardware_to_dict(hw)) == hw``. ``kind`` and ``calibration`` are left out at
    their defaults (systolic; no correction), so a config that does not use them reads as before."""
    extra = {} if hw.calibration.is_default else {"calibration": _section_dict(hw.calibration)}
    if hw.kind == "roofline":
        return {
            "name": hw.name,
            "description": hw.description,
            "kind": hw.kind,
            "roofline": {**_section_dict(hw.roofline),
                         "throughput": {p.name: _section_dict(p) for p in hw.precisions}},
            "memory": {"memory_budget_mb": hw.memory_budget_mb},
            "dram": {"bandwidth_gb_per_s": hw.dram.bandwidth_gb_per_s,
                     "energy_per_byte_pj": hw.dram.energy_per_byte_pj},
            "energy": {"static_power_mw": hw.static_power_mw},
            **extra,
        }
    return {
        "name": hw.name,
        "description": hw.description,
        "array": _section_dict(hw.array),
        "precisions": {p.name: _section_dict(p) for p in hw.precisions},
        "vector": _section_dict(hw.vector),
        "memory": {"sram": _section_dict(hw.sram), "memory_budget_mb": hw.memory_budget_mb,
                   "activation_policy": hw.activation_policy, "weights_resident": hw.weights_resident,
                   "channel_alignment": hw.channel_alignment},
        "dram": _section_dict(hw.dram),
        "energy": {"static_power_mw": hw.static_power_mw},
        "area": _section_dict(hw.area),
        **extra,
    }


# Attribute spellings Hardware.replace accepts besides YAML key paths -> the YAML path they stand for.
_REPLACE_ALIASES = {
    "sram": ("memory", "sram"),
    "memory_budget_mb": ("memory", "memory_budget_mb"),
    "activation_policy": ("memory", "activation_policy"),
    "weights_resident": ("memory", "weights_resident"),
    "channel_alignment": ("memory", "channel_alignment"),
    "static_power_mw": ("energy", "static_power_mw"),
}


def _replace_path(key: str, source: str) -> tuple:
    parts = tuple(key.split("__"))
    if parts[0] in _REPLACE_ALIASES:
        parts = _REPLACE_ALIASES[parts[0]] + parts[1:]
    elif parts[0] not in _TOP_KEYS:
        raise ConfigError(f"{source}: {key}: unknown key; expected a YAML key path joined by __ under one of "
                          f"{', '.join(_TOP_KEYS)} (e.g. memory__sram__ifmap_kb), or one of "
                          f"{', '.join(_REPLACE_ALIASES)}")
    if "" in parts:
        raise ConfigError(f"{source}: {key}: empty key in the path; expected keys joined by __ "
                          "(e.g. memory__sram__ifmap_kb)")
    return parts


def scalar_field_value(key: str, value):
    """For a scalar key of a systolic config in ``Hardware.replace`` spelling (``array__rows``,
    ``sram__ifmap_kb``): the value ``replace`` stores when the key's own schema entry accepts
    ``value`` (an int field as int, a float one as float), else None (rejected, or not a scalar key
    this can check: ask ``replace``). Cross-field rules (:func:`validate`) are not applied: for keys
    no rule relates to another, such as the array's, this answers for ``replace`` without building a
    config."""
    hit = _SCALAR_FIELDS.get(key)
    if hit is None:
        try:
            path = _replace_path(key, "")
            entry = HARDWARE_SCHEMA["then"]
            for part in path:
                entry = entry["properties"][part]
            cls = {"array": ArrayConfig, "vector": VectorConfig, "dram": DramConfig, "sram": SramConfig}[path[-2]]
            ftype = {f.name: f.type for f in dataclasses.fields(cls)}[path[-1]]
            test = schema.scalar_test(entry)
        except (ConfigError, KeyError, IndexError):
            test, ftype = None, None
        hit = _SCALAR_FIELDS[key] = (test, ftype)
    test, ftype = hit
    if test is None or test(value) is not True:
        return None
    return int(value) if ftype in ("int", int) else float(value) if ftype in ("float", float) else value


_SCALAR_FIELDS: dict = {}   # key -> (the plain accept test of its schema entry, its dataclass field's type)


def _yaml_value(path: tuple, value):
    """A replace() value in YAML form: config dataclasses and tuples of them become mappings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _section_dict(value)
    if path == ("precisions",) and isinstance(value, (tuple, list)) and \
            all(isinstance(p, PrecisionConfig) for p in value):
        return {p.name: _section_dict(p) for p in value}
    if path == ("vector", "ops_per_lane_per_cycle") and isinstance(value, (tuple, list)) and \
            all(isinstance(p, (tuple, list)) and len(p) == 2 for p in value):
        return dict(value)
    if path == ("roofline", "throughput") and isinstance(value, (tuple, list)) and \
            all(isinstance(p, RooflineFormat) for p in value):
        return {p.name: _section_dict(p) for p in value}
    return value  # anything else goes to the loader as written, which checks it


def validate(hw: Hardware, source: str) -> None:
    """Cross-field rules that a single key cannot express (every key on its own was checked against
    :data:`HARDWARE_SCHEMA` already)."""
    where = f"{source}: "
    if hw.kind != "systolic":
        return   # a roofline config has no cross-field rules
    s = hw.sram
    sep = (s.ifmap_kb, s.filter_kb, s.ofmap_kb)
    if s.unified_kb is not None and any(v is not None for v in sep):
        raise ConfigError(f"{where}memory.sram: give either unified_kb or ifmap_kb/filter_kb/ofmap_kb, not both")
    if s.unified_kb is None and any(v is None for v in sep):
        missing = [k for k, v in zip(("ifmap_kb", "filter_kb", "ofmap_kb"), sep) if v is None]
        raise ConfigError(f"{where}memory.sram.{missing[0]}: missing (separate buffers need ifmap_kb, "
                          "filter_kb and ofmap_kb; or give unified_kb)")
    names = [p.name for p in hw.precisions]
    if hw.vector.lanes:
        for pname, _ in hw.vector.ops_per_lane_per_cycle:
            if pname not in names:
                raise ConfigError(f"{where}vector.ops_per_lane_per_cycle.{pname}: the MAC array does not "
                                  f"support {pname} (precisions lists {', '.join(names)})")


def require_kind(hw: Hardware, kind: str, what: str) -> None:
    """Raise one ConfigError line unless ``hw`` is of ``kind``: for code that reads one kind's fields
    (``what`` names it), e.g. ``require_kind(hw, "systolic", "estimator features")`` before reading the
    array, vector unit or SRAM of a config, which a roofline config does not have."""
    if kind not in KINDS:
        raise ValueError(f"require_kind: kind {kind!r}: expected one of {', '.join(KINDS)}")
    if hw.kind != kind:
        raise ConfigError(f"{what}: hardware {hw.name!r} is of kind {hw.kind}; only kind {kind} configs are "
                          f"supported here")


# ---------------------------------------------------------------------------------------------
# Loading by name or path
# ---------------------------------------------------------------------------------------------
def config_dirs() -> list[Path]:
    """Where hardware names are looked up: $ACCELSIM_HW_DIR, then the repository's hw_configs/."""
    dirs = []
    env = os.environ.get("ACCELSIM_HW_DIR")
    if env:
        dirs.append(Path(env))
    dirs.append(Path(__file__).resolve().parent.parent / "hw_configs")
    return dirs


def available_hardware() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in config_dirs():
        if d.is_dir():
            for p in sorted(d.glob("*.yaml")) + sorted(d.glob("*.cfg")):
                found.setdefault(p.stem, p)
    return found



def load_hardware(name_or_path: "str | os.PathLike | Hardware") -> Hardware:
    """Load a hardware config by name (``neural_engine``) or path (``.yaml`` or SCALE-Sim ``.cfg``)."""
    if isinstance(name_or_path, Hardware):
        return name_or_path
    text = str(name_or_path)
    path = Path(text)
    if not path.exists():
        known = available_hardware()
        if text in known:
            path = known[text]
        else:
            raise ConfigError(f"--hw {text}: no such file or hardware name; known names: "
                              f"{', '.join(known) or '(none)'}")
    if path.suffix == ".cfg":
        return load_scalesim_cfg(path)
    data = read_yaml(path)
    return hardware_from_dict(data, source=str(path))


# ---------------------------------------------------------------------------------------------
# SCALE-Sim .cfg import
# ---------------------------------------------------------------------------------------------
# Assumptions for what a SCALE-Sim config does not say: SCALE-Sim moves 1-byte words and has no
# vector unit, energy or area model, so imported configs get int8 only, a vector unit as wide as
# the array, and the energy/area numbers of the default neural engine (see hw_configs/).
_SCALESIM_DEFAULTS = {
    "precisions": {"int8": {"macs_per_pe_per_cycle": 1, "energy_per_mac_pj": 0.23}},
    "dram": {"latency_ns": 0.0, "energy_per_byte_pj": 40.0},
    "area": {"pe_mm2": 0.0006, "sram_mm2_per_kb": 0.0025, "vector_lane_mm2": 0.002, "fixed_mm2": 0.5},
}


def load_scalesim_cfg(path: "str | os.PathLike") -> Hardware:
    """Read a SCALE-Sim ``.cfg`` ([architecture_presets]) into a :class:`Hardware`.

    Keys are case-insensitive, as in SCALE-Sim. ``Bandwidth`` (words per cycle; SCALE-Sim reads only
    the first value of a comma list) becomes the DRAM bandwidth at a nominal 1 GHz. Offsets,
    request buffers, memory banks and the [layout], [sparsity] and [run_presets] sections describe
    SCALE-Sim's trace generation and are accepted but not used.
    """
    path = Path(path)
    parser = configparser.ConfigParser()  # lower-cases keys, as SCALE-Sim's reader does
    text = read_text(path, ConfigError)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        raise ConfigError(f"{path}: malformed SCALE-Sim config ({one_line(exc)})") from None
    sec = "architecture_presets"
    if not parser.has_section(sec):
        raise ConfigError(f"{path}: [{sec}]: missing section")
    for other in parser.sections():
        if other not in ("general", sec, "layout", "sparsity", "run_presets", "network_presets"):
            raise ConfigError(f"{path}: [{other}]: unknown section; expected general, {sec}, layout, "
                              "sparsity, run_presets")
    a = parser[sec]
    known = {k.lower(): k for k in ("ArrayHeight", "ArrayWidth", "IfmapSramSzkB", "FilterSramSzkB",
                                    "OfmapSramSzkB", "IfmapOffset", "FilterOffset", "OfmapOffset", "Dataflow",
                                    "Bandwidth", "MemoryBanks", "OnChipMemoryBanks", "OnChipMemoryBankPorts",
                                    "ReadRequestBuffer", "WriteRequestBuffer")}
    for key in a:
        if key not in known:
            raise ConfigError(f"{path}: [{sec}].{schema.key_text(key)}: unknown key; expected one of "
                              f"{', '.join(sorted(known.values()))}")

    def num(key, conv=float, default=None):
        low = key.lower()
        if low not in a:
            if default is not None:
                return default
            raise ConfigError(f"{path}: [{sec}].{key}: missing required key")
        text = a[low].split(",")[0].strip()
        try:
            v = conv(text)
        except ValueError:
            raise ConfigError(f"{path}: [{sec}].{key}: expected a number, got {quote(a[low])}") from None
        if v <= 0:
            raise ConfigError(f"{path}: [{sec}].{key}: expected a positive number, got {quote(a[low])}")
        return v

    dataflow = a.get("dataflow", "os").strip().lower()
    if dataflow not in DATAFLOWS:
        raise ConfigError(f"{path}: [{sec}].Dataflow: expected one of os, ws, is, got {quote(a.get('dataflow'))}")
    rows, cols = num("ArrayHeight", int), num("ArrayWidth", int)
    bandwidth = num("Bandwidth", float, default=10.0)
    run_name = parser.get("general", "run_name", fallback=path.stem).strip()
    data = {
        "name": run_name,
        "description": f"imported from SCALE-Sim config {path.name}",
        "array": {"rows": rows, "cols": cols, "dataflow": dataflow, "clock_mhz": 1000.0},
        "precisions": _SCALESIM_DEFAULTS["precisions"],
        "vector": {"lanes": cols, "ops_per_lane_per_cycle": {"int8": 1.0}, "energy_per_op_pj": 0.1},
        "memory": {"sram": {"ifmap_kb": num("IfmapSramSzkB"), "filter_kb": num("FilterSramSzkB"),
                            "ofmap_kb": num("OfmapSramSzkB"), "energy_per_byte_pj": 1.25},
                   "memory_budget_mb": 1024.0,
                   # SCALE-Sim reads every layer's operands from DRAM and writes its outputs back, and
                   # stores tensors unpadded.
                   "activation_policy": "dram", "channel_alignment": 1},
        "dram": {"bandwidth_gb_per_s": bandwidth, **_SCALESIM_DEFAULTS["dram"]},
        "area": _SCALESIM_DEFAULTS["area"],
    }
    return hardware_from_dict(data, source=str(path))


def reference_markdown() -> str:
    """The config reference table for the README, generated from :data:`HARDWARE_SCHEMA`."""
    return schema.reference_markdown(HARDWARE_SCHEMA)
