"""Hardware config loading: every shipped config is valid, every bad input fails with one clear line."""

from __future__ import annotations

import pytest

from accelsim.config import (available_hardware, hardware_from_dict, hardware_to_dict, load_hardware,
                             reference_markdown)
from accelsim.errors import ConfigError

from conftest import make_hw


def test_shipped_configs_load():
    names = set(available_hardware())
    assert {"neural_engine", "eyeriss_like", "edge_tpu_like", "datacenter_wide"} <= names
    assert {"gpu_like", "mobile_cpu_like", "dsp_like"} <= names
    for name in names:
        hw = load_hardware(name)
        assert hw.dram_bytes_per_cycle > 0
        assert hw.array.rows > 0 if hw.kind == "systolic" else hw.roofline.cache_kb > 0


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
                "energy.static_power_mw", "memory.activation_policy", "memory.weights_resident",
                "memory.channel_alignment"):
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


# ---- activation_policy / weights_resident / channel_alignment (under memory:) ----------------
@pytest.mark.parametrize("key,value,message", [
    ("memory.activation_policy", "lazy", "memory.activation_policy: expected one of dram, resident, fused, got 'lazy'"),
    ("memory.activation_policy", 1, "memory.activation_policy: expected a string, got 1"),
    ("memory.weights_resident", 1, "memory.weights_resident: expected true or false, got 1"),
    ("memory.weights_resident", "yes", "memory.weights_resident: expected true or false, got 'yes'"),
    ("memory.channel_alignment", 0, "memory.channel_alignment: expected a positive number, got 0"),
    ("memory.channel_alignment", -3, "memory.channel_alignment: expected a positive number, got -3"),
    ("memory.channel_alignment", 2.5, "memory.channel_alignment: expected an integer, got 2.5"),
    ("memory.channel_alignmnet", 8, "memory.channel_alignmnet: unknown key; expected one of sram, "
                                    "memory_budget_mb, activation_policy, weights_resident, channel_alignment"),
    ("activation_policy", "resident", "activation_policy: unknown key"),   # belongs under memory:
])
def test_bad_memory_placement_keys(key, value, message):
    with pytest.raises(ConfigError) as info:
        make_hw(**{key: value})
    text = str(info.value)
    assert message in text and text.startswith("<test>: ") and "\n" not in text


def test_memory_placement_defaults_when_absent():
    hw = make_hw()
    assert (hw.activation_policy, hw.weights_resident, hw.channel_alignment) == ("dram", False, 1)


def test_memory_placement_keys_load():
    hw = make_hw(**{"memory.activation_policy": "fused", "memory.weights_resident": True,
                    "memory.channel_alignment": 16})
    assert (hw.activation_policy, hw.weights_resident, hw.channel_alignment) == ("fused", True, 16)
    assert isinstance(hw.channel_alignment, int) and hw.weights_resident is True


def test_scalesim_cfg_gets_dram_policy_and_no_padding(tmp_path):
    p = tmp_path / "sim.cfg"
    p.write_text(SCALESIM_CFG)
    hw = load_hardware(p)
    assert (hw.activation_policy, hw.weights_resident, hw.channel_alignment) == ("dram", False, 1)
    yaml_hw = load_hardware("scalesim_scale")
    assert (yaml_hw.activation_policy, yaml_hw.channel_alignment) == ("dram", 1)


def test_shipped_neural_engines_keep_activations_resident():
    ne = load_hardware("neural_engine")
    assert (ne.activation_policy, ne.weights_resident, ne.channel_alignment) == ("resident", False, 32)
    for name in ("neural_engine", "edge_tpu_like", "datacenter_wide", "eyeriss_like"):
        hw = load_hardware(name)
        assert hw.activation_policy == "resident" and not hw.weights_resident
        assert hw.channel_alignment == hw.array.cols


@pytest.mark.parametrize("name", sorted(available_hardware()))
def test_hardware_to_dict_round_trips(name):
    hw = load_hardware(name)
    data = hardware_to_dict(hw)
    assert hardware_from_dict(data, source="<round trip>") == hw
    if hw.kind == "systolic":   # a roofline config's activations always go through DRAM: no such key
        assert data["memory"]["activation_policy"] == hw.activation_policy
    import yaml
    assert hardware_from_dict(yaml.safe_load(yaml.safe_dump(data, sort_keys=False))) == hw  # plain YAML types


def test_hardware_to_dict_is_a_fresh_copy():
    hw = make_hw()
    hardware_to_dict(hw)["array"]["rows"] = 99
    assert hardware_from_dict(hardware_to_dict(hw)).array.rows == 8


# ---- Hardware.replace validates as the loader does ----------------------------------------------
@pytest.mark.parametrize("changes,message", [
    ({"dram__bandwidth_gb_per_s": -1},
     "<neural_engine replaced>: dram.bandwidth_gb_per_s: expected a positive number, got -1"),
    ({"array__clock_mhz": 0}, "<neural_engine replaced>: array.clock_mhz: expected a positive number, got 0"),
    ({"memory_budget_mb": 0}, "<neural_engine replaced>: memory.memory_budget_mb: expected a positive number, got 0"),
    ({"sram__ifmap_kb": "big"}, "<neural_engine replaced>: memory.sram.ifmap_kb: expected a number, got 'big'"),
    ({"activation_policy": "lazy"},
     "<neural_engine replaced>: memory.activation_policy: expected one of dram, resident, fused, got 'lazy'"),
    ({"memory__weights_resident": "yes"},
     "<neural_engine replaced>: memory.weights_resident: expected true or false, got 'yes'"),
    ({"channel_alignment": 0}, "<neural_engine replaced>: memory.channel_alignment: expected a positive number, got 0"),
])
def test_replace_rejects_what_the_loader_rejects(neural_engine, changes, message):
    with pytest.raises(ConfigError) as info:
        neural_engine.replace(**changes)
    assert str(info.value) == message


def test_replace_negative_bandwidth(neural_engine):
    with pytest.raises(ConfigError, match=r"^<neural_engine replaced>: dram.bandwidth_gb_per_s: "
                                          r"expected a positive number, got -1$"):
        neural_engine.replace(dram__bandwidth_gb_per_s=-1)


def test_replace_zero_clock(neural_engine):
    with pytest.raises(ConfigError, match=r"^<neural_engine replaced>: array.clock_mhz: expected a positive number"):
        neural_engine.replace(array__clock_mhz=0)


@pytest.mark.parametrize("key,message", [
    ("clock_mhz", "clock_mhz: unknown key; expected a YAML key path joined by __ under one of name, description, "
                  "array, precisions, vector, memory, dram, energy, area"),
    ("array__rowz", "array.rowz: unknown key; expected one of rows, cols, dataflow, clock_mhz"),
    ("memory__sram__ifmap", "memory.sram.ifmap: unknown key; expected one of energy_per_byte_pj, ifmap_kb"),
    ("memory__policy", "memory.policy: unknown key; expected one of sram, memory_budget_mb, activation_policy"),
    ("memory_budget_mb__mb", "memory_budget_mb__mb: memory.memory_budget_mb is a value, not a section"),
    ("array__", "array__: empty key in the path"),
])
def test_replace_unknown_key(neural_engine, key, message):
    with pytest.raises(ConfigError) as info:
        neural_engine.replace(**{key: 1})
    text = str(info.value)
    assert text.startswith("<neural_engine replaced>: ") and message in text and "\n" not in text


def test_replace_yaml_paths_equal_attribute_spellings(neural_engine):
    ne = neural_engine
    assert ne.replace(memory__memory_budget_mb=4) == ne.replace(memory_budget_mb=4)
    assert ne.replace(memory__memory_budget_mb=4).memory_budget_mb == 4.0
    assert ne.replace(memory__sram__ifmap_kb=128) == ne.replace(sram__ifmap_kb=128)
    assert ne.replace(energy__static_power_mw=7) == ne.replace(static_power_mw=7)
    assert ne.replace(memory__activation_policy="fused") == ne.replace(activation_policy="fused")
    assert ne.replace(memory__channel_alignment=8) == ne.replace(channel_alignment=8)
    assert ne.replace(memory__weights_resident=True).weights_resident is True
    assert ne.replace(memory__weights_resident=True) == ne.replace(weights_resident=True)


def test_replace_keeps_what_it_does_not_change(neural_engine):
    ne = neural_engine
    assert ne.replace() == ne
    hw = ne.replace(array__rows=64, vector__lanes=16, area__pe_mm2=0.001, name="x", description="d")
    assert (hw.array.rows, hw.vector.lanes, hw.area.pe_mm2, hw.name, hw.description) == (64, 16, 0.001, "x", "d")
    assert (hw.activation_policy, hw.channel_alignment, hw.sram, hw.dram) == \
        (ne.activation_policy, ne.channel_alignment, ne.sram, ne.dram)


def test_replace_accepts_config_objects_and_numpy_scalars(neural_engine):
    import dataclasses

    import numpy as np
    ne = neural_engine
    int8 = dataclasses.replace(ne.precision("int8"), energy_per_mac_pj=0.5)
    hw = ne.replace(precisions=(int8,), vector__ops_per_lane_per_cycle=(("int8", 2.0),))
    assert hw.precision_names == ("int8",) and hw.precision("int8").energy_per_mac_pj == 0.5
    assert hw.vector.ops_per_lane_per_cycle == (("int8", 2.0),)
    assert ne.replace(array=dataclasses.replace(ne.array, rows=8)).array.rows == 8
    hw = ne.replace(array__rows=np.int64(16), dram__bandwidth_gb_per_s=np.float64(3.0))
    assert type(hw.array.rows) is int and hw.array.rows == 16 and hw.dram.bandwidth_gb_per_s == 3.0


def test_replace_switches_sram_to_unified(neural_engine):
    hw = neural_engine.replace(sram__unified_kb=256.0, sram__ifmap_kb=None, sram__filter_kb=None,
                               sram__ofmap_kb=None)
    assert hw.sram.unified and hw.sram.total_kb == 256
    with pytest.raises(ConfigError, match="memory.sram: give either unified_kb or"):
        neural_engine.replace(sram__unified_kb=256.0)


_SCALAR_KEYS = ("array__rows", "array__cols", "array__dataflow", "array__clock_mhz", "vector__lanes",
                "dram__bandwidth_gb_per_s", "dram__latency_ns", "sram__ifmap_kb", "sram__filter_kb", "sram__ofmap_kb")
_SCALAR_VALUES = (0, 1, 3, -1, 128, 65536, 65537, 2 ** 30, 2 ** 31, 0.0, 0.5, 1.0, -2.5, 1e-4, 1e6, 1e7, 2.0 ** 30,
                  2.0 ** 30 + 1, float("inf"), float("-inf"), float("nan"), True, False, "os", "ws", "is", "xs", "",
                  "64", None)


@pytest.mark.parametrize("key", _SCALAR_KEYS)
def test_scalar_field_value_answers_as_replace_does(neural_engine, key):
    """The plain accept test of one key's schema entry (what hardware searches use instead of a whole
    replace for keys no rule relates) says yes exactly where replace accepts the value, and gives the
    value replace stores, of the same type; where it cannot read a value it says None, never a wrong yes."""
    from accelsim.config import scalar_field_value
    base = neural_engine.replace(sram__unified_kb=None, sram__ifmap_kb=64, sram__filter_kb=64, sram__ofmap_kb=64)
    section, attr = key.split("__")
    yes = 0
    for v in _SCALAR_VALUES:
        got = scalar_field_value(key, v)
        try:
            want = getattr(getattr(base.replace(**{key: v}), section), attr)
        except ConfigError:
            assert got is None, (key, v)
            continue
        if got is not None:
            yes += 1
            assert got == want and type(got) is type(want), (key, v, got, want)
        else:   # only values the plain test does not read (a float for an integer key, a bool, None)
            assert isinstance(v, (bool, float)) or v is None, (key, v)
    assert yes >= 3
