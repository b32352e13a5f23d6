"""Regenerate the bad-input corpus: ``python tests/bad_inputs/_generate.py`` (needs onnx for the .onnx files).

Text cases are plain edits of a small valid file; the binary ones (non-UTF-8 bytes, ONNX protobufs) are
written here so that the corpus can be rebuilt and reviewed. ``cases.yaml`` says how each file is run and
what its one-line error must contain.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent

HW = """name: tiny
array: {rows: 8, cols: 8, dataflow: os, clock_mhz: 1000}
precisions:
  int8: {macs_per_pe_per_cycle: 1, energy_per_mac_pj: 0.2}
vector: {lanes: 8, ops_per_lane_per_cycle: {int8: 1}, energy_per_op_pj: 0.1}
memory:
  sram: {ifmap_kb: 64, filter_kb: 64, ofmap_kb: 64, energy_per_byte_pj: 1.0}
  memory_budget_mb: 8
dram: {bandwidth_gb_per_s: 10, latency_ns: 100, energy_per_byte_pj: 40}
area: {pe_mm2: 0.001, sram_mm2_per_kb: 0.002, vector_lane_mm2: 0.01, fixed_mm2: 0.1}
"""

CFG = """[general]
run_name = tiny

[architecture_presets]
ArrayHeight: 8
ArrayWidth: 8
IfmapSramSzkB: 64
FilterSramSzkB: 64
OfmapSramSzkB: 64
Dataflow: os
"""

TOPO_HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"

SCENARIO = """name: tiny
duration: 10ms
streams:
  cam:
    model: ibn_block
    options: {resolution: 16}
    arrival: {process: periodic, rate: 100fps}
    deadline: 10ms
"""


def bomb(levels: int = 9) -> str:
    """The 'billion laughs' as the value of ``description``: each anchor lists the previous one nine times,
    so ``*l8`` stands for 9**9 strings."""
    items = ["&l0 [" + ", ".join(['"lol"'] * 9) + "]"]
    for i in range(1, levels):
        items.append(f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "description: [" + ", ".join(items) + "]\n"


def text_cases() -> dict:
    hw_edit = lambda old, new: HW.replace(old, new, 1)   # noqa: E731
    scn_edit = lambda old, new: SCENARIO.replace(old, new, 1)   # noqa: E731
    return {
        # hardware YAML
        "hw_not_utf8.yaml": ("# caf\xe9 config\n" + HW).encode("latin-1"),
        "hw_duplicate_key.yaml": hw_edit("clock_mhz: 1000}", "clock_mhz: 1000, rows: 16}"),
        "hw_duplicate_section.yaml": HW + "dram: {bandwidth_gb_per_s: 20, latency_ns: 100, energy_per_byte_pj: 40}\n",
        "hw_alias_bomb.yaml": bomb() + hw_edit("rows: 8", "rows: *l8"),
        "hw_rows_huge.yaml": hw_edit("rows: 8", "rows: 100000000000"),
        "hw_cols_float.yaml": hw_edit("cols: 8", "cols: 8.5"),
        "hw_clock_tiny.yaml": hw_edit("clock_mhz: 1000", "clock_mhz: 1.0e-300"),
        "hw_clock_nan.yaml": hw_edit("clock_mhz: 1000", "clock_mhz: .nan"),
        "hw_bandwidth_huge.yaml": hw_edit("bandwidth_gb_per_s: 10", "bandwidth_gb_per_s: 1.0e+300"),
        "hw_energy_huge.yaml": hw_edit("energy_per_mac_pj: 0.2", "energy_per_mac_pj: 1.0e+200"),
        "hw_sram_huge.yaml": hw_edit("ifmap_kb: 64", "ifmap_kb: 1.0e+30"),
        "hw_sram_negative.yaml": hw_edit("ifmap_kb: 64", "ifmap_kb: -4"),
        "hw_alignment_huge.yaml": hw_edit("memory_budget_mb: 8", "memory_budget_mb: 8\n  channel_alignment: 1000000"),
        "hw_macs_huge.yaml": hw_edit("macs_per_pe_per_cycle: 1", "macs_per_pe_per_cycle: 1000000000"),
        "hw_lanes_huge.yaml": hw_edit("lanes: 8", "lanes: 10000000"),
        "hw_long_value.yaml": hw_edit("clock_mhz: 1000", "clock_mhz: " + "9" * 5000 + "x"),
        "hw_unknown_key.yaml": hw_edit("dataflow: os", "dataflow: os, dataflw: ws"),
        "hw_syntax.yaml": "name: tiny\narray: {rows: 8, cols: [\n",
        "hw_nul_byte.yaml": HW.replace("name: tiny", "name: ti\x00ny"),
        "hw_deep_nesting.yaml": "name: " + "[" * 20000 + "]" * 20000 + "\n",
        "hw_empty.yaml": "",
        "hw_python_tag.yaml": "!!python/object/apply:os.system ['echo hacked']\n",
        "hw_top_level_list.yaml": "- name: tiny\n",
        # SCALE-Sim .cfg
        "cfg_not_utf8.cfg": ("# \xff\xfe\n" + CFG).encode("latin-1"),
        "cfg_no_section.cfg": "ArrayHeight: 8\n",
        "cfg_bad_number.cfg": CFG.replace("ArrayHeight: 8", "ArrayHeight: eight"),
        "cfg_huge_array.cfg": CFG.replace("ArrayHeight: 8", "ArrayHeight: 100000000"),
        "cfg_duplicate_key.cfg": CFG.replace("ArrayWidth: 8", "ArrayWidth: 8\nArrayWidth: 16"),
        "cfg_unknown_key.cfg": CFG.replace("Dataflow: os", "Dataflow: os\nArrayDepth: 4"),
        "cfg_missing_section.cfg": "[general]\nrun_name = x\n",
        # SCALE-Sim topology CSV
        "topo_not_utf8.csv": (TOPO_HEADER + "Conv\xb91, 32, 32, 3, 3, 3, 16, 1,\n").encode("latin-1"),
        "topo_huge_channels.csv": TOPO_HEADER + "Conv1, 32, 32, 3, 3, 1000000000, 16, 1,\n",
        "topo_huge_tensor.csv": TOPO_HEADER + "Conv1, 1000000, 1000000, 1, 1, 64, 16, 1,\n",
        "topo_huge_filters.csv": TOPO_HEADER + "Conv1, 8, 8, 1, 1, 8, 99999999999999999999, 1,\n",
        "topo_bad_header.csv": "Layer, H, W\nConv1, 32, 32\n",
        "topo_not_integer.csv": TOPO_HEADER + "Conv1, 32, 32, 3, 3, 3.5, 16, 1,\n",
        "topo_negative.csv": TOPO_HEADER + "Conv1, 32, 32, 3, 3, -3, 16, 1,\n",
        "topo_nul.csv": TOPO_HEADER + "Conv1\x00, 32, 32, 3, 3, 3, 16, 1,\n",
        "topo_empty.csv": "\n\n",
        "topo_filter_too_large.csv": TOPO_HEADER + "Conv1, 4, 4, 5, 5, 3, 16, 1,\n",
        "topo_repeated_name.csv": TOPO_HEADER + "Conv1, 32, 32, 3, 3, 3, 16, 1,\nConv1, 30, 30, 1, 1, 16, 8, 1,\n",
        # scenarios
        "scn_not_utf8.yaml": SCENARIO.replace("name: tiny", "name: t\xe4ny").encode("latin-1"),
        "scn_duplicate_stream.yaml": SCENARIO + SCENARIO[SCENARIO.index("  cam:"):],
        "scn_alias_bomb.yaml": bomb() + scn_edit("deadline: 10ms", "deadline: *l8"),
        "scn_option_not_number.yaml": scn_edit("{resolution: 16}", "{resolution: 16, expansion: abc}"),
        "scn_resolution_zero.yaml": scn_edit("{resolution: 16}", "{resolution: 0}"),
        "scn_resolution_huge.yaml": scn_edit("{resolution: 16}", "{resolution: 1000000}"),
        "scn_option_unknown.yaml": scn_edit("{resolution: 16}", "{resolution: 16, depth: 3}"),
        "scn_long_deadline.yaml": scn_edit("deadline: 10ms", "deadline: '" + "1" * 5000 + "'"),
        "scn_bare_deadline.yaml": scn_edit("deadline: 10ms", "deadline: 10"),
        "scn_unknown_model.yaml": scn_edit("model: ibn_block", "model: resnet9000"),
        "scn_duration_huge.yaml": scn_edit("duration: 10ms", "duration: 1e9s"),
        "scn_too_many_requests.yaml": scn_edit("rate: 100fps", "rate: 1e9Hz"),
        "scn_duplicate_key.yaml": scn_edit("deadline: 10ms", "deadline: 10ms\n    priority: 1\n    priority: 2"),
        # precision-policy maps
        "policy_not_utf8.yaml": "ibn.expand: int16\n# \xe9\n".encode("latin-1"),
        "policy_duplicate.yaml": "ibn.expand: int16\nibn.expand: int8\n",
    }


def onnx_cases() -> dict:
    from onnx import TensorProto, helper, numpy_helper
    import numpy as np

    def model(nodes, inputs, outputs, inits=()):
        g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])
    lrn = model([helper.make_node("LRN", ["x"], ["y"], name="norm1", size=3)], [x], [y])
    w = numpy_helper.from_array(np.ones((4, 4, 3, 3), dtype=np.float32), "w")
    conv = model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv1", pads=[1, 1, 1, 1])], [x], [y], [w])
    good = conv.SerializeToString()
    dyn = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, "h", "w"])
    dyn_y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4, "h", "w"])
    x2 = helper.make_tensor_value_info("x2", TensorProto.FLOAT, [1, 4, 8, 8])
    big = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 2000000, 2000000])
    big_y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 2000000, 2000000])
    return {
        "onnx_corrupt.onnx": b"\x08\x07\x12\x04junk\xff\xff\xff\xff\x0f" + bytes(range(256)),
        "onnx_truncated.onnx": good[: len(good) // 2],
        "onnx_empty.onnx": b"",
        "onnx_text.onnx": b"this is not an onnx model\n",
        "onnx_unsupported_op.onnx": lrn.SerializeToString(),
        "onnx_dynamic_shape.onnx": model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [dyn], [dyn_y])
        .SerializeToString(),
        "onnx_two_inputs.onnx": model([helper.make_node("Add", ["x", "x2"], ["y"], name="add")], [x, x2], [y])
        .SerializeToString(),
        "onnx_huge_tensor.onnx": model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [big], [big_y])
        .SerializeToString(),
    }


def main() -> None:
    cases = text_cases()
    try:
        cases.update(onnx_cases())
    except ImportError:
        print("onnx not installed: .onnx cases not regenerated")
    for name, data in cases.items():
        path = HERE / name
        if isinstance(data, str):
            path.write_bytes(data.encode("utf-8"))
        else:
            path.write_bytes(data)
    print(f"wrote {len(cases)} files to {HERE}")


if __name__ == "__main__":
    main()
