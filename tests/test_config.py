"""Hardware config loading: every shipped config is valid, every bad input fails with one clear line."""

from __future__ import annotations

import subprocess
import sys

import pytest

import accelsim
from accelsim.config import available_hardware, load_hardware, reference_markdown
from accelsim.errors import ConfigError

from conftest import BASE, make_hw


def test_shipped_configs_load():
    names = set(available_hardware())
    assert {"neural_engine", "eyeriss_like", "edge_tpu_like", "datacenter_wide"} <= names
    for name in names:
        hw = load_hardware(name)
        assert hw.array.rows > 0 and hw.dram_bytes_per_cycle > 0


def test_neural_engine_derived_units():
    hw = load_hardware("neural_engine")
    # 25.6 GB/s at 1 GHz is 25.6 bytes per cycle; 100 ns is 100 cycles.
    assert hw.dram_bytes_per_cycle == pytest.approx(25.6)
    assert hw.dram_latency_cycles == pytest.approx(100)
    # 32x32 PEs x 2 int8 MACs x 1 GHz x 2 ops = 4.096 TOPS
    assert hw.peak_tops["int8"] == pytest.approx(4.096)
    assert hw.precision("int8").bytes_per_element == 1.0


def test_replace_nested_and_validates():
    hw = make_hw()
    wider = hw.replace(array__cols=16, dram__bandwidth_gb_per_s=2.0)
    assert (wider.array.cols, wider.dram.bandwidth_gb_per_s, wider.array.rows) == (16, 2.0, 8)
    with pytest.raises(ConfigError, match="array.rows"):
        hw.replace(array__rows=0)


def test_hardware_is_hashable_and_equal_by_value():
    assert make_hw() == make_hw() and hash(make_hw()) == hash(make_hw())


@pytest.mark.parametrize("key,value,message", [
    ("array.rows", -4, "array.rows: expected a positive number, got -4"),
    ("array.cols", 0, "array.cols: expected a positive number, got 0"),
    ("array.cols", 2.5, "array.cols: expected an integer, got 2.5"),
    ("array.dataflow", "rs", "array.dataflow: expected one of os, ws, is, got 'rs'"),
    ("array.clock_mhz", "fast", "array.clock_mhz: expected a number, got 'fast'"),
    ("memory.sram.ifmap_kb", -4, "memory.sram.ifmap_kb: expected a positive number, got -4"),
    ("memory.sram.ifmap_kb", None, "memory.sram.ifmap_kb: missing"),
    ("dram.bandwidth_gb_per_s", 0, "dram.bandwidth_gb_per_s: expected a positive number, got 0"),
    ("dram.latency_ns", -1, "dram.latency_ns: expected a number >= 0, got -1"),
    ("array.rowz", 8, "array.rowz: unknown key; expected one of rows, cols, dataflow, clock_mhz"),
    ("precisions.int3", {"macs_per_pe_per_cycle": 1, "energy_per_mac_pj": 1},
     "precisions.int3: unknown format"),
    ("precisions.int8.macs_per_pe_per_cycle", 0, "precisions.int8.macs_per_pe_per_cycle: expected a positive"),
    ("vector.ops_per_lane_per_cycle.fp16", 1, "vector.ops_per_lane_per_cycle.fp16: the MAC array does not support fp16"),
    ("memory.sram.unified_kb", 100, "memory.sram: give either unified_kb or"),
    ("memroy", 1, "memroy: unknown key"),
])
def test_bad_values_name_the_key(key, value, message):
    with pytest.raises(ConfigError) as info:
        make_hw(**{key: value})
    text = str(info.value)
    assert message in text and text.startswith("<test>: ") and "\n" not in text


def test_unified_sram_ok():
    hw = make_hw(**{"memory.sram": {"unified_kb": 128, "energy_per_byte_pj": 1.0}})
    assert hw.sram.unified and hw.sram.total_kb == 128


def test_malformed_yaml_names_file_and_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\narray: {rows: 8, cols: [\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: line \d+ malformed YAML"):
        load_hardware(p)


def test_yaml_top_level_not_a_mapping(tmp_path):
    p = tmp_path / "list.yaml"
    p.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="list.yaml: expected a mapping at the top level"):
        load_hardware(p)


def test_unknown_name_lists_known():
    with pytest.raises(ConfigError, match="known names: .*neural_engine"):
        load_hardware("no_such_chip")


SCALESIM_CFG = """[general]
run_name = test_run

[architecture_presets]
ArrayHeight:    16
ArrayWidth:     32
IfmapSramSzkB:    64
FilterSramSzkB:   64
OfmapSramSzkB:    32
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 10
Dataflow : ws
MemoryBanks: 1

[run_presets]
InterfaceBandwidth: CALC
"""


def test_scalesim_cfg_import(tmp_path):
    p = tmp_path / "sim.cfg"
    p.write_text(SCALESIM_CFG)
    hw = load_hardware(p)
    assert (hw.array.rows, hw.array.cols, hw.array.dataflow) == (16, 32, "ws")
    assert (hw.sram.ifmap_kb, hw.sram.filter_kb, hw.sram.ofmap_kb) == (64, 64, 32)
    assert hw.dram_bytes_per_cycle == pytest.approx(10)
    assert hw.precision_names == ("int8",)


@pytest.mark.parametrize("edit,message", [
    (("ArrayHeight:    16", "ArrayHeight:    -16"), "ArrayHeight: expected a positive number"),
    (("Dataflow : ws", "Dataflow : rs"), "Dataflow: expected one of os, ws, is"),
    (("Bandwidth : 10", "Bandwith : 10"), "(?i)Bandwith: unknown key"),
    (("ArrayWidth:     32\n", ""), "ArrayWidth: missing required key"),
])
def test_scalesim_cfg_errors(tmp_path, edit, message):
    p = tmp_path / "sim.cfg"
    p.write_text(SCALESIM_CFG.replace(*edit))
    with pytest.raises(ConfigError, match=message):
        load_hardware(p)


def test_reference_table_covers_every_field():
    table = reference_markdown()
    for key in ("array.rows", "array.dataflow", "precisions.<format>.macs_per_pe_per_cycle", "vector.lanes",
                "memory.sram.unified_kb", "dram.bandwidth_gb_per_s", "area.pe_mm2", "memory.memory_budget_mb",
                "energy.static_power_mw"):
        assert f"`{key}`" in table


def test_readme_config_reference_is_current():
    from pathlib import Path
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert reference_markdown() in readme, "regenerate the README table with accelsim.config.reference_markdown()"


def test_shipped_scalesim_cfg_matches_its_yaml_equivalent():
    from pathlib import Path
    cfg = load_hardware(Path(__file__).parent.parent / "examples" / "scalesim" / "scale.cfg")
    yaml_hw = load_hardware("scalesim_scale")
    for attr in ("array", "sram", "precisions"):
        assert getattr(cfg, attr) == getattr(yaml_hw, attr)
    assert cfg.dram_bytes_per_cycle == yaml_hw.dram_bytes_per_cycle == 10


def test_scalesim_cfg_unknown_section(tmp_path):
    p = tmp_path / "sim.cfg"
    p.write_text(SCALESIM_CFG + "\n[extras]\nfoo: 1\n")
    with pytest.raises(ConfigError, match=r"\[extras\]: unknown section"):
        load_hardware(p)
