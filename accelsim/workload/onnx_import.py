"""ONNX importer: an ``.onnx`` file (or ModelProto) with static shapes becomes a Network.

The ``onnx`` package (extra ``onnx``: ``pip install "accelsim-codesign[onnx]"``) reads the file and
infers every tensor's shape; nodes are translated to the same :class:`~accelsim.workload.lowering.Op` s
as the torch.fx importer produces, so both paths give the same IR for the same model (batch norm
folded, activations fused, views free, dilation kept). A node outside ``SUPPORTED_OPS`` raises
:class:`~accelsim.errors.WorkloadError` naming its type and node name. Shape arithmetic on constants
(Shape, Gather, Concat of shape vectors, ...) makes no layers. Block ids come from the module scopes
torch.onnx.export writes into node names (``/features/features.3/conv/conv.0/Conv`` is module
``features.3.conv.0``, block ``features.3``, as the torch.fx importer gives); other nodes get no block.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import WorkloadError, one_line
from .ir import INPUT, Network
from .lowering import Op, lower

SUPPORTED_OPS = (
    "Conv, ConvTranspose (symmetric pads, no dilation), Gemm, MatMul, BatchNormalization (folded), Relu, Clip, "
    "HardSwish, HardSigmoid, Sigmoid, Sigmoid*x (SiLU), "
    "Tanh, LeakyRelu, Elu, Gelu, Softmax, LayerNormalization, MaxPool, AveragePool, GlobalAveragePool, "
    "GlobalMaxPool, ReduceMean, Pad before Conv/pool, Add, Sub, Mul, Div, Concat, Resize/Upsample (nearest, linear), "
    "Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Identity, Dropout, and shape arithmetic on constants")

_ACTS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hardswish",
         "HardSigmoid": "hardsigmoid", "LeakyRelu": "leaky_relu", "Elu": "elu", "Gelu": "gelu", "Softmax": "softmax",
         "LayerNormalization": "layernorm", "Mish": "mish"}
_VIEWS = {"Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze"}
_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div"}
_STATIC = {"Shape", "Constant", "ConstantOfShape", "Gather", "Concat", "Cast", "Range", "Slice", "Unsqueeze",
           "Squeeze", "Reshape", "Transpose", "Mul", "Add", "Sub", "Div", "Floor", "Ceil", "Sqrt", "Equal", "Where",
           "Identity"}


def _onnx():
    from ..extras import require
    return require("onnx", "onnx", "ONNX import (from_onnx, --model FILE.onnx)")


def from_onnx(path, precision: str = "int8", name: str | None = None, prune: bool = True) -> Network:
    """Build the IR of an ONNX model (a file path or a loaded ModelProto) with one input of static shape.

    Only shapes matter, so weights stored in external data files are not read (they need not exist).
    Every problem with a file is one WorkloadError line starting with its path. With ``prune``
    (default) constant, unused and duplicate layers are removed as a deployment compiler would
    (``Network.prune_dead``); ``prune=False`` keeps every node of the graph.
    """
    onnx = _onnx()
    if not isinstance(path, (str, Path)):
        return _from_model(path, name or (path.graph.name or "onnx_model"), precision, onnx, prune)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except OSError as exc:
        raise WorkloadError(f"{path}: cannot read ({exc.strerror or one_line(exc)})") from None
    except Exception as exc:   # protobuf's DecodeError and whatever a damaged file makes onnx raise
        raise WorkloadError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {one_line(exc)})") from None
    try:
        return _from_model(model, name or Path(path).stem, precision, onnx, prune)
    except WorkloadError as exc:
        raise WorkloadError(f"{path}: {exc}") from None


def _from_model(model, name: str, precision: str, onnx, prune: bool = True) -> Network:
    try:
        model = _fold_constants(model, onnx)
    except Exception as exc:
        raise WorkloadError(f"from_onnx({name}): shape inference failed: {one_line(exc)}") from None
    try:
        ops, input_shape, outputs = _Translator(model, name, onnx).run()
    except WorkloadError:
        raise
    except Exception as exc:   # a graph that parses but is malformed (a missing attribute, a dangling input)
        raise WorkloadError(f"from_onnx({name}): malformed graph ({type(exc).__name__}: {one_line(exc)})") from None
    return lower(ops, input_shape, outputs, name, precision, source="from_onnx", supported=SUPPORTED_OPS,
                 prune=prune)


def _array(tensor, onnx) -> np.ndarray:
    """An initializer's values; for one whose data lives in an external file, an array of its shape and
    dtype (zeros, no memory) instead: the importer reads weight shapes, never weight values."""
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)
        return np.broadcast_to(np.zeros((), dtype=dtype), tuple(tensor.dims))
    return onnx.numpy_helper.to_array(tensor)


def _is_external(tensor, onnx) -> bool:
    return tensor.data_location == onnx.TensorProto.EXTERNAL


def _known_shapes(graph) -> dict:
    shapes = {}
    for vi in list(graph.value_info) + list(graph.input) + list(graph.output):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
    return shapes


def _constant_value(node, onnx):
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if a.name == "value":
            return onnx.numpy_helper.to_array(v)
        if a.name in ("value_float", "value_int", "value_floats", "value_ints"):
            return np.asarray(v)
    return None


def _fold_constants(model, onnx):
    """Replace constant subgraphs (Constant, Shape of a static tensor, arithmetic on those) by initializers
    and infer shapes again, until nothing changes: torch exports computed pads and reshape targets this way."""
    for _ in range(6):
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
        g = model.graph
        shapes = _known_shapes(g)
        # external weights are not read, so they take part in no folding
        consts = {t.name: onnx.numpy_helper.to_array(t) for t in g.initializer if not _is_external(t, onnx)}
        keep, folded = [], []
        for node in g.node:
            ins = [i for i in node.input if i]
            value = None
            if node.op_type == "Constant":
                value = _constant_value(node, onnx)
            elif node.op_type == "Shape" and all(d for d in shapes.get(ins[0]) or (None,)):
                shape = np.array(shapes[ins[0]], dtype=np.int64)
                value = shape[_attr(node, "start", 0, onnx):_attr(node, "end", None, onnx)]
            elif ins and len(node.output) == 1 and all(i in consts for i in ins):
                try:
                    value = _fold(node.op_type, [consts[i] for i in ins], lambda k, d=None: _attr(node, k, d, onnx))
                except Exception:  # not a foldable expression; leave it to the translator
                    value = None
            if value is not None and len(node.output) == 1:
                value = np.asarray(value)
                consts[node.output[0]] = value
                folded.append(onnx.numpy_helper.from_array(value, node.output[0]))
            else:
                keep.append(node)
        if not folded:
            return model
        del g.node[:]
        g.node.extend(keep)
        g.initializer.extend(folded)
    return onnx.shape_inference.infer_shapes(model, data_prop=True)


def _attr(node, key, default, onnx):
    for a in node.attribute:
        if a.name == key:
            return onnx.helper.get_attribute_value(a)
    return default


class _Translator:
    def __init__(self, model, name, onnx):
        self.name, self.onnx = name, onnx
        g = model.graph
        self.graph = g
        self.consts = {t.name: _array(t, onnx) for t in g.initializer}
        self.shapes = _known_shapes(g)
        self.kind = {}    # tensor name -> "tensor" | "const" | "static"
        self.value = {}   # tensor name -> lowering value id
        self.ops: list = []
        self.consumers: dict = {}
        for node in g.node:
            for i in node.input:
                self.consumers.setdefault(i, []).append(node)

    def fail(self, node, what) -> WorkloadError:
        return WorkloadError(f"from_onnx({self.name}): {what} at node {node.name or node.output[0]!r} "
                             f"({node.op_type}); supported ops: {SUPPORTED_OPS}")

    def attr(self, node, key, default=None):
        for a in node.attribute:
            if a.name == key:
                return self.onnx.helper.get_attribute_value(a)
        return default

    def shape(self, node, tensor):
        s = self.shapes.get(tensor)
        if s is None or any(d is None or d <= 0 for d in s):
            raise self.fail(node, f"tensor {tensor!r} has no static shape (export with fixed input shapes)")
        return s

    def is_tensor(self, t):
        return self.kind.get(t) == "tensor"

    def emit(self, node, op_kind, inputs, out=None, **attrs):
        out = out or node.output[0]
        label = (node.name or out).strip("/").replace("/", ".") or out
        self.ops.append(Op(out, op_kind, tuple(self.value[i] for i in inputs), self.shape(node, out), label,
                           f"node {node.name or out!r} ({node.op_type})", attrs, _module_path(node.name)))
        self.kind[out] = "tensor"
        self.value[out] = out

    def run(self):
        inputs = [i for i in self.graph.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise WorkloadError(f"from_onnx({self.name}): expected one input tensor, found "
                                f"{[i.name for i in inputs]}")
        x = inputs[0].name
        in_shape = self.shapes.get(x)
        if not in_shape or any(d is None or d <= 0 for d in in_shape):
            raise WorkloadError(f"from_onnx({self.name}): input {x!r} has no static shape {in_shape}")
        self.kind[x], self.value[x] = "tensor", INPUT
        for c in self.consts:
            self.kind[c] = "const"
        skip, fused = self._patterns()
        for node in self.graph.node:
            if id(node) in skip:
                continue
            if id(node) in fused:
                kind, src = fused[id(node)]
                self.emit(node, "act", [src], kind=kind)
                continue
            self.node(node)
        outputs = [self.value[o.name] for o in self.graph.output if self.is_tensor(o.name)]
        if not outputs:
            raise WorkloadError(f"from_onnx({self.name}): no output depends on the input")
        return self.ops, tuple(in_shape), outputs

    def _patterns(self):
        """Activations torch exports as several nodes: SiLU = x * Sigmoid(x) and
        GELU = x * (Erf(x / sqrt 2) + 1) * 0.5. Returns (nodes to skip, {last node: (kind, input)})."""
        producer = {o: n for n in self.graph.node for o in n.output}
        skip, fused = set(), {}

        def only_consumer(tensor):
            c = self.consumers.get(tensor, [])
            return c[0] if len(c) == 1 else None

        def other(node, tensor):
            rest = [i for i in node.input if i != tensor]
            return rest[0] if len(rest) == 1 else None

        for n in self.graph.node:
            if n.op_type == "Mul" and len(n.input) == 2:
                for a, b in (n.input, n.input[::-1]):
                    p = producer.get(b)
                    if p is not None and p.op_type == "Sigmoid" and p.input[0] == a and only_consumer(b) is n:
                        skip.add(id(p))
                        fused[id(n)] = ("silu", a)
                        break
            elif n.op_type == "Erf":
                scale = producer.get(n.input[0])
                if scale is None or scale.op_type not in ("Div", "Mul"):
                    continue
                x = next((i for i in scale.input if i not in self.consts), None)
                add = only_consumer(n.output[0])
                mul = only_consumer(add.output[0]) if add is not None and add.op_type == "Add" else None
                half = only_consumer(mul.output[0]) if mul is not None and mul.op_type == "Mul" else None
                if x is None or half is None or half.op_type != "Mul" or other(mul, add.output[0]) != x \
                        or other(half, mul.output[0]) not in self.consts:
                    continue
                skip.update({id(scale), id(n), id(add), id(mul)})
                fused[id(half)] = ("gelu", x)
        return skip, fused

    def node(self, node):
        op = node.op_type
        ins = [i for i in node.input if i]
        tensors = [i for i in ins if self.is_tensor(i)]
        if not tensors:  # shape arithmetic _fold_constants could not evaluate: makes no layer
            if op not in _STATIC and op not in _BINARY:
                raise self.fail(node, f"unsupported op {op} on constants")
            for o in node.output:
                self.kind[o] = "static"
            return
        x = tensors[0]
        if op == "Conv":
            self.conv(node, x)
        elif op == "ConvTranspose":
            self.conv_transpose(node, x)
        elif op == "Gemm":
            w = self.consts.get(ins[1])
            if w is None or ins[0] != x:
                raise self.fail(node, "unsupported op: Gemm with a computed weight")
            trans_b = self.attr(node, "transB", 0)
            self.emit(node, "linear", [x], out_features=int(w.shape[0] if trans_b else w.shape[1]), bias=len(ins) > 2)
        elif op == "MatMul":
            if len(tensors) == 2:
                self.emit(node, "matmul", ins)
            elif ins[0] == x and ins[1] in self.consts and self.consts[ins[1]].ndim == 2:
                self.emit(node, "linear", [x], out_features=int(self.consts[ins[1]].shape[1]), bias=False)
            else:
                raise self.fail(node, "unsupported op: MatMul with a constant operand that is not a 2-D weight")
        elif op == "BatchNormalization":
            self.emit(node, "bn", [x])
        elif op in _ACTS:
            self.emit(node, "act", [x], kind=_ACTS[op])
        elif op == "Clip":
            lo, hi = self.clip_bounds(node, ins)
            self.emit(node, "act", [x], kind="relu6" if (lo, hi) == (0.0, 6.0) else "relu" if (lo, hi) == (0.0, None)
                      else "clip")
        elif op in ("MaxPool", "AveragePool"):
            k = tuple(self.attr(node, "kernel_shape"))
            pads = tuple(self.attr(node, "pads", (0, 0, 0, 0)))
            self.emit(node, "pool", [x], kind="max" if op == "MaxPool" else "avg", kernel=k,
                      stride=tuple(self.attr(node, "strides", (1, 1))), padding=(pads[0], pads[2], pads[1], pads[3]),
                      dilation=tuple(self.attr(node, "dilations", (1, 1))))
        elif op in ("GlobalAveragePool", "GlobalMaxPool"):
            self.emit(node, "pool", [x], kind="avg" if op == "GlobalAveragePool" else "max", adaptive=True)
        elif op == "ReduceMean":
            axes = self.attr(node, "axes")
            if axes is None and len(ins) > 1:
                axes = self.consts.get(ins[1])
            self.emit(node, "mean", [x], dims=None if axes is None else tuple(int(a) for a in np.ravel(axes)))
        elif op == "Pad":
            pads = self.attr(node, "pads")
            if pads is None:
                pads = self.consts.get(ins[1]) if len(ins) > 1 else None
            pads = None if pads is None else [int(p) for p in np.ravel(pads)]
            if pads is None or len(pads) != 8 or any(pads[i] or pads[i + 4] for i in (0, 1)):
                raise self.fail(node, "unsupported op: Pad other than constant padding of H and W")
            self.emit(node, "pad", [x], pads=(pads[2], pads[6], pads[3], pads[7]))
        elif op in _BINARY:
            if len(tensors) == 2:
                self.emit(node, {"div": "mul"}.get(_BINARY[op], _BINARY[op]), ins[:2])
            elif self.fold_bias(node, x, ins):
                return
            else:
                c = next((self.consts[i] for i in ins if i in self.consts), None)
                number = c is not None and c.size == 1 and np.issubdtype(c.dtype, np.number)
                self.emit(node, "const", [x], kind=_BINARY[op], **({"value": float(c.ravel()[0])} if number else {}))
        elif op == "Concat":
            if len(tensors) != len(ins):
                raise self.fail(node, "unsupported op: Concat with a constant operand")
            self.emit(node, "concat", ins, dim=int(self.attr(node, "axis")))
        elif op in ("Resize", "Upsample"):
            mode = self.attr(node, "mode", b"nearest")
            self.emit(node, "upsample", [x], mode=mode.decode() if isinstance(mode, bytes) else mode)
        elif op in _VIEWS:
            self.emit(node, "view", [x])
        elif op in ("Identity", "Dropout"):
            self.emit(node, "identity", [x])
        else:
            raise self.fail(node, f"unsupported op {op}")

    def conv(self, node, x):
        ins = [i for i in node.input if i]
        w = self.consts.get(ins[1])
        if w is None:
            raise self.fail(node, "unsupported op: Conv with a computed weight")
        kernel = tuple(self.attr(node, "kernel_shape", w.shape[2:]))
        strides = tuple(self.attr(node, "strides", (1, 1)))
        dil = tuple(self.attr(node, "dilations", (1, 1)))
        auto_pad = self.attr(node, "auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            in_s, out_s = self.shape(node, x), self.shape(node, node.output[0])
            pads = []
            for n, o, k, s, d in zip(in_s[2:], out_s[2:], kernel, strides, dil):
                total = max((o - 1) * s + (k - 1) * d + 1 - n, 0)
                small = total // 2
                pads.append((small, total - small) if auto_pad == "SAME_UPPER" else (total - small, small))
            (t, b), (l, r) = pads
        elif auto_pad == "VALID":
            t = b = l = r = 0
        else:
            p = tuple(self.attr(node, "pads", (0, 0, 0, 0)))
            t, l, b, r = p
        self.emit(node, "conv", [x], out_channels=int(w.shape[0]), kernel=kernel, stride=strides,
                  padding=(t, b, l, r), dilation=dil, groups=int(self.attr(node, "group", 1)), bias=len(ins) > 2)

    def conv_transpose(self, node, x):
        ins = [i for i in node.input if i]
        w = self.consts.get(ins[1])
        if w is None:
            raise self.fail(node, "unsupported op: ConvTranspose with a computed weight")
        auto_pad = self.attr(node, "auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        t, l, b, r = tuple(self.attr(node, "pads", (0, 0, 0, 0)))
        if auto_pad not in ("NOTSET", "VALID") or self.attr(node, "output_shape") is not None or (t, l) != (b, r):
            raise self.fail(node, f"unsupported op: ConvTranspose with auto_pad={auto_pad}, output_shape or "
                                  f"asymmetric pads {(t, l, b, r)} (expected explicit symmetric pads)")
        group = int(self.attr(node, "group", 1))
        self.emit(node, "conv_transpose", [x], out_channels=int(w.shape[1]) * group,
                  kernel=tuple(self.attr(node, "kernel_shape", w.shape[2:])),
                  stride=tuple(self.attr(node, "strides", (1, 1))), padding=(t, l),
                  output_padding=tuple(self.attr(node, "output_padding", (0, 0))),
                  dilation=tuple(self.attr(node, "dilations", (1, 1))), groups=group, bias=len(ins) > 2)

    def clip_bounds(self, node, ins):
        lo, hi = self.attr(node, "min"), self.attr(node, "max")
        if len(ins) > 1 and ins[1] in self.consts:
            lo = float(np.ravel(self.consts[ins[1]])[0])
        if len(ins) > 2 and ins[2] in self.consts:
            hi = float(np.ravel(self.consts[ins[2]])[0])
        return (None if lo is None else float(lo)), (None if hi is None else float(hi))

    def fold_bias(self, node, x, ins) -> bool:
        """Add(MatMul(x, W), b): the bias of a linear layer exported as two nodes."""
        if node.op_type != "Add" or not self.ops or self.ops[-1].value != x or self.ops[-1].kind != "linear":
            return False
        other = next(i for i in ins if i != x)
        c = self.consts.get(other)
        if c is None or c.ndim != 1 or len(self.consumers.get(x, [])) != 1:
            return False
        self.ops[-1].attrs["bias"] = True
        self.emit(node, "identity", [x])
        return True


def _fold(op: str, args: list, attr):
    """Value of a node whose inputs are all constants (shape arithmetic); None if not handled."""
    a = args[0]
    if op in ("Identity", "Cast"):
        return a
    if op == "Gather":
        return np.take(a, args[1], axis=attr("axis", 0))
    if op == "Concat":
        return np.concatenate([np.atleast_1d(v) for v in args], axis=attr("axis", 0))
    if op in ("Unsqueeze", "Squeeze"):
        axes = attr("axes") if len(args) < 2 else args[1]
        axes = sorted(int(x) for x in np.ravel(axes)) if axes is not None else None
        if op == "Squeeze":
            return np.squeeze(a, axis=tuple(axes) if axes is not None else None)
        for ax in axes:
            a = np.expand_dims(a, ax)
        return a
    if op == "Reshape":
        shape = [int(d) if d != 0 else a.shape[i] for i, d in enumerate(np.ravel(args[1]))]
        return np.reshape(a, shape)
    if op == "Transpose":
        return np.transpose(a, attr("perm"))
    if op == "Slice":
        starts, ends = np.ravel(args[1]), np.ravel(args[2])
        axes = np.ravel(args[3]) if len(args) > 3 else range(len(starts))
        steps = np.ravel(args[4]) if len(args) > 4 else [1] * len(starts)
        index = [slice(None)] * a.ndim
        for s0, e0, ax, st in zip(starts, ends, axes, steps):
            index[int(ax)] = slice(int(s0), int(max(min(e0, 2 ** 62), -2 ** 62)), int(st))
        return a[tuple(index)]
    if op == "ConstantOfShape":
        value = attr("value")
        fill = np.ravel(np.asarray(value.float_data or value.int64_data or value.int32_data or [0]))[0] \
            if value is not None else 0
        return np.full([int(d) for d in np.ravel(a)], fill)
    if op in ("Add", "Sub", "Mul", "Div"):
        b = args[1]
        if op == "Div":
            return a // b if np.issubdtype(np.asarray(a).dtype, np.integer) else a / b
        return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op](a, b)
    if op == "Range":
        return np.arange(a, args[1], args[2])
    if op == "Equal":
        return np.equal(a, args[1])
    if op == "Where":
        return np.where(a, args[1], args[2])
    return None


def _module_path(node_name: str) -> str:
    """The module path in a torch.onnx node name: ``/features/features.3/conv/conv.0/Conv`` ->
    ``features.3.conv.0``. Each scope is the child's name, prefixed by its parent's scope when the parent
    is a container (``features.3`` under ``features``); the last part is the op. "" when there is no scope."""
    if not node_name or not node_name.startswith("/"):
        return ""
    scopes = node_name.strip("/").split("/")[:-1]
    path, prev = [], ""
    for scope in scopes:
        path.append(scope[len(prev) + 1:] if prev and scope.startswith(prev + ".") else scope)
        prev = scope
    return ".".join(path)
