"""What ``experiments/detector_fusion.py`` and ``experiments/segmentation_robot.py`` rest on, pinned as numbers:
the MACs that fusing one stage of the SSDLite-MobileNetV2 detector adds, worked out by hand from the block
shapes, and the rule that picks models A-E from a front.

Hand-computed MACs (320 px input; a kxk conv costs H_out * W_out * k * k * C_in * C_out, a depthwise one
H_out * W_out * k * k * C):

- s0 (one block, expansion 1, 160x160x32 -> 16): as IBN a 3x3 depthwise conv (160²·9·32) and the 1x1
  projection; fused, a 3x3 full conv 32 -> 32 (160²·9·32·32) and the same projection. Added:
  160²·9·32·31 = 228,556,800.
- s1 (two blocks, expansion 6, 160x160x16 -> 80x80x24): block 0 as IBN expands 16 -> 96 at 160x160
  (160²·16·96 = 39,321,600) and runs a stride-2 3x3 depthwise conv (80²·9·96 = 5,529,600); fused, one
  stride-2 3x3 conv 16 -> 96 (80²·9·16·96 = 88,473,600): +43,622,400. Block 1 (24 -> 144 at 80x80): IBN
  80²·24·144 + 80²·9·144, fused 80²·9·24·144: +80²·144·(216 - 24 - 9) = +168,652,800. Stage: +212,275,200.
"""

from __future__ import annotations

import copy

import pytest
import yaml

import accelsim
from accelsim.config import hardware_to_dict
from accelsim.io import read_yaml
from codesign.spaces.model_space import model_space_from_dict
from codesign.spaces.space import build_network
from experiments import product_models as PM
from experiments.detector_fusion import fuse_one, parse_target
from experiments.segmentation_robot import LEVEL_NAMES, five_levels, genes_text


class _Choices:
    """Stands in for a search problem where only its genes' names are read."""

    def __init__(self, space):
        self.choices = dict(space.choices)


@pytest.fixture(scope="module")
def fusion_space():
    data = read_yaml(PM.EXAMPLES_DIR / "detector_fusion.yaml")
    return model_space_from_dict(copy.deepcopy(data["space"]["network"]))


@pytest.mark.parametrize("stage, added", [("s0", 160 ** 2 * 9 * 32 * 31),
                                          ("s1", (80 ** 2 * 9 * 16 * 96 - 160 ** 2 * 16 * 96 - 80 ** 2 * 9 * 96)
                                           + 80 ** 2 * 144 * (9 * 24 - 24 - 9))])
def test_fusing_one_stage_adds_the_hand_worked_macs(fusion_space, stage, added):
    genes = fuse_one(_Choices(fusion_space), stage)
    assert [k for k, v in genes.items() if v == "fused_ibn"] == [f"{stage}.block"]
    base = build_network(fusion_space.genome({}))
    fused = build_network(fusion_space.genome(genes))
    assert base.macs == 788_830_144                    # the zoo detector (tests/test_heads.py)
    assert fused.macs - base.macs == added
    assert added == {"s0": 228_556_800, "s1": 212_275_200}[stage]


def test_fuse_one_all_fuses_every_stage(fusion_space):
    genes = fuse_one(_Choices(fusion_space), "all")
    assert len(genes) == 7 and set(genes.values()) == {"fused_ibn"}


def _d(latency, accuracy):
    return {"latency_ms": latency, "accuracy": accuracy}


def test_five_levels_pick_what_a_hand_made_front_says():
    # baseline proxy 10; best 14: levels 10, 11, 12, 13, 14 (E..A); the 9.0 design is below the baseline
    front = [_d(0.4, 9.0), _d(0.5, 10.0), _d(0.6, 10.5), _d(0.7, 11.0), _d(0.8, 12.0), _d(1.0, 14.0)]
    picks = five_levels(front, 10.0)
    assert [p["name"] for p in picks] == list(LEVEL_NAMES) == ["E", "D", "C", "B", "A"]
    assert [p["level"] for p in picks] == [10.0, 11.0, 12.0, 13.0, 14.0]
    assert [(p["design"]["latency_ms"], p["design"]["accuracy"]) for p in picks] == \
        [(0.5, 10.0), (0.7, 11.0), (0.8, 12.0), (1.0, 14.0), (1.0, 14.0)]


def test_five_levels_ties_and_edges():
    # equal latencies: the higher proxy; a level between designs takes the next one up
    picks = five_levels([_d(0.5, 10.0), _d(0.5, 10.2), _d(0.9, 18.0)], 10.0)   # levels 10, 12, 14, 16, 18
    assert [p["design"]["accuracy"] for p in picks] == [10.2, 18.0, 18.0, 18.0, 18.0]
    # only the baseline reaches its own level: every pick is it
    only = five_levels([_d(1.0, 10.0), _d(0.6, 9.9)], 10.0)
    assert {id(p["design"]) for p in only} == {id(only[0]["design"])} and only[0]["design"]["latency_ms"] == 1.0
    assert five_levels([_d(0.6, 9.9)], 10.0) == []


def test_hardware_variant_sets_the_policy(tmp_path):
    assert PM.hardware_variant("neural_engine", None, tmp_path) == "neural_engine"
    assert PM.hardware_variant("neural_engine", "resident", tmp_path) == "neural_engine"   # its own policy
    path = PM.hardware_variant("neural_engine", "dram", tmp_path)
    hw = accelsim.load_hardware(path)
    assert hw.name == "neural_engine_dram" and hw.activation_policy == "dram"
    variant, shipped = hardware_to_dict(hw), hardware_to_dict(accelsim.load_hardware("neural_engine"))
    for d in (variant, shipped):   # all else as shipped
        del d["name"], d["description"], d["memory"]["activation_policy"]
    assert variant == shipped
    assert yaml.safe_load(open(path))["memory"]["activation_policy"] == "dram"


def test_targets_and_texts():
    assert parse_target("neural_engine:fused") == ("neural_engine_fused", "neural_engine", "fused")
    assert parse_target("edge_tpu_like") == ("edge_tpu_like", "edge_tpu_like", None)
    with pytest.raises(Exception, match="dram, resident or fused"):
        parse_target("neural_engine:sram")
    assert PM.spread([-14.0, -10.0, -20.0]) == "-14.0 [-20.0, -10.0]"
    assert PM.spread([3.0]) == "3.0"
    assert genes_text({"resolution": 384, "output_stride": 16, "width_multiplier": 0.75, "s0.block": "fused_ibn",
                       "s1.block": "ibn", "s2.block": "fused_ibn"}) == "384 px, OS 16, width 0.75, fused s0+s2"
