"""The figures read what they draw: the roofline's roofs, axis label and legend agree with the numbers."""

from __future__ import annotations

import numpy as np
import pytest

import accelsim.plots
from accelsim import load_hardware, load_model, simulate
from accelsim.html_report import layer_roofs


def _drawn(monkeypatch, hw_name: str):
    figures = []
    monkeypatch.setattr(accelsim.plots, "save_figure", lambda fig, path, **kw: figures.append(fig))
    report = simulate(load_model("mobilenet_v2"), load_hardware(hw_name))
    accelsim.plots.plot_report(report, "unused.png")
    return report, figures[0]


@pytest.mark.parametrize("hw_name, y_unit", [("neural_engine", "array: MACs"), ("gpu_like", "dense, depthwise: MACs")])
def test_roofline_roofs_label_and_layers_agree(monkeypatch, hw_name, y_unit):
    report, fig = _drawn(monkeypatch, hw_name)
    bars, roof = fig.axes
    assert y_unit in roof.get_ylabel()
    bw = report.hardware.dram_bytes_per_cycle
    peaks, names = layer_roofs(report)
    lines = {line.get_label(): line for line in roof.get_lines()}
    for name in set(n for n in names if n):
        peak = peaks[names.index(name)]
        line = lines[f"{name} roof: {peak:.4g} ops/cycle"]
        x, y = line.get_xdata(), line.get_ydata()
        assert y.max() == pytest.approx(peak)                          # flat at the unit's peak
        assert np.allclose(y, np.minimum(peak, x * bw))                # below it, the DRAM slope
    dram = lines[f"DRAM roof: {bw:.3g} bytes/cycle"]
    assert np.allclose(dram.get_ydata(), dram.get_xdata() * bw)       # a slope only, no roof of its own
    for points in roof.collections:                                   # every layer under its unit's roof
        name = points.get_label().rsplit(" layers", 1)[0]
        peak = peaks[names.index(name)]
        x, y = points.get_offsets().T
        assert (y <= np.minimum(peak, x * bw) * (1 + 1e-9)).all()
    stall = bars.get_legend().get_texts()[-1].get_text()
    assert stall == ("DMA stall" if hw_name == "neural_engine" else "DRAM wait + per-layer overhead")
