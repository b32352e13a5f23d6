"""Mixed-precision policies: which weight/activation format each layer of a Network uses.

- :func:`uniform` -- one format everywhere;
- :func:`first_last` -- the first and last weight layers (conv/linear) in a higher format, the rest low;
- :func:`from_map` -- a YAML/JSON file or dict mapping layer names or globs to a format or to
  ``{weight: ..., act: ...}``;
- :func:`sensitivity` -- measures each conv/linear layer's output SQNR under per-tensor symmetric
  fake quantization (torch) on calibration inputs and keeps the most sensitive layers in the higher
  format, within a budget of weight bits or a fraction of the layers.

Every policy returns a new Network; formats are checked against ``accelsim.precision`` and layer
names against the network, and a mistake raises WorkloadError saying which key is wrong. Whether
the hardware supports a format is checked later, by the simulator.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import json
import math
from pathlib import Path

from .. import precision as prec
from ..errors import WorkloadError, one_line, quote, read_text
from .ir import Network


def _check(p, where: str) -> str:
    if not isinstance(p, str) or p not in prec.INDEX:
        raise WorkloadError(f"{where}: unknown precision {quote(p)}; expected one of {', '.join(prec.NAMES)}")
    return p


def _bits(p: str) -> float:
    return 8 * prec.BYTES_PER_ELEMENT[p]


def _assign(net: Network, formats: dict, default: tuple) -> Network:
    """New network: layer name -> (weight, act) from ``formats``, else ``default``."""
    layers = tuple(layer.with_precision(*formats.get(layer.name, default)) for layer in net.layers)
    return dataclasses.replace(net, layers=layers, input_precision=default[1])


def uniform(net: Network, precision: str, act_precision: str | None = None) -> Network:
    """Every layer (and the input) in ``precision`` (activations in ``act_precision`` if given)."""
    _check(precision, "uniform")
    _check(act_precision or precision, "uniform")
    return net.with_precision(precision, act_precision)


def weight_layers(net: Network) -> list:
    """Names of the layers that hold weights (conv and linear), in order."""
    return [layer.name for layer in net.layers if layer.weight_elements]


def first_last(net: Network, high: str = "int16", low: str = "int8") -> Network:
    """First and last conv/linear layers in ``high`` (weights and outputs), everything else in ``low``."""
    _check(high, "first_last(high)")
    _check(low, "first_last(low)")
    names = weight_layers(net)
    if not names:
        raise WorkloadError(f"first_last: network {net.name} has no conv or linear layer")
    keep = {names[0]: (high, high), names[-1]: (high, high)}
    return _assign(net, keep, (low, low))


def _load_map(path_or_dict) -> tuple:
    if isinstance(path_or_dict, dict):
        return path_or_dict, "precision map"
    path = Path(path_or_dict)
    source = str(path)
    if not path.is_file():
        raise WorkloadError(f"{source}: precision map file not found")
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise WorkloadError(f"{source}: expected a .yaml, .yml or .json precision map")
    text = read_text(path, WorkloadError)
    if suffix == ".json":
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:   # JSONDecodeError; RecursionError: nested too deeply
            raise WorkloadError(f"{source}: cannot parse: {one_line(exc)}") from None
    else:
        from ..io import load_yaml   # duplicate keys, alias bombs: one line, as for every YAML input
        from ..errors import ConfigError
        try:
            data = load_yaml(text, source)
        except ConfigError as exc:
            raise WorkloadError(str(exc)) from None
    if not isinstance(data, dict):
        raise WorkloadError(f"{source}: expected a mapping of layer name or glob -> precision, "
                            f"got {type(data).__name__}")
    return data, source


def _parse_value(value, where: str, default: tuple) -> tuple:
    if isinstance(value, str):
        _check(value, where)
        return value, value
    if isinstance(value, dict):
        unknown = set(value) - {"weight", "act"}
        if unknown or not value:
            raise WorkloadError(f"{where}: expected keys weight and/or act, got {quote(sorted(map(str, value)))}")
        w = _check(value.get("weight", default[0]), f"{where}.weight")
        a = _check(value.get("act", default[1]), f"{where}.act")
        return w, a
    raise WorkloadError(f"{where}: expected a precision name or {{weight: ..., act: ...}}, got {quote(value)}")


def from_map(net: Network, path_or_dict, default: str | None = None) -> Network:
    """Formats from a mapping of layer name or glob (``*``, ``?``, ``[...]``) to a precision name or
    ``{weight: p, act: p}``. Globs apply in file order; exact names override globs. Layers no key
    matches keep their current formats (or take ``default``). A key that matches no layer is an error."""
    data, source = _load_map(path_or_dict)
    current = {layer.name: (layer.weight_precision, layer.act_precision) for layer in net.layers}
    if default is not None:
        _check(default, f"{source}: default")
        current = {name: (default, default) for name in current}
    names = list(current)
    formats = dict(current)
    exact = []
    for key, value in data.items():
        key = str(key)
        where = f"{source}: {one_line(key, 60)}"
        if key in current:
            exact.append((key, value))
            continue
        if not any(ch in key for ch in "*?["):
            close = difflib.get_close_matches(key, names, n=3) or names[:3]
            raise WorkloadError(f"{where}: no layer named {quote(key)} in {net.name} "
                                f"(did you mean {', '.join(close)}?)")
        matched = fnmatch.filter(names, key)
        if not matched:
            raise WorkloadError(f"{where}: glob matches no layer of {net.name}")
        for name in matched:
            formats[name] = _parse_value(value, where, formats[name])
    for key, value in exact:
        formats[key] = _parse_value(value, f"{source}: {key}", formats[key])
    input_precision = default or net.input_precision
    layers = tuple(layer.with_precision(*formats[layer.name]) for layer in net.layers)
    return dataclasses.replace(net, layers=layers, input_precision=input_precision)


# ---- sensitivity (torch) ------------------------------------------------------------------------
def _fake_quant(t, precision: str):
    """Per-tensor symmetric fake quantization (integers) or a round trip through the float format."""
    import torch
    if precision.startswith("int"):
        qmax = 2 ** (int(precision[3:]) - 1) - 1
        scale = t.abs().max() / qmax
        if scale == 0:
            return t
        return torch.clamp(torch.round(t / scale), -qmax, qmax) * scale
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[precision]
    return t.to(dtype).to(t.dtype)


def layer_sqnr(module, net: Network, calib_inputs, precision: str = "int8") -> dict:
    """SQNR in dB of each conv/linear layer's output when its weights and input are fake-quantized to
    ``precision`` (one layer at a time, the rest in float), over the calibration inputs.

    Layers are matched by name: the torch.fx importer names a conv/linear layer by its module path.
    Batch norm is not folded into the weights before quantizing.
    """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    _check(precision, "layer_sqnr")
    names = set(weight_layers(net))
    targets = {n: m for n, m in module.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and n in names}
    if not targets:
        raise WorkloadError(f"sensitivity: no conv/linear module of {type(module).__name__} is a layer of "
                            f"{net.name} (build the network with from_torch from the same module)")
    signal = {n: 0.0 for n in targets}
    noise = {n: 0.0 for n in targets}

    def hook(name):
        def run(m, args, out):
            x = _fake_quant(args[0], precision)
            w = _fake_quant(m.weight, precision)
            if isinstance(m, nn.Conv2d):
                yq = F.conv2d(x, w, m.bias, m.stride, m.padding, m.dilation, m.groups) \
                    if m.padding_mode == "zeros" else m._conv_forward(x, w, m.bias)
            else:
                yq = F.linear(x, w, m.bias)
            signal[name] += float((out.double() ** 2).sum())
            noise[name] += float(((out.double() - yq.double()) ** 2).sum())
        return run

    handles = [m.register_forward_hook(hook(n)) for n, m in targets.items()]
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        with torch.no_grad():
            batches = [calib_inputs] if isinstance(calib_inputs, torch.Tensor) else list(calib_inputs)
            if not batches:
                raise WorkloadError("sensitivity: calib_inputs is empty")
            for x in batches:
                module(x)
    finally:
        for h in handles:
            h.remove()
        for m, training in modes:
            m.training = training
    return {n: (math.inf if noise[n] == 0 else 10 * math.log10(max(signal[n], 1e-300) / noise[n])) for n in targets}


def sensitivity(module, net: Network, calib_inputs, bits_budget: float | None = None,
                fraction_high: float | None = None, low: str = "int8", high: str = "int16") -> Network:
    """Keep the layers with the lowest SQNR at ``low`` in ``high`` (weights and outputs), the rest in ``low``.

    Exactly one budget: ``fraction_high`` -- the share of conv/linear layers kept high (rounded down);
    or ``bits_budget`` -- the total weight storage in bits, filled greedily from the most sensitive
    layer (a layer that does not fit is skipped and the next one tried).
    """
    _check(low, "sensitivity(low)")
    _check(high, "sensitivity(high)")
    if (bits_budget is None) == (fraction_high is None):
        raise WorkloadError("sensitivity: give exactly one of bits_budget or fraction_high")
    sqnr = layer_sqnr(module, net, calib_inputs, low)
    order = sorted(sqnr, key=lambda n: (sqnr[n], n))
    params = {layer.name: layer.param_count for layer in net.layers if layer.weight_elements}
    chosen = []
    if fraction_high is not None:
        if not 0 <= fraction_high <= 1:
            raise WorkloadError(f"sensitivity: fraction_high must be in [0, 1], got {fraction_high}")
        chosen = order[:int(math.floor(fraction_high * len(params) + 1e-9))]
    else:
        cost = sum(p * _bits(low) for p in params.values())
        if bits_budget < cost:
            raise WorkloadError(f"sensitivity: bits_budget {bits_budget:g} is below the {cost:g} bits of all "
                                f"weights in {low}")
        for name in order:
            extra = params[name] * (_bits(high) - _bits(low))
            if cost + extra <= bits_budget:
                chosen.append(name)
                cost += extra
    return _assign(net, {n: (high, high) for n in chosen}, (low, low))
