"""Lowering of an imported operator graph (from torch.fx or ONNX) to the Network IR.

Both importers first translate their graph into a list of :class:`Op` in topological order, each
with the framework's output shape (batch first, NCHW for images). :func:`lower` then

- drops identities (dropout, ``nn.Identity``), computes a repeated activation of one tensor once,
  and folds zero padding into the conv/pool it feeds;
- folds a batch norm into the conv/linear before it when that conv/linear feeds nothing else (no layer;
  the conv gets a bias); any other batch norm is a standalone vector layer;
- fuses an element-wise activation into the conv/linear/add before it when it is that layer's sole
  consumer (free); otherwise the activation is a standalone vector layer;
- treats flatten/reshape/view/permute/transpose as free: a tensor keeps its IR layout until a
  consumer needs another one, and then a zero-cost reshape layer is inserted;
- carries conv/pool dilation into the IR layer (the output size uses the effective kernel
  d*(k-1)+1; MACs are those of the plain kxk kernel);
- stamps each layer with the block id of the op it came from: the first two dotted components of
  the op's module path (``features.3.conv.0`` -> ``features.3``), so results group by block and
  by stage (``features``); ops outside any module get no block.
- marks a multiply by the constant 0 (NAS-Bench-201's Zero op) as a zero layer, and with
  ``prune=True`` hands the result to :meth:`~accelsim.workload.ir.Network.prune_dead`, with the
  graph's outputs, as a deployment compiler would.

:mod:`accelsim.engine.nb201_rows` restates these rules, compiled, for the NAS-Bench-201 cells a
search scores by the thousand; ``tests/test_packed_rows.py`` checks the two give the same rows, so
a change to the rules here fails there until that module follows.

Tensor layouts: an NCHW tensor (batch 1) is (H, W, C) in the IR; any other tensor is
(product of leading dims, 1, last dim), so a linear over (1, T, C) tokens is a 1x1 conv on (T, 1, C).
A (.., B, T, K) x (.., B, K, N) matmul is a batched IR matmul (T, B, K) x (K, B, N).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

from ..errors import WorkloadError
from .ir import INPUT, Network, NetworkBuilder

# Element-wise activations that may fuse into the conv/linear/add producing their input.
FUSIBLE = frozenset({"relu", "relu6", "hardswish", "hardsigmoid", "silu", "gelu", "sigmoid", "tanh",
                     "leaky_relu", "elu", "mish", "hardtanh", "clip"})


@dataclass
class Op:
    """One imported operator.

    ``kind`` is one of: conv, conv_transpose, linear, bn, act, pool, mean, pad, add, sub, mul, const, concat,
    upsample, view, identity, matmul (a ``const`` op is an element-wise op with a constant operand:
    attrs ``kind`` add/sub/mul/div, and ``value`` when the constant is one known number). ``inputs`` are the value ids of its tensor operands (the
    network input is ``"input"``); ``value`` is the id of its output; ``shape`` is the framework's
    output shape; ``label`` is the preferred IR layer name and ``where`` says where the op came from;
    ``module`` is the qualified name of the module the op belongs to ("" at the top level).
    """

    value: str
    kind: str
    inputs: tuple
    shape: tuple
    label: str
    where: str
    attrs: dict = field(default_factory=dict)
    module: str = ""


def block_of(module_path: str) -> str:
    """Block id of a module path: its first two dotted components (``features.3.conv.0`` -> ``features.3``)."""
    return ".".join(module_path.split(".")[:2]) if module_path else ""


def ir_shape(shape) -> tuple:
    """Default IR layout of a framework tensor shape (see the module docstring)."""
    s = tuple(int(v) for v in shape)
    if len(s) == 4:
        n, c, h, w = s
        return (n * h, w, c)
    if not s:
        return (1, 1, 1)
    if len(s) == 1:
        return (1, 1, s[0])
    return (prod(s[:-1]), 1, s[-1])


def lower(ops: list, input_shape, outputs, name: str, precision: str = "int8", source: str = "import",
          supported: str = "", prune: bool = False, builder=NetworkBuilder) -> Network:
    """Build a Network from imported ops; ``input_shape`` is the framework's input shape (batch 1).
    With ``prune``, dead and constant layers are removed (see ``Network.prune_dead``). ``builder``: the
    builder class; :class:`accelsim.workload.packed.RowBuilder` gives the same network as rows (a
    ``PackedNetwork``; ``prune`` needs the ``Network`` then).

    Errors read ``{source}({name}): {what} at {op.where}; supported ops: {supported}``.
    """
    if prune and builder is not NetworkBuilder:
        raise WorkloadError(f"{source}({name}): prune works on a Network; lower with the NetworkBuilder")
    return _Lowering(ops, tuple(input_shape), tuple(outputs), name, precision, source, supported,
                     builder).run(prune)


class _Lowering:
    def __init__(self, ops, input_shape, outputs, name, precision, source, supported, builder=NetworkBuilder):
        self.name, self.source, self.supported = name, source, supported
        if input_shape[0] != 1:
            raise WorkloadError(f"{source}({name}): batch size must be 1, got input shape {input_shape}")
        self.b = builder(name, ir_shape(input_shape), precision)
        self.shape = {INPUT: input_shape}
        self.ir = {INPUT: self.b.input}
        self.reshaped: dict = {}
        self.used_names = {INPUT}
        self.ops, self.outputs = self._resolve_identities(ops, outputs)

    def fail(self, op: Op, what: str) -> WorkloadError:
        tail = f"; supported ops: {self.supported}" if self.supported else ""
        return WorkloadError(f"{self.source}({self.name}): {what} at {op.where}{tail}")

    # -- graph rewrites before emission --------------------------------------------------------
    @staticmethod
    def _resolve_identities(ops, outputs):
        alias = {}

        def res(v):
            while v in alias:
                v = alias[v]
            return v

        kept, seen = [], {}
        for op in ops:
            op.inputs = tuple(res(v) for v in op.inputs)
            # the same activation applied twice to one tensor is computed once (as a compiler would)
            key = ("act", op.attrs.get("kind"), op.inputs) if op.kind == "act" else None
            if op.kind == "identity":
                alias[op.value] = op.inputs[0]
            elif key is not None and key in seen:
                alias[op.value] = seen[key]
            else:
                if key is not None:
                    seen[key] = op.value
                kept.append(op)
        return kept, tuple(res(v) for v in outputs)

    def _plan(self):
        """Fold pads and batch norms, fuse activations; returns the value -> value aliases."""
        consumers: dict = {}
        for op in self.ops:
            for v in op.inputs:
                consumers.setdefault(v, []).append(op)
        users = {v: len(c) + self.outputs.count(v) for v, c in consumers.items()}
        for v in self.outputs:
            users.setdefault(v, 1)
        alias, owner, skip = {}, {}, set()
        for op in self.ops:
            if op.kind == "pad":
                nxt = consumers.get(op.value, [])
                if len(nxt) != 1 or users[op.value] != 1 or nxt[0].kind not in ("conv", "pool") \
                        or nxt[0].inputs[0] != op.value:
                    raise self.fail(op, "unsupported op: padding that does not feed exactly one conv or pool")
                t, b, l, r = op.attrs["pads"]
                pt, pb, pl, pr = nxt[0].attrs.get("padding", (0, 0, 0, 0))
                nxt[0].attrs["padding"] = (pt + t, pb + b, pl + l, pr + r)
                nxt[0].inputs = (op.inputs[0],) + nxt[0].inputs[1:]
                skip.add(id(op))
            elif op.kind in ("conv", "conv_transpose", "linear", "add"):
                owner[op.value] = op
            elif op.kind == "bn":
                src = owner.get(op.inputs[0])
                if src is not None and src.kind in ("conv", "conv_transpose", "linear") \
                        and users.get(op.inputs[0]) == 1 \
                        and not src.attrs.get("act") and not src.attrs.get("bn"):
                    src.attrs["bias"] = True
                    src.attrs["bn"] = True
                    alias[op.value] = op.inputs[0]
                    owner[op.value] = src
                    skip.add(id(op))
            elif op.kind == "act" and op.attrs["kind"] in FUSIBLE:
                src = owner.get(op.inputs[0])
                if src is not None and users.get(op.inputs[0]) == 1 and not src.attrs.get("act"):
                    src.attrs["act"] = op.attrs["kind"]
                    alias[op.value] = op.inputs[0]
                    owner[op.value] = src
                    skip.add(id(op))
        self.ops = [op for op in self.ops if id(op) not in skip]
        return alias

    # -- helpers -------------------------------------------------------------------------------
    def unique(self, label: str) -> str:
        label = label or "layer"
        nm, i = label, 0
        while nm in self.used_names:
            i += 1
            nm = f"{label}_{i}"
        self.used_names.add(nm)
        return nm

    def need(self, value: str, shape: tuple) -> str:
        """The IR tensor holding ``value`` in layout ``shape`` (a free reshape when the layout differs)."""
        cur = self.ir[value]
        shape = tuple(int(s) for s in shape)
        if self.b.shape(cur) == shape:
            return cur
        key = (cur, shape)
        if key not in self.reshaped:
            label = cur if cur != self.b.input else "input"
            self.reshaped[key] = self.b.reshape(cur, shape, name=self.unique(f"{label}.reshape"))
        return self.reshaped[key]

    def image(self, op: Op, value: str) -> str:
        s = self.shape[value]
        if len(s) != 4 or s[0] != 1:
            raise self.fail(op, f"unsupported op: {op.kind} on a tensor of shape "
                                f"{tuple(s)} (expected NCHW with batch 1)")
        return self.need(value, ir_shape(s))

    def dilation(self, op: Op) -> tuple:
        d = tuple(int(v) for v in op.attrs.get("dilation", (1, 1)))
        if len(d) != 2 or min(d) <= 0:
            raise self.fail(op, f"unsupported op: {op.kind} with dilation {d} (expected two positive "
                                "values, for H and W)")
        return d

    def check(self, op: Op, layer: str, expected: tuple):
        got = self.b.shape(layer)
        if got != tuple(expected):
            raise self.fail(op, f"IR shape {got} of layer {layer!r} does not match the framework's {tuple(expected)}")

    # -- emission ------------------------------------------------------------------------------
    def run(self, prune: bool = False) -> Network:
        alias = self._plan()
        for op in self.ops:
            for v in op.inputs:
                if v not in self.ir:
                    # the output of a folded batch norm or fused activation is its producer's output
                    v0 = v
                    while v0 in alias:
                        v0 = alias[v0]
                    if v0 not in self.ir:
                        raise self.fail(op, f"operand {v!r} has no producer")
                    self.ir[v], self.shape[v] = self.ir[v0], self.shape[v0]
            with self.b.block(block_of(op.module)):
                getattr(self, "_" + op.kind)(op)
        if not self.b.count:
            raise WorkloadError(f"{self.source}({self.name}): the model has no layers to simulate")
        net = self.b.build()
        if not prune:
            return net
        outputs = []
        for v in self.outputs:
            while v not in self.ir and v in alias:
                v = alias[v]
            if self.ir.get(v, INPUT) != INPUT:   # an output that is the input itself needs no layer
                outputs.append(self.ir[v])
        return net.prune_dead(outputs or None)

    def _conv(self, op: Op):
        a = op.attrs
        x = self.image(op, op.inputs[0])
        h, w, _ = self.b.shape(x)
        kh, kw = a["kernel"]
        sh, sw = a["stride"]
        dh, dw = self.dilation(op)
        t, bt, l, r = a.get("padding", (0, 0, 0, 0))
        oh, ow = op.shape[2], op.shape[3]
        bt = _fit(h, dh * (kh - 1) + 1, sh, t, bt, oh)
        r = _fit(w, dw * (kw - 1) + 1, sw, l, r, ow)
        if min(t, bt, l, r) < 0:
            raise self.fail(op, f"unsupported op: conv {kh}x{kw} dilation {dh}x{dw} with negative padding "
                                f"{(t, bt, l, r)} (top, bottom, left, right)")
        y = self.b.conv(x, a["out_channels"], (kh, kw), (sh, sw), (t, bt, l, r), a.get("groups", 1),
                        activation=a.get("act", ""), bias=bool(a.get("bias")), name=self.unique(op.label),
                        dilation=(dh, dw))
        self.check(op, y, ir_shape(op.shape))
        self.ir[op.value], self.shape[op.value] = y, tuple(op.shape)

    def _conv_transpose(self, op: Op):
        a = op.attrs
        x = self.image(op, op.inputs[0])
        if self.dilation(op) != (1, 1):
            raise self.fail(op, f"unsupported op: conv_transpose with dilation {self.dilation(op)} (expected 1)")
        y = self.b.conv_transpose(x, a["out_channels"], a["kernel"], a["stride"], a.get("padding", (0, 0)),
                                  a.get("output_padding", (0, 0)), a.get("groups", 1),
                                  activation=a.get("act", ""), bias=bool(a.get("bias")), name=self.unique(op.label))
        self.check(op, y, ir_shape(op.shape))
        self.ir[op.value], self.shape[op.value] = y, tuple(op.shape)

    def _linear(self, op: Op):
        s = self.shape[op.inputs[0]]
        x = self.need(op.inputs[0], (prod(s[:-1]), 1, s[-1]))
        y = self.b.conv(x, op.attrs["out_features"], 1, 1, 0, activation=op.attrs.get("act", ""),
                        bias=bool(op.attrs.get("bias")), name=self.unique(op.label))
        self.check(op, y, (prod(op.shape[:-1]), 1, op.shape[-1]))
        self.ir[op.value], self.shape[op.value] = y, tuple(op.shape)

    def _pool(self, op: Op):
        a = op.attrs
        x = self.image(op, op.inputs[0])
        h, w, _ = self.b.shape(x)
        oh, ow = op.shape[2], op.shape[3]
        kind = a["kind"]
        if a.get("adaptive"):
            if (oh, ow) == (1, 1):
                kernel, stride = (h, w), (1, 1)
            else:
                # adaptive windows differ in size by at most one; use the common stride and the
                # window that yields the requested output
                stride = (max(1, h // oh), max(1, w // ow))
                kernel = (h - (oh - 1) * stride[0], w - (ow - 1) * stride[1])
            pads = (0, 0, 0, 0)
        else:
            kernel, stride, pads = a["kernel"], a["stride"], a.get("padding", (0, 0, 0, 0))
        kh, kw = kernel
        sh, sw = stride
        t, bt, l, r = pads
        dh, dw = (1, 1) if a.get("adaptive") else self.dilation(op)
        bt = _fit(h, dh * (kh - 1) + 1, sh, t, bt, oh)   # ceil_mode adds a partial window at the end
        r = _fit(w, dw * (kw - 1) + 1, sw, l, r, ow)
        if min(t, bt, l, r) < 0:
            raise self.fail(op, f"unsupported op: {kind} pool {kh}x{kw} dilation {dh}x{dw} with negative "
                                f"padding {(t, bt, l, r)} (top, bottom, left, right)")
        y = self.b.pool(x, (kh, kw), (sh, sw), (t, bt, l, r), kind=kind, name=self.unique(op.label),
                        dilation=(dh, dw))
        self.check(op, y, ir_shape(op.shape))
        self.ir[op.value], self.shape[op.value] = y, tuple(op.shape)

    def _mean(self, op: Op):
        s = self.shape[op.inputs[0]]
        dims = sorted({d % len(s) for d in op.attrs["dims"]}) if op.attrs["dims"] is not None \
            else list(range(1, len(s)))
        if 0 in dims and s[0] != 1:
            raise self.fail(op, "unsupported op: mean over the batch dimension")
        dims = [d for d in dims if d != 0] or [0]
        if len(s) == 4 and dims == [2, 3]:
            x = self.need(op.inputs[0], ir_shape(s))
            y = self.b.pool(x, (s[2], s[3]), (1, 1), 0, kind="avg", name=self.unique(op.label))
        else:
            if dims != list(range(dims[0], dims[-1] + 1)):
                raise self.fail(op, f"unsupported op: mean over non-adjacent dims {dims}")
            outer, red, inner = prod(s[:dims[0]]), prod(s[dims[0]:dims[-1] + 1]), prod(s[dims[-1] + 1:])
            x = self.need(op.inputs[0], (red, outer, inner))
            y = self.b.pool(x, (red, 1), (red, 1), 0, kind="avg", name=self.unique(op.label))
        self.ir[op.value], self.shape[op.value] = y, tuple(op.shape)

    def _pad(self, op: Op):  # only reached if _plan did not fold it
        raise self.fail(op, "unsupported op: padding that does not feed a conv or pool")

    def _bn(self, op: Op):
        self._elementwise(op, "batchnorm")

    def _act(self, op: Op):
        self._elementwise(op, op.attrs["kind"])

    def _const(self, op: Op):
        if tuple(op.shape) != tuple(self.shape[op.inputs[0]]):
            raise self.fail(op, f"unsupported op: {op.attrs['kind']} with a constant that broadcasts "
                                f"{tuple(self.shape[op.inputs[0]])} to {tuple(op.shape)}")
        # a multiply by the constant 0 is NAS-Bench-201's Zero op: its output is zero whatever x holds
        zero = op.attrs["kind"] == "mul" and op.attrs.get("value") == 0
        self._elementwise(op, op.attrs["kind"] + "_const", zero)

    def _elementwise(self, op: Op, kind: str, zero: bool = False):
        x = self.ir[op.inputs[0]]
        y = self.b.activation(x, kind, name=self.unique(op.label), zero=zero)
        self.ir[op.value], self.shape[op.value] = y, tuple(op.shape)

    def _add(self, op: Op, kind: str = "add"):
        a, b = op.inputs
        sa, sb = self.shape[a], self.shape[b]
        if tuple(sa) != tuple(sb):
            raise self.fail(op, f"unsupported op: {kind} broadcasting {tuple(sa)} with {tuple(sb)}")
        layout = self._common_layout(a, b)
        y = self.b.add(self.need(a, layout), self.need(b, layout), activation=op.attrs.get("act", ""),
                       name=self.unique(op.label))
        self.ir[op.value], self.shape[op.value] = y, tuple(op.shape)

    def _common_layout(self, a: str, b: str) -> tuple:
        """Layout for an element-wise op on two same-shape tensors: the default one if either operand
        already has it (so views settle where the framework graph put them), else the first operand's."""
        canonical = ir_shape(self.shape[a])
        if canonical in (self.b.shape(self.ir[a]), self.b.shape(self.ir[b])):
            return canonical
        return self.b.shape(self.ir[a])

    def _sub(self, op: Op):
        self._add(op, "sub")

    def _mul(self, op: Op):
        a, b = op.inputs
        sa, sb = tuple(self.shape[a]), tuple(self.shape[b])
        if sa == sb:
            layout = self._common_layout(a, b)
            y = self.b.mul(self.need(a, layout), self.need(b, layout), name=self.unique(op.label))
        else:
            full, gate = (a, b) if prod(sa) >= prod(sb) else (b, a)
            fs, gs = ir_shape(self.shape[full]), ir_shape(self.shape[gate])
            if tuple(op.shape) != tuple(self.shape[full]) or gs[:2] != (1, 1) or gs[2] != fs[2]:
                raise self.fail(op, f"unsupported op: mul broadcasting {sa} with {sb} (only per-channel "
                                    "gates such as squeeze-excite broadcast)")
            y = self.b.mul(self.need(full, fs), self.need(gate, gs), name=self.unique(op.label))
        self.ir[op.value], self.shape[op.value] = y, tuple(op.shape)

    def _concat(self, op: Op):
        shapes = [tuple(self.shape[v]) for v in op.inputs]
        rank = len(shapes[0])
        dim = op.attrs["dim"] % rank
        if rank == 4 and dim == 1:
            parts = [self.need(v, ir_shape(s)) for v, s in zip(op.inputs, shapes)]
        elif dim == 0 and any(s[0] != 1 for s in shapes):
            raise self.fail(op, "unsupported op: concatenation along the batch dimension")
        else:
            # contiguous memory view: everything before ``dim`` is the outer extent
            parts = [self.need(v, (prod(s[:dim]), 1, prod(s[dim:]))) for v, s in zip(op.inputs, shapes)]
        y = self.b.concat(*parts, name=self.unique(op.label))
        self.ir[op.value], self.shape[op.value] = y, tuple(op.shape)

    def _upsample(self, op: Op):
        mode = op.attrs["mode"]
        if mode in ("nearest", "nearest-exact"):
            mode = "nearest"
        elif mode in ("bilinear", "linear"):
            mode = "bilinear"
        else:
            raise self.fail(op, f"unsupported op: upsample mode {mode!r} (nearest and bilinear are supported)")
        x = self.image(op, op.inputs[0])
        y = self.b.upsample(x, mode=mode, size=(op.shape[2], op.shape[3]), name=self.unique(op.label))
        self.ir[op.value], self.shape[op.value] = y, tuple(op.shape)

    def _view(self, op: Op):
        if prod(op.shape) != prod(self.shape[op.inputs[0]]):
            raise self.fail(op, f"unsupported op: view from {tuple(self.shape[op.inputs[0]])} to "
                                f"{tuple(op.shape)} changes the element count")
        self.ir[op.value], self.shape[op.value] = self.ir[op.inputs[0]], tuple(op.shape)

    def _matmul(self, op: Op):
        a, b = op.inputs
        sa, sb = tuple(self.shape[a]), tuple(self.shape[b])
        if len(sa) < 2 or len(sb) < 2:
            raise self.fail(op, f"unsupported op: matmul of {sa} and {sb} (both operands need 2+ dims)")
        (t, k), (k2, n) = sa[-2:], sb[-2:]
        batch_a, batch_b = prod(sa[:-2]), prod(sb[:-2])
        if batch_a != batch_b or k != k2:
            raise self.fail(op, f"unsupported op: matmul of {sa} and {sb} (batch dims must match)")
        y = self.b.matmul(self.need(a, (t, batch_a, k)), self.need(b, (k, batch_a, n)), name=self.unique(op.label))
        self.ir[op.value], self.shape[op.value] = y, tuple(op.shape)


def _fit(size: int, k: int, s: int, before: int, after: int, expected: int) -> int:
    """The end padding that makes the output size ``expected`` (ceil_mode, odd 'same' padding)."""
    for extra in range(0, s + 1):
        for a in (after + extra, after - extra):
            if (size + before + a - k) // s + 1 == expected:
                return a
    return after
