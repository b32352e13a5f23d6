"""Network IR: a DAG of layers in topological order, with shapes inferred as layers are added.

Tensors are (height, width, channels) for one sample (batch 1); a linear layer over T tokens is a
1x1 convolution on a (T, 1, C) tensor. Each layer carries its own weight and activation format
(mixed precision). Activations fused into a conv (ReLU, ReLU6, ...) cost nothing extra; standalone
activation layers run on the vector unit.

A conv or pool may be dilated: its kernel taps sit ``dilation`` apart, so it reads an input window of
``effective_kernel`` = d*(k-1)+1 per output pixel but does the MACs of a plain kxk kernel. Every layer
may carry a ``block`` id, "<stage>.<block>" (e.g. "s3.b1"), naming the block it belongs to so that
results can be grouped by block or by stage (the part before the first ".").

:meth:`Network.prune_dead` is the graph pass an inference compiler runs before deployment: it removes
layers whose output is constant (zero ops, subgraphs that no longer depend on the input), layers whose
results nothing uses, and exact duplicates of other layers.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

from .. import precision as prec
from ..errors import WorkloadError

INPUT = "input"

# Largest layer the simulator accepts: a bigger one is a typo or a unit mistake, and its tiling search
# and cycle counts would run for hours or overflow. Checked wherever a network is built.
MAX_DIM = 2 ** 20            # height, width, channels, kernel side of any tensor or layer
MAX_ELEMENTS = 2 ** 34       # elements of one tensor (activation or weights), 16 GiB at int8

# Operator codes shared with the engine's structure-of-arrays tables (never renumber).
OPS = ("conv", "pool", "add", "act", "concat", "upsample", "matmul", "conv_transpose")
CONV_OPS = ("conv", "conv_transpose")   # operators with a kxk filter of weights (and optional groups)
OP_CODE = {name: i for i, name in enumerate(OPS)}

# Element-wise activations f with f(0) == 0: applied to a zero tensor they give a zero tensor. Any other
# activation of a zero tensor (sigmoid, batch norm's shift, ``add_const``) gives a nonzero constant.
ZERO_PRESERVING_ACTS = frozenset({"relu", "relu6", "identity", "hardswish", "silu", "gelu", "tanh",
                                  "leaky_relu", "elu", "mish", "mul_const", "div_const"})
# Element-wise activations fully described by their kind. Others (batch norm, ``mul_const``, leaky_relu,
# clip, layer norm, ...) hold parameters the IR does not carry, so two of them on one tensor may differ.
PARAMETER_FREE_ACTS = frozenset({"relu", "relu6", "identity", "hardswish", "hardsigmoid", "silu", "gelu",
                                 "sigmoid", "tanh", "mish", "softmax"})


def layer_macs(op: str, in_shape, out_shape, kernel, stride, padding, groups: int) -> int:
    """:attr:`Layer.macs` of a layer described by its fields (row builders count with it too)."""
    oh, ow, oc = out_shape
    if op == "conv":
        return oh * ow * oc * kernel[0] * kernel[1] * (in_shape[2] // groups)
    if op == "conv_transpose":
        taps = (transposed_taps(in_shape[0], oh, kernel[0], stride[0], padding[0])
                * transposed_taps(in_shape[1], ow, kernel[1], stride[1], padding[1]))
        return taps * oc * (in_shape[2] // groups)
    if op == "matmul":
        return oh * ow * oc * in_shape[2]
    return 0


@dataclass(frozen=True)
class Layer:
    """One operator. ``inputs`` names producer layers (or ``"input"``)."""

    name: str
    op: str
    inputs: tuple
    in_shape: tuple          # (H, W, C) of the first input
    out_shape: tuple         # (H, W, C)
    kernel: tuple = (1, 1)   # (kh, kw); pooling window; upsample: (1,1) nearest, (2,2) bilinear
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)  # (ph, pw) each side; (top, bottom, left, right) when asymmetric
    groups: int = 1
    bias: bool = False
    activation: str = ""     # fused activation, free of cost
    weight_precision: str = "int8"
    act_precision: str = "int8"
    attrs: tuple = ()        # op-specific (pool type, activation kind, ...) as (key, value) pairs
    dilation: tuple = (1, 1)  # (dh, dw) spacing of kernel taps (conv, pool); does not change MACs or weights
    block: str = ""          # "<stage>.<block>" this layer belongs to ("" if none), for grouped results

    @property
    def effective_kernel(self) -> tuple:
        """(rows, cols) of input one output pixel reads: d*(k-1)+1 per dimension."""
        (kh, kw), (dh, dw) = self.kernel, self.dilation
        return dh * (kh - 1) + 1, dw * (kw - 1) + 1

    @property
    def stage(self) -> str:
        """The stage part of ``block`` (before the first "."); "" if the layer has no block."""
        return self.block.split(".", 1)[0]

    @property
    def in_channels(self) -> int:
        return self.in_shape[2]

    @property
    def out_channels(self) -> int:
        return self.out_shape[2]

    @property
    def is_depthwise(self) -> bool:
        return self.op == "conv" and self.groups > 1 and self.groups == self.in_channels

    @property
    def weight_elements(self) -> int:
        if self.op in CONV_OPS:
            kh, kw = self.kernel
            return kh * kw * (self.in_channels // self.groups) * self.out_channels
        return 0

    @property
    def param_count(self) -> int:
        return self.weight_elements + (self.out_channels if self.bias and self.op in CONV_OPS else 0)

    @property
    def macs(self) -> int:
        """Multiply-accumulates (conv, linear, matmul); 0 for vector-only ops. A transposed conv counts
        only its useful MACs (input pixel x filter tap pairs landing inside the output), not the
        products with the zeros its equivalent dense conv inserts between input pixels."""
        return layer_macs(self.op, self.in_shape, self.out_shape, self.kernel, self.stride, self.padding, self.groups)

    @property
    def output_elements(self) -> int:
        h, w, c = self.out_shape
        return h * w * c

    @property
    def kind(self) -> str:
        """The ``kind`` attribute (pool type, activation, "mul" for an element-wise product); "" if none."""
        for key, value in self.attrs:
            if key == "kind":
                return value
        return ""

    @property
    def is_zero(self) -> bool:
        """True when the layer's output is all zeros whatever its inputs hold (attribute ``zero``):
        a multiply by a zero constant, as NAS-Bench-201's Zero op computes."""
        return ("zero", True) in self.attrs

    def with_precision(self, weight: str | None = None, act: str | None = None) -> "Layer":
        return dataclasses.replace(self, weight_precision=weight or self.weight_precision,
                                   act_precision=act or self.act_precision)


@dataclass(frozen=True)
class Network:
    """Layers in topological order; the input tensor is named ``"input"``."""

    name: str
    input_shape: tuple
    layers: tuple
    input_precision: str = "int8"
    pruned_layers: int = 0   # layers that prune_dead removed from the graph as written (0: not pruned)

    def __post_init__(self):
        seen = {INPUT}
        for layer in self.layers:
            if layer.name in seen:
                raise WorkloadError(f"network {self.name}: layer name {layer.name!r} is used twice")
            for src in layer.inputs:
                if src not in seen:
                    raise WorkloadError(f"network {self.name}: layer {layer.name!r} reads {src!r}, "
                                        "which is not an earlier layer (layers must be in topological order)")
            seen.add(layer.name)
        if not self.layers:
            raise WorkloadError(f"network {self.name}: has no layers")
        problem = size_problem(self.input_shape)
        if problem:
            raise WorkloadError(f"network {self.name}: input {problem}")
        for layer in self.layers:
            problem = layer_size_problem(layer)
            if problem:
                raise WorkloadError(f"network {self.name}: layer {layer.name!r}: {problem}")

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    @cached_property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @cached_property
    def params(self) -> int:
        return sum(layer.param_count for layer in self.layers)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @cached_property
    def param_bytes(self) -> float:
        return sum(layer.param_count * prec.BYTES_PER_ELEMENT[layer.weight_precision] for layer in self.layers)

    @cached_property
    def peak_activation_bytes(self) -> float:
        """Largest set of live activations while running layers in order.

        A tensor is live from when its producer runs until its last consumer has run; the
        network input is live until its last consumer. The network output stays live to the end.
        """
        size = {INPUT: _elements(self.input_shape) * prec.BYTES_PER_ELEMENT[self.input_precision]}
        last_use = {INPUT: -1}
        for i, layer in enumerate(self.layers):
            size[layer.name] = layer.output_elements * prec.BYTES_PER_ELEMENT[layer.act_precision]
            last_use[layer.name] = i
            for src in layer.inputs:
                last_use[src] = i
        last_use[self.layers[-1].name] = len(self.layers)
        live = {INPUT}
        peak = size[INPUT]
        for i, layer in enumerate(self.layers):
            live.add(layer.name)
            peak = max(peak, sum(size[t] for t in live))
            live = {t for t in live if last_use[t] > i}
        return peak

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def with_precision(self, weight: str, act: str | None = None) -> "Network":
        """Uniform precision for every layer (and the input)."""
        act = act or weight
        return dataclasses.replace(self, layers=tuple(l.with_precision(weight, act) for l in self.layers),
                                   input_precision=act)

    def precisions_used(self) -> set:
        out = {self.input_precision}
        for layer in self.layers:
            out.add(layer.act_precision)
            if layer.weight_elements:
                out.add(layer.weight_precision)
        return out

    def prune_dead(self, outputs: Sequence[str] | None = None) -> "Network":
        """This network as an inference compiler deploys it: a new Network without the layers whose work
        is never needed, with ``pruned_layers`` counting how many went (added to this one's count).

        ``outputs`` names the layers whose values the network returns (default: its last layer). In
        one pass over the layers in order, the pass

        - marks each layer zero (its output is all zeros: a layer with attribute ``zero``, a multiply
          with a zero operand, a bias-free conv, pool, reshape or zero-preserving activation of zeros),
          constant (all its inputs are zero or constant: it no longer depends on the network input, a
          compiler evaluates it once) or live;
        - reduces an element-wise add to its live operands: zero operands are dropped and constant
          ones fold into a bias; an add left with one operand is removed and its consumers read that
          operand (an activation fused into it stays, as a standalone activation layer);
        - merges a layer into an earlier one with the same operator, attributes and inputs: exact for
          layers without parameters (pools, adds, ReLU and other ``PARAMETER_FREE_ACTS``); layers with
          weights merge only when they name the same weights (attribute ``weights``), as the IR does
          not hold weight values, and parameterised activations (batch norm, ``mul_const``) never;
        - removes every layer that no output depends on, transitively (constant and zero layers that
          a live layer still reads, e.g. a concatenation, are kept).

        A network whose outputs are all constant, or the input itself, keeps one trivial layer (an
        identity of the input named ``constant``), since a Network has at least one layer. The
        result is well-formed (names unique, inputs earlier layers, order kept) and pruning it again
        changes nothing.
        """
        return _prune_dead(self, outputs)

    def summary(self) -> dict:
        return {"name": self.name, "layers": len(self.layers), "macs": self.macs, "params": self.params,
                "param_bytes": self.param_bytes, "peak_activation_bytes": self.peak_activation_bytes}


_ZERO, _CONST, _LIVE = 0, 1, 2


def _zero_preserving(layer: Layer) -> bool:
    """True when ``layer`` applied to all-zero inputs gives zeros."""
    if layer.activation and layer.activation not in ZERO_PRESERVING_ACTS:
        return False
    if layer.op in CONV_OPS:
        return not layer.bias
    if layer.op == "act":
        return layer.kind in ZERO_PRESERVING_ACTS
    return layer.op in ("pool", "concat", "upsample", "matmul", "add")


def _value_state(layer: Layer, states: list) -> int:
    """Zero, constant or live, for ``layer`` whose inputs are in ``states``."""
    if layer.is_zero:
        return _ZERO
    if layer.op == "matmul" or (layer.op == "add" and layer.kind == "mul"):
        if _ZERO in states:           # a product with a zero factor
            return _ZERO
    if not states or _LIVE in states:
        return _LIVE
    return _ZERO if all(s == _ZERO for s in states) and _zero_preserving(layer) else _CONST


def _merge_key(layer: Layer, inputs: tuple):
    """What makes two layers compute the same tensor; None for a layer with weights of its own."""
    if layer.weight_elements and not any(k == "weights" for k, _ in layer.attrs):
        return None
    if layer.op == "act" and layer.kind not in PARAMETER_FREE_ACTS:
        return None
    if layer.op == "add" and not layer.kind:
        inputs = tuple(sorted(inputs))   # a sum does not depend on the order of its operands
    rest = dataclasses.replace(layer, name="", inputs=(), block="")
    return inputs, rest


def _prune_dead(net: Network, outputs) -> Network:
    names = {layer.name for layer in net.layers}
    outputs = (net.layers[-1].name,) if outputs is None else tuple(outputs)
    for out in outputs:
        if out not in names:
            raise WorkloadError(f"network {net.name}: prune_dead output {out!r} is not a layer of the network")
    alias: dict = {}          # removed layer -> the layer (or input) that now holds its value

    def resolve(name: str) -> str:
        while name in alias:
            name = alias[name]
        return name

    state = {INPUT: _LIVE}
    merged: dict = {}
    kept: list = []
    for layer in net.layers:
        inputs = tuple(resolve(i) for i in layer.inputs)
        states = [state[i] for i in inputs]
        value = _value_state(layer, states)
        if value == _LIVE and layer.op == "add" and not layer.kind and _LIVE in states:
            live = tuple(i for i, s in zip(inputs, states) if s == _LIVE)
            if len(live) == 1 and not layer.activation:
                alias[layer.name] = live[0]
                continue
            if len(live) == 1:        # act(x + 0) or act(x + bias): the activation alone
                layer = dataclasses.replace(layer, op="act", attrs=(("kind", layer.activation),), activation="")
            inputs = live
        if inputs != layer.inputs:
            layer = dataclasses.replace(layer, inputs=inputs)
        key = _merge_key(layer, inputs)
        if key is not None and key in merged:
            alias[layer.name] = merged[key]
            continue
        if key is not None:
            merged[key] = layer.name
        state[layer.name] = value
        kept.append(layer)
    roots = [resolve(o) for o in outputs]
    if all(r == INPUT or state[r] != _LIVE for r in roots):
        shape = net.input_shape
        trivial = Layer("constant", "act", (INPUT,), shape, shape, act_precision=net.input_precision,
                        weight_precision=net.input_precision, attrs=(("kind", "identity"),))
        layers = (trivial,)
    else:
        needed = {r for r in roots if r != INPUT}
        for layer in reversed(kept):
            if layer.name in needed:
                needed.update(layer.inputs)
        layers = tuple(layer for layer in kept if layer.name in needed)
    return dataclasses.replace(net, layers=layers,
                               pruned_layers=net.pruned_layers + len(net.layers) - len(layers))


def size_problem(shape, what: str = "shape") -> str:
    """'' if a tensor of ``shape`` is within MAX_DIM per dimension and MAX_ELEMENTS in all; else what is wrong."""
    if any(d > MAX_DIM for d in shape):
        return f"{what} {tuple(shape)} has a dimension above {MAX_DIM:,} (2^20); expected a smaller layer"
    if _elements(shape) > MAX_ELEMENTS:
        return (f"{what} {tuple(shape)} has {_elements(shape):,} elements, more than {MAX_ELEMENTS:,} (2^34); "
                "expected a smaller layer")
    return ""


def layer_size_problem(layer: "Layer") -> str:
    """'' if every tensor of ``layer`` (input, output, weights, kernel) is within the limits; else what is wrong."""
    (h, w, c), (oh, ow, oc) = layer.in_shape[:3], layer.out_shape[:3]
    if max(h, w, c, oh, ow, oc, *layer.kernel) <= MAX_DIM and h * w * c <= MAX_ELEMENTS \
            and oh * ow * oc <= MAX_ELEMENTS and layer.weight_elements <= MAX_ELEMENTS:
        return ""   # the common case, first: networks are built thousands of times in a search
    for what, shape in (("input", layer.in_shape), ("output", layer.out_shape), ("kernel", layer.kernel)):
        problem = size_problem(shape, what)
        if problem:
            return problem
    if layer.weight_elements > MAX_ELEMENTS:
        return (f"weights have {layer.weight_elements:,} elements, more than {MAX_ELEMENTS:,} (2^34); "
                "expected a smaller layer")
    return ""


def _elements(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def conv_transpose_out(size: int, k: int, s: int, p: int, output_padding: int = 0) -> int:
    """Output size of a transposed conv: (size - 1) * s - 2p + k + output_padding."""
    return (size - 1) * s - 2 * p + k + output_padding


def transposed_taps(size_in: int, size_out: int, k: int, s: int, p: int) -> int:
    """(input index, filter tap) pairs of one axis of a transposed conv that land inside the output:
    input i and tap j write output o = i*s - p + j, kept when 0 <= o < size_out."""
    n = 0
    for j in range(k):
        lo = max(0, -((j - p) // s))                 # smallest i with i*s - p + j >= 0
        hi = min(size_in - 1, (size_out - 1 + p - j) // s)
        n += max(0, hi - lo + 1)
    return n


def conv_out(size: int, k: int, s: int, p: int, d: int = 1) -> int:
    """Output size of a window of k taps ``d`` apart, stride s, padding p on each side."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


class NetworkBuilder:
    """Adds layers with inferred shapes; every method returns the new layer's name (a tensor handle).

    >>> b = NetworkBuilder("tiny", (32, 32, 3))
    >>> x = b.conv(b.input, 16, 3, stride=2, activation="relu")
    >>> b.build().layers[0].out_shape
    (16, 16, 16)

    Layers added inside ``with b.block("s3.b1"):`` carry that block id (the innermost one when nested).
    """

    def __init__(self, name: str, input_shape: Sequence[int], precision: str = "int8",
                 weight_precision: str | None = None):
        if len(input_shape) != 3 or any(int(s) <= 0 for s in input_shape):
            raise WorkloadError(f"network {name}: input shape must be (H, W, C) of positive sizes, got {input_shape}")
        problem = size_problem(tuple(int(s) for s in input_shape), "input shape")
        if problem:
            raise WorkloadError(f"network {name}: {problem}")
        for p in (precision, weight_precision or precision):
            if p not in prec.INDEX:
                raise WorkloadError(f"network {name}: unknown precision {p!r}; expected one of {', '.join(prec.NAMES)}")
        self.name = name
        self.input_shape = tuple(int(s) for s in input_shape)
        self.precision = precision
        self.weight_precision = weight_precision or precision
        self.layers: list[Layer] = []
        self._shapes = {INPUT: self.input_shape}
        self._counts: dict[str, int] = {}
        self._blocks: list[str] = []
        self._block = ""          # the innermost active block id, stamped on new layers
        self.input = INPUT

    # -- helpers -------------------------------------------------------------------------------
    @property
    def count(self) -> int:
        """Layers added so far."""
        return len(self.layers)

    def shape(self, tensor: str) -> tuple:
        try:
            return self._shapes[tensor]
        except KeyError:
            raise WorkloadError(f"network {self.name}: unknown tensor {tensor!r}") from None

    def _name(self, op: str, name: str | None) -> str:
        if name:
            return name
        n = self._counts.get(op, 0)
        self._counts[op] = n + 1
        return f"{op}{n}"

    @contextlib.contextmanager
    def block(self, block_id: str):
        """Stamp every layer added inside with ``block_id`` ("<stage>.<block>"); innermost wins.

        Layers that already carry a block (spliced from another builder) keep theirs.
        """
        self._blocks.append(str(block_id))
        self._block = self._blocks[-1]
        try:
            yield block_id
        finally:
            self._blocks.pop()
            self._block = self._blocks[-1] if self._blocks else ""

    def _default_block(self, block_id: str):
        """``block(block_id)`` unless a block is already active (then the caller's block wins)."""
        return contextlib.nullcontext() if self._blocks else self.block(block_id)

    def _new_layer(self, *args, **kwargs) -> Layer:
        return Layer(*args, block=self._block, **kwargs)

    def _add(self, layer: Layer) -> str:
        if self._block and not layer.block:   # a spliced layer without a block of its own
            layer = dataclasses.replace(layer, block=self._block)
        if any(s <= 0 for s in layer.out_shape):
            raise WorkloadError(f"network {self.name}: layer {layer.name!r} has an empty output {layer.out_shape} "
                                f"(input {layer.in_shape}, kernel {layer.kernel}, stride {layer.stride})")
        if layer.name in self._shapes:
            raise WorkloadError(f"network {self.name}: layer name {layer.name!r} is used twice")
        problem = layer_size_problem(layer)
        if problem:   # here, not only in Network: the next layer's shape arithmetic would build on it
            raise WorkloadError(f"network {self.name}: layer {layer.name!r}: {problem}")
        self.layers.append(layer)
        self._shapes[layer.name] = layer.out_shape
        return layer.name

    def _prec(self, weight, act):
        return dict(weight_precision=weight or self.weight_precision, act_precision=act or self.precision)

    # -- operators -----------------------------------------------------------------------------
    def conv(self, x: str, out_channels: int, kernel=1, stride=1, padding=None, groups: int = 1,
             activation: str = "", bias: bool = True, name: str | None = None,
             weight_precision: str | None = None, act_precision: str | None = None, dilation=1,
             weights: str = "") -> str:
        """kxk convolution; ``padding`` is None ('same' for odd kernels: d*(k//2)), an int, (ph, pw) or
        (top, bottom, left, right); ``dilation`` is an int or (dh, dw). ``weights`` names the weight
        tensor when several layers share one (two such convs of one input are one conv to
        :meth:`Network.prune_dead`); "" (default) gives the layer weights of its own."""
        h, w, c = self.shape(x)
        kh, kw = _pair(kernel)
        sh, sw = _pair(stride)
        nm = self._name("conv", name)
        dh, dw = self._dilation(dilation, nm)
        pad, (pt, pb, pl, pr) = _padding((dh * (kh // 2), dw * (kw // 2)) if padding is None else padding)
        if out_channels <= 0 or groups <= 0 or c % groups or out_channels % groups:
            raise WorkloadError(f"network {self.name}: layer {nm!r}: channels {c}->{out_channels} "
                                f"are not divisible by groups={groups}")
        out = (_out_size(h, dh * (kh - 1) + 1, sh, pt, pb), _out_size(w, dw * (kw - 1) + 1, sw, pl, pr),
               int(out_channels))
        return self._add(self._new_layer(nm, "conv", (x,), (h, w, c), out, (kh, kw), (sh, sw), pad, groups, bias,
                               activation, **self._prec(weight_precision, act_precision), dilation=(dh, dw),
                               attrs=(("weights", str(weights)),) if weights else ()))

    def conv_transpose(self, x: str, out_channels: int, kernel=2, stride=2, padding=0, output_padding=0,
                       groups: int = 1, activation: str = "", bias: bool = True, name: str | None = None,
                       weight_precision: str | None = None, act_precision: str | None = None) -> str:
        """Transposed convolution (learned upsampling), as torch's ConvTranspose2d: output size
        (H-1)*stride - 2*padding + kernel + output_padding per axis; ``padding`` and
        ``output_padding`` are ints or (h, w) pairs, ``output_padding`` below the stride."""
        h, w, c = self.shape(x)
        kh, kw = _pair(kernel)
        sh, sw = _pair(stride)
        ph, pw = _pair(padding)
        oph, opw = _pair(output_padding)
        nm = self._name("convT", name)
        if min(kh, kw, sh, sw) <= 0 or min(ph, pw) < 0:
            raise WorkloadError(f"network {self.name}: layer {nm!r}: kernel and stride must be positive and "
                                f"padding non-negative, got kernel {kernel!r}, stride {stride!r}, padding {padding!r}")
        if not (0 <= oph < sh and 0 <= opw < sw):
            raise WorkloadError(f"network {self.name}: layer {nm!r}: output_padding must be in [0, stride), "
                                f"got {output_padding!r} with stride {stride!r}")
        if out_channels <= 0 or groups <= 0 or c % groups or out_channels % groups:
            raise WorkloadError(f"network {self.name}: layer {nm!r}: channels {c}->{out_channels} "
                                f"are not divisible by groups={groups}")
        out = (conv_transpose_out(h, kh, sh, ph, oph), conv_transpose_out(w, kw, sw, pw, opw), int(out_channels))
        return self._add(self._new_layer(nm, "conv_transpose", (x,), (h, w, c), out, (kh, kw), (sh, sw), (ph, pw),
                                         groups, bias, activation, **self._prec(weight_precision, act_precision),
                                         attrs=(("output_padding", (oph, opw)),)))

    def _dilation(self, dilation, layer_name: str) -> tuple:
        dh, dw = _pair(dilation)
        if dh <= 0 or dw <= 0:
            raise WorkloadError(f"network {self.name}: layer {layer_name!r}: dilation must be positive, "
                                f"got {dilation!r}")
        return dh, dw

    def depthwise(self, x: str, kernel=3, stride=1, activation: str = "", name: str | None = None, **kw) -> str:
        c = self.shape(x)[2]
        return self.conv(x, c, kernel, stride, groups=c, activation=activation, name=name or self._name("dw", None), **kw)

    def linear(self, x: str, out_features: int, activation: str = "", bias: bool = True,
               name: str | None = None, **kw) -> str:
        """Fully connected over the last dimension; a (H, W, C) input is flattened first."""
        h, w, c = self.shape(x)
        if (h, w) != (1, 1):
            x = self.reshape(x, (1, 1, h * w * c))
        return self.conv(x, out_features, 1, 1, 0, activation=activation, bias=bias,
                         name=name or self._name("fc", None), **kw)

    def pool(self, x: str, kernel, stride=None, padding=0, kind: str = "max", name: str | None = None,
             dilation=1) -> str:
        h, w, c = self.shape(x)
        kh, kw = _pair(kernel)
        sh, sw = _pair(stride if stride is not None else kernel)
        pad, (pt, pb, pl, pr) = _padding(padding)
        nm = self._name(f"{kind}pool", name)
        dh, dw = self._dilation(dilation, nm)
        out = (_out_size(h, dh * (kh - 1) + 1, sh, pt, pb), _out_size(w, dw * (kw - 1) + 1, sw, pl, pr), c)
        return self._add(self._new_layer(nm, "pool", (x,), (h, w, c), out, (kh, kw), (sh, sw),
                               pad, act_precision=self.precision, weight_precision=self.weight_precision,
                               attrs=(("kind", kind),), dilation=(dh, dw)))

    def global_avg_pool(self, x: str, name: str | None = None) -> str:
        h, w, _ = self.shape(x)
        return self.pool(x, (h, w), (1, 1), 0, kind="avg", name=name or self._name("gap", None))

    def add(self, *xs: str, name: str | None = None, activation: str = "") -> str:
        shapes = {self.shape(x) for x in xs}
        nm = self._name("add", name)
        if len(xs) < 2 or len(shapes) != 1:
            raise WorkloadError(f"network {self.name}: layer {nm!r}: add needs >= 2 inputs of one shape, "
                                f"got {[self.shape(x) for x in xs]}")
        s = shapes.pop()
        return self._add(self._new_layer(nm, "add", tuple(xs), s, s, activation=activation,
                               act_precision=self.precision, weight_precision=self.weight_precision))

    def mul(self, *xs: str, name: str | None = None, zero: bool = False) -> str:
        """Element-wise product with broadcasting of (1, 1, C) gates (squeeze-excite); ``zero`` marks a
        product known to be all zeros (one factor is a zero constant the IR does not hold)."""
        shapes = [self.shape(x) for x in xs]
        full = max(shapes, key=_elements)
        nm = self._name("mul", name)
        for s in shapes:
            if s != full and not (s[:2] == (1, 1) and s[2] == full[2]):
                raise WorkloadError(f"network {self.name}: layer {nm!r}: cannot broadcast {s} to {full}")
        return self._add(self._new_layer(nm, "add", tuple(xs), full, full, act_precision=self.precision,
                               weight_precision=self.weight_precision,
                               attrs=(("kind", "mul"),) + ((("zero", True),) if zero else ())))

    def activation(self, x: str, kind: str = "relu", name: str | None = None, zero: bool = False) -> str:
        """Element-wise ``kind`` on the vector unit; ``zero`` marks an output known to be all zeros
        (``mul_const`` by 0: NAS-Bench-201's Zero op)."""
        s = self.shape(x)
        return self._add(self._new_layer(self._name(kind, name), "act", (x,), s, s, act_precision=self.precision,
                               weight_precision=self.weight_precision,
                               attrs=(("kind", kind),) + ((("zero", True),) if zero else ())))

    def concat(self, *xs: str, name: str | None = None) -> str:
        shapes = [self.shape(x) for x in xs]
        nm = self._name("concat", name)
        if len({s[:2] for s in shapes}) != 1:
            raise WorkloadError(f"network {self.name}: layer {nm!r}: concat needs equal H, W, got {shapes}")
        out = (shapes[0][0], shapes[0][1], sum(s[2] for s in shapes))
        return self._add(self._new_layer(nm, "concat", tuple(xs), shapes[0], out, act_precision=self.precision,
                               weight_precision=self.weight_precision))

    def reshape(self, x: str, shape: Sequence[int], name: str | None = None) -> str:
        """Flatten/reshape: a view, free of cost (modelled as a zero-cost concat of one input)."""
        s = self.shape(x)
        shape = tuple(int(v) for v in shape)
        nm = self._name("reshape", name)
        if _elements(shape) != _elements(s):
            raise WorkloadError(f"network {self.name}: layer {nm!r}: cannot reshape {s} to {shape}")
        return self._add(self._new_layer(nm, "concat", (x,), s, shape, act_precision=self.precision,
                               weight_precision=self.weight_precision, attrs=(("kind", "reshape"),)))

    def upsample(self, x: str, scale: int = 2, mode: str = "nearest", size: Sequence[int] | None = None,
                 name: str | None = None) -> str:
        h, w, c = self.shape(x)
        oh, ow = (h * scale, w * scale) if size is None else (int(size[0]), int(size[1]))
        k = (2, 2) if mode == "bilinear" else (1, 1)
        return self._add(self._new_layer(self._name("upsample", name), "upsample", (x,), (h, w, c), (oh, ow, c), k,
                               act_precision=self.precision, weight_precision=self.weight_precision,
                               attrs=(("mode", mode),)))

    def matmul(self, a: str, b: str, transpose_b: bool = False, name: str | None = None) -> str:
        """Activation x activation product: a is (T, 1, K), b is (K, 1, N) or (N, 1, K) with transpose_b.

        A batch of B independent products (attention heads) is a (T, B, K) x (K, B, N) -> (T, B, N)
        layer: MACs T*B*K*N, and the second operand holds all B matrices.
        """
        (t, batch, k), (bh, bb, bc) = self.shape(a), self.shape(b)
        n, kb = (bh, bc) if transpose_b else (bc, bh)
        nm = self._name("matmul", name)
        if bb != batch or kb != k:
            raise WorkloadError(f"network {self.name}: layer {nm!r}: matmul shapes {self.shape(a)} x "
                                f"{self.shape(b)} do not agree")
        return self._add(self._new_layer(nm, "matmul", (a, b), (t, batch, k), (t, batch, n), act_precision=self.precision,
                               weight_precision=self.precision))

    # -- blocks --------------------------------------------------------------------------------
    def ibn(self, x: str, out_channels: int, expansion: float = 6, kernel: int = 3, stride: int = 1,
            activation: str = "relu6", residual: bool | None = None, name: str = "ibn", dilation: int = 1,
            se: int = 0, se_activation: str = "relu", se_gate: str = "sigmoid") -> str:
        """Inverted bottleneck: 1x1 expand -> kxk depthwise -> [squeeze-excite] -> 1x1 project (+ residual
        when shapes allow). ``dilation`` spaces the depthwise taps (a dilated backbone's late stages);
        ``se`` > 0 adds a squeeze-excite of ``se`` squeezed channels (see :meth:`squeeze_excite`).

        Its layers carry block id ``name`` unless a ``block()`` is active."""
        c = self.shape(x)[2]
        mid = int(round(c * expansion))
        with self._default_block(name):
            y = x
            if mid != c:
                y = self.conv(y, mid, 1, activation=activation, name=f"{name}.expand")
            y = self.depthwise(y, kernel, stride, activation=activation, name=f"{name}.dw", dilation=dilation)
            if se:
                y = self.squeeze_excite(y, se, se_activation, se_gate, name=f"{name}.se")
            return self._project(x, y, out_channels, stride, residual, name)

    def fused_ibn(self, x: str, out_channels: int, expansion: float = 6, kernel: int = 3, stride: int = 1,
                  activation: str = "relu6", residual: bool | None = None, name: str = "fibn",
                  dilation: int = 1, se: int = 0, se_activation: str = "relu", se_gate: str = "sigmoid") -> str:
        """Fused inverted bottleneck: kxk full conv expand -> [squeeze-excite] -> 1x1 project (+ residual);
        ``dilation`` spaces the expand conv's taps; ``se`` as :meth:`ibn`.

        Its layers carry block id ``name`` unless a ``block()`` is active."""
        c = self.shape(x)[2]
        mid = int(round(c * expansion))
        with self._default_block(name):
            y = self.conv(x, mid, kernel, stride, activation=activation, name=f"{name}.expand", dilation=dilation)
            if se:
                y = self.squeeze_excite(y, se, se_activation, se_gate, name=f"{name}.se")
            return self._project(x, y, out_channels, stride, residual, name)

    def squeeze_excite(self, x: str, squeeze: int, activation: str = "relu", gate: str = "sigmoid",
                       name: str = "se") -> str:
        """Squeeze-excite (Hu et al. 2018): global average pool -> 1x1 conv to ``squeeze`` channels
        (``activation``) -> 1x1 conv back (``gate``, e.g. sigmoid or hardsigmoid) -> times ``x``. Layers
        "<name>.pool", ".reduce", ".expand", ".mul", as the torch importer traces an SE module."""
        c = self.shape(x)[2]
        g = self.global_avg_pool(x, name=f"{name}.pool")
        g = self.conv(g, squeeze, 1, activation=activation, name=f"{name}.reduce")
        g = self.conv(g, c, 1, activation=gate, name=f"{name}.expand")
        return self.mul(x, g, name=f"{name}.mul")

    def _project(self, x: str, y: str, out_channels: int, stride, residual: bool | None, name: str) -> str:
        """The tail both IBN kinds share: 1x1 project, then a residual add when shapes allow (or asked)."""
        y = self.conv(y, out_channels, 1, name=f"{name}.project")
        if residual is None:
            residual = stride == 1 and self.shape(x)[2] == out_channels
        if residual:
            y = self.add(x, y, name=f"{name}.add")
        return y

    def splice(self, layers, x: str) -> str:
        """Append layers built by another builder on its own input, reading ``x`` where they read that
        input; returns the last layer's output. Lets callers cache and reuse whole sub-networks.
        Spliced layers keep their block ids; those without one take the active block's."""
        for layer in layers:
            if INPUT in layer.inputs:
                layer = dataclasses.replace(layer, inputs=tuple(x if i == INPUT else i for i in layer.inputs))
            self._add(layer)
        return self.layers[-1].name

    def build(self) -> Network:
        return Network(self.name, self.input_shape, tuple(self.layers), self.precision)


def _padding(v) -> tuple:
    """(padding as stored on the layer, (top, bottom, left, right)) from an int, a pair or a 4-tuple."""
    if isinstance(v, (tuple, list)) and len(v) == 4:
        t, b, l, r = (int(p) for p in v)
        if t == b and l == r:
            return (t, l), (t, b, l, r)
        return (t, b, l, r), (t, b, l, r)
    ph, pw = _pair(v)
    return (ph, pw), (ph, ph, pw, pw)


def _out_size(size: int, k: int, s: int, before: int, after: int) -> int:
    return (size + before + after - k) // s + 1


def _pair(v) -> tuple:
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise WorkloadError(f"expected an int or a pair, got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)

