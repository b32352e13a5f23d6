"""Dense conv/FC compute cycles equal SCALE-Sim 3.0.0's, case by case.

``tests/data/scalesim_golden.json`` holds COMPUTE_REPORT.csv rows produced by SCALE-Sim 3.0.0 itself
(9 layers x 5 array shapes x 3 dataflows, SRAM large enough for zero stalls). SCALE-Sim's
"Total Cycles" is compute plus its own stall model, so the compute part is total - stall.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import accelsim
from accelsim.workload import Network
from accelsim.workload.scalesim import scalesim_layer

from conftest import make_hw

GOLDEN = json.loads((Path(__file__).parent / "data" / "scalesim_golden.json").read_text())


def case_id(c):
    return f"{c['layer']}-{c['rows']}x{c['cols']}-{c['dataflow']}"


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=case_id)
def test_compute_cycles_equal_scalesim(case):
    layer = scalesim_layer(case["layer"], case["ifmap_h"], case["ifmap_w"], case["filter_h"], case["filter_w"],
                           case["channels"], case["num_filter"], case["stride"])
    net = Network(case["layer"], layer.in_shape, (layer,))
    hw = make_hw(**{"array.rows": case["rows"], "array.cols": case["cols"], "array.dataflow": case["dataflow"],
                    "memory.sram.ifmap_kb": 1024, "memory.sram.filter_kb": 1024, "memory.sram.ofmap_kb": 1024})
    report = accelsim.simulate(net, hw)
    assert report.compute_cycles == case["total_cycles"] - case["stall_cycles"]
    assert 100 * report.layers()[0]["mapping_efficiency"] == pytest.approx(case["mapping_efficiency_pct"], rel=1e-9)


def test_golden_file_covers_the_grid():
    cases = GOLDEN["cases"]
    assert {c["dataflow"] for c in cases} == {"os", "ws", "is"}
    assert len({(c["rows"], c["cols"]) for c in cases}) >= 5
    assert len(cases) >= 100
