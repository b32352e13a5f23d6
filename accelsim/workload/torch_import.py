"""torch.fx importer: any traceable ``nn.Module`` becomes a Network.

>>> import torch.nn as nn
>>> m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
>>> net = from_torch(m, (3, 32, 32))
>>> [(l.op, l.out_shape, l.bias, l.activation) for l in net.layers]
[('conv', (32, 32, 8), True, 'relu')]

The module is traced with ``torch.fx.symbolic_trace`` semantics (torch.nn modules are leaves), then
run once on a zero tensor of the input shape (batch 1, eval mode, no grad) with
``torch.fx.passes.shape_prop.ShapeProp`` so every node has its output shape. The graph is translated
to :class:`~accelsim.workload.lowering.Op` s and lowered to the IR (batch norm folding, activation
fusion, free views, dilation; each layer's block id is the first two components of its module path,
e.g. ``features.3``: see :mod:`accelsim.workload.lowering`). An op outside ``SUPPORTED_OPS`` or a
module that cannot be traced raises :class:`~accelsim.errors.WorkloadError` naming the op and the
module path; nothing is skipped silently. torch is imported only when this module is.
"""

from __future__ import annotations

import contextlib
import io
import operator

from ..extras import importing

with importing("torch", "torch", "accelsim.workload.torch_import (from_torch)"):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.fx.passes.shape_prop import ShapeProp

from ..errors import WorkloadError
from .ir import INPUT, Network
from .lowering import Op, lower

SUPPORTED_OPS = (
    "Conv2d/F.conv2d (any groups, stride, padding, dilation), ConvTranspose2d (no dilation), Linear/F.linear, "
    "BatchNorm1d/2d (folded), "
    "LayerNorm, ReLU, ReLU6, Hardswish, Hardsigmoid, SiLU, GELU, Sigmoid, Tanh, LeakyReLU, ELU, Mish, Hardtanh, "
    "Softmax, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d, mean, ZeroPad2d/F.pad before a conv "
    "or pool, add/sub/mul/div (tensor or constant), cat, Upsample/interpolate (nearest, bilinear), "
    "flatten/reshape/view/permute/transpose/squeeze/unsqueeze/contiguous, matmul/bmm/@, Dropout/Identity")

_ACT_MODULES = (  # order matters: ReLU6 is a Hardtanh
    (nn.ReLU, "relu"), (nn.ReLU6, "relu6"), (nn.Hardswish, "hardswish"), (nn.Hardsigmoid, "hardsigmoid"),
    (nn.SiLU, "silu"), (nn.GELU, "gelu"), (nn.Sigmoid, "sigmoid"), (nn.Tanh, "tanh"),
    (nn.LeakyReLU, "leaky_relu"), (nn.ELU, "elu"), (nn.Mish, "mish"), (nn.Hardtanh, "hardtanh"),
    (nn.Softmax, "softmax"), (nn.LayerNorm, "layernorm"),
)
_ACT_FUNCTIONS = {
    F.relu: "relu", torch.relu: "relu", torch.relu_: "relu", F.relu_: "relu", F.relu6: "relu6",
    F.hardswish: "hardswish", F.hardsigmoid: "hardsigmoid", F.silu: "silu", F.gelu: "gelu",
    torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid", torch.tanh: "tanh", F.tanh: "tanh",
    F.leaky_relu: "leaky_relu", F.elu: "elu", F.mish: "mish", F.hardtanh: "hardtanh",
    F.softmax: "softmax", torch.softmax: "softmax", F.layer_norm: "layernorm",
}
_ACT_METHODS = {"relu": "relu", "relu_": "relu", "sigmoid": "sigmoid", "sigmoid_": "sigmoid", "tanh": "tanh",
                "softmax": "softmax"}
_VIEW_FUNCTIONS = {torch.flatten, torch.reshape, torch.permute, torch.transpose, torch.squeeze, torch.unsqueeze,
                   torch.t}
_VIEW_METHODS = {"view", "reshape", "flatten", "permute", "transpose", "squeeze", "unsqueeze", "contiguous",
                 "t", "view_as", "reshape_as"}
_IDENTITY_FUNCTIONS = {F.dropout, F.dropout2d, F.alpha_dropout}
_IDENTITY_METHODS = {"clone", "detach"}
_BINARY = {
    operator.add: "add", operator.iadd: "add", torch.add: "add", operator.sub: "sub", operator.isub: "sub",
    torch.sub: "sub", operator.mul: "mul", operator.imul: "mul", torch.mul: "mul", operator.truediv: "div",
    operator.itruediv: "div", torch.div: "div",
}
_BINARY_METHODS = {"add": "add", "add_": "add", "sub": "sub", "sub_": "sub", "mul": "mul", "mul_": "mul",
                   "div": "div", "div_": "div"}
_MATMUL = {torch.matmul, torch.bmm, operator.matmul}
_POOL_FUNCTIONS = {F.max_pool2d: "max", F.avg_pool2d: "avg"}
_ADAPTIVE_FUNCTIONS = {F.adaptive_avg_pool2d: "avg", F.adaptive_max_pool2d: "max"}
_CAT = {torch.cat, torch.concat, torch.concatenate}
_STATIC_FUNCTIONS = {getattr, operator.getitem, len, operator.floordiv, operator.mod, operator.pow, int, float}
_STATIC_METHODS = {"size", "dim"}
_MISC_FUNCTIONS = {F.conv2d, F.linear, F.batch_norm, F.pad, F.interpolate, F.upsample, torch.mean}


class _AutogradFunctionCall:
    """Graph target standing for ``SomeFunction.apply``: custom autograd functions are opaque ops."""

    def __init__(self, cls):
        self.cls = cls
        self.__name__ = f"{cls.__name__}_apply"
        self.__module__ = cls.__module__

    def __call__(self, *args, **kwargs):
        return self.cls.apply(*args, **kwargs)

    def __repr__(self):
        return f"custom autograd.Function {self.cls.__qualname__}"


class _Tracer(torch.fx.Tracer):
    """symbolic_trace's tracer that remembers which module was being traced when tracing failed."""

    def __init__(self):
        super().__init__()
        self.failed_in = None

    def call_module(self, m, forward, args, kwargs):
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_in is None:
                with contextlib.suppress(Exception):
                    self.failed_in = f"{self.path_of_module(m) or '<root>'} ({type(m).__name__})"
            raise


@contextlib.contextmanager
def _opaque_autograd_functions():
    """While tracing, ``Function.apply`` on a traced value records one opaque node instead of tracing into it."""
    original = torch.autograd.Function.__dict__["apply"]

    def apply(cls, *args, **kwargs):
        proxies = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.fx.Proxy)]
        if proxies:
            return proxies[0].tracer.create_proxy("call_function", _AutogradFunctionCall(cls), args, kwargs)
        return original.__func__(cls, *args, **kwargs)

    torch.autograd.Function.apply = classmethod(apply)
    try:
        yield
    finally:
        torch.autograd.Function.apply = original


def _fail(name: str, what: str, where: str) -> WorkloadError:
    return WorkloadError(f"from_torch({name}): {what} at {where}; supported ops: {SUPPORTED_OPS}")


def _torch_input_shape(input_shape, batched) -> tuple:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 3 and not batched:
        shape = (1,) + shape
    if not shape or shape[0] != 1 or any(s <= 0 for s in shape):
        raise WorkloadError(f"from_torch: input_shape must be (C, H, W), (1, C, H, W), or with batched=True a "
                            f"shape whose first (batch) dimension is 1; got {tuple(input_shape)}")
    return shape


def from_torch(module, input_shape, name: str | None = None, precision: str = "int8", *,
               batched: bool = False, prune: bool = True) -> Network:
    """Trace ``module`` on a zero input and build its IR.

    ``input_shape`` is (C, H, W) or (1, C, H, W) for an image model; with ``batched=True`` it is taken
    as the full input shape with its batch dimension of 1 first, e.g. (1, T, C) tokens or (1, F) features.
    With ``prune`` (default) the IR is what a deployment compiler runs: layers whose output is constant
    or unused and duplicate layers are removed (``Network.prune_dead``; the count is the network's
    ``pruned_layers``); ``prune=False`` keeps every traced operator.
    """
    if not isinstance(module, nn.Module):
        raise WorkloadError(f"from_torch: expected a torch.nn.Module, got {type(module).__name__}")
    shape = _torch_input_shape(input_shape, batched)
    name = name or type(module).__name__.lower()
    graph = _trace(module, name)
    _check_targets(module, graph, name)
    gm = torch.fx.GraphModule(module, graph, type(module).__name__)
    _propagate_shapes(module, gm, shape, name)
    ops, outputs = _FxTranslator(gm, name).run()
    return lower(ops, shape, outputs, name, precision, source="from_torch", supported=SUPPORTED_OPS, prune=prune)


def _trace(module, name):
    tracer = _Tracer()
    try:
        with _opaque_autograd_functions():
            return tracer.trace(module)
    except Exception as exc:  # fx raises TraceError, TypeError, AttributeError, ... from user code
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = tracer.failed_in or f"<root> ({type(module).__name__})"
        raise _fail(name, f"cannot trace the module ({type(exc).__name__}: {msg})", where) from None


def _where(node, root) -> str:
    if node.op == "call_module":
        return f"{node.target} ({type(root.get_submodule(node.target)).__name__})"
    stack = node.meta.get("nn_module_stack") or {}
    if stack:
        path, cls = list(stack.values())[-1]
        cls = cls if isinstance(cls, str) else getattr(cls, "__name__", str(cls))
        return f"{path} ({cls.rsplit('.', 1)[-1]})"
    return f"<root> ({type(root).__name__})"


def _describe(node, root) -> str:
    if node.op == "call_module":
        cls = type(root.get_submodule(node.target))
        return f"nn.{cls.__name__}" if cls.__module__.startswith("torch.nn") else f"{cls.__module__}.{cls.__qualname__}"
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    target = node.target
    if isinstance(target, _AutogradFunctionCall):
        return repr(target)
    with contextlib.suppress(Exception):
        resolved = torch.overrides.resolve_name(target)
        if resolved:
            return resolved
    return getattr(target, "__qualname__", None) or getattr(target, "__name__", None) or repr(target)


def _module_kind(m) -> str | None:
    if isinstance(m, nn.Conv2d):
        return "conv"
    if isinstance(m, nn.ConvTranspose2d):
        return "conv_transpose"
    if isinstance(m, nn.Linear):
        return "linear"
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return "bn"
    for cls, _ in _ACT_MODULES:
        if isinstance(m, cls):
            return "act"
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return "pool"
    if isinstance(m, (nn.ZeroPad2d, nn.ConstantPad2d)):
        return "pad"
    if isinstance(m, nn.Upsample):
        return "upsample"
    if isinstance(m, (nn.Flatten, nn.Unflatten)):
        return "view"
    if isinstance(m, (nn.Dropout, nn.Dropout2d, nn.AlphaDropout, nn.Identity)):
        return "identity"
    return None


def _function_known(target) -> bool:
    try:
        return (target in _ACT_FUNCTIONS or target in _VIEW_FUNCTIONS or target in _IDENTITY_FUNCTIONS
                or target in _BINARY or target in _MATMUL or target in _POOL_FUNCTIONS
                or target in _ADAPTIVE_FUNCTIONS or target in _CAT or target in _STATIC_FUNCTIONS
                or target in _MISC_FUNCTIONS)
    except TypeError:  # unhashable target
        return False


def _check_targets(module, graph, name):
    """Name the first unsupported op before running anything."""
    for node in graph.nodes:
        ok = True
        if node.op == "call_module":
            ok = _module_kind(module.get_submodule(node.target)) is not None
        elif node.op == "call_function":
            ok = _function_known(node.target)
        elif node.op == "call_method":
            ok = (node.target in _ACT_METHODS or node.target in _VIEW_METHODS or node.target in _BINARY_METHODS
                  or node.target in _IDENTITY_METHODS or node.target in _STATIC_METHODS
                  or node.target in ("matmul", "bmm", "mean"))
        if not ok:
            raise _fail(name, f"unsupported op {_describe(node, module)}", _where(node, module))


def _propagate_shapes(module, gm, shape, name):
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        # ShapeProp prints the traceback of a failing node itself; the error below says it in one line
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            ShapeProp(gm).propagate(torch.zeros(shape))
    except Exception as exc:
        cause = exc.__cause__ or exc
        msg = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        where = "<root>"
        for node in gm.graph.nodes:  # the first node without a recorded output is where it failed
            if node.op not in ("placeholder", "output") and "type" not in node.meta:
                where = _where(node, module)
                break
        raise WorkloadError(f"from_torch({name}): forward on a zero input of shape {shape} failed at {where}: "
                            f"{type(cause).__name__}: {msg}") from None
    finally:
        for m, training in modes:
            m.training = training


class _FxTranslator:
    """fx nodes (with shapes) -> lowering Ops."""

    def __init__(self, gm, name):
        self.gm, self.name = gm, name
        self.env: dict = {}     # node -> ("tensor", value id) | ("const", None) | ("static", None)
        self.ops: list = []

    def fail(self, node, what) -> WorkloadError:
        return _fail(self.name, what, _where(node, self.gm))

    # -- operand helpers -----------------------------------------------------------------------
    def is_tensor(self, a) -> bool:
        return isinstance(a, torch.fx.Node) and self.env.get(a, ("",))[0] == "tensor"

    def value(self, a) -> str:
        return self.env[a][1]

    def tensors_in(self, args) -> list:
        out = []
        for a in args:
            if isinstance(a, (list, tuple)):
                out += self.tensors_in(a)
            elif isinstance(a, dict):
                out += self.tensors_in(list(a.values()))
            elif self.is_tensor(a):
                out.append(a)
        return out

    def const_tensor(self, a):
        """A parameter/buffer operand (get_attr node) as a tensor, else None."""
        if isinstance(a, torch.fx.Node) and a.op == "get_attr":
            obj = self.gm
            for part in a.target.split("."):
                obj = getattr(obj, part)
            return obj if isinstance(obj, torch.Tensor) else None
        return None

    @staticmethod
    def out_shape(node):
        meta = node.meta.get("tensor_meta")
        return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None

    @staticmethod
    def module_path(node) -> str:
        """Qualified name of the module a node runs in: the module called, or the innermost module
        whose forward recorded the node ("" at the top level)."""
        if node.op == "call_module":
            return node.target
        stack = node.meta.get("nn_module_stack") or {}
        return list(stack.values())[-1][0] if stack else ""

    def label(self, node) -> str:
        if node.op == "call_module":
            return node.target
        path = self.module_path(node)
        return f"{path}.{node.name}" if path else node.name

    def emit(self, node, op_kind, inputs, **attrs):
        shape = self.out_shape(node)
        if shape is None:
            raise self.fail(node, f"unsupported op {_describe(node, self.gm)} (its result is not one tensor)")
        value = "%" + node.name
        self.ops.append(Op(value, op_kind, tuple(self.value(i) for i in inputs), shape, self.label(node),
                           _where(node, self.gm), attrs, self.module_path(node)))
        self.env[node] = ("tensor", value)

    @staticmethod
    def arg(node, index, key, default=None):
        if len(node.args) > index:
            return node.args[index]
        return node.kwargs.get(key, default)

    # -- translation ---------------------------------------------------------------------------
    def run(self):
        outputs = []
        placeholders = 0
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                placeholders += 1
                if placeholders > 1:
                    raise self.fail(node, "unsupported op: a second input tensor (one input is supported)")
                self.env[node] = ("tensor", INPUT)
            elif node.op == "get_attr":
                self.env[node] = ("const", None)
            elif node.op == "output":
                outputs = [self.value(n) for n in self.tensors_in([node.args[0]])]
            elif node.op == "call_module":
                self.module(node, self.gm.get_submodule(node.target))
            elif node.op == "call_function":
                self.function(node, node.target)
            else:
                self.method(node, node.target)
        if not outputs:
            raise WorkloadError(f"from_torch({self.name}): the model returns no tensor computed from its input")
        return self.ops, outputs

    def no_tensor_inputs(self, node) -> bool:
        """Ops on constants/static values only (shape arithmetic, parameter math) make no layer."""
        if not self.tensors_in(list(node.args) + list(node.kwargs.values())):
            self.env[node] = ("const", None) if self.out_shape(node) is not None else ("static", None)
            return True
        return False

    def module(self, node, m):
        if self.no_tensor_inputs(node):
            return
        x = node.args[0]
        kind = _module_kind(m)
        if isinstance(m, nn.Conv2d):
            self.conv(node, x, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation, m.groups,
                      m.bias is not None)
        elif kind == "conv_transpose":
            if isinstance(m.padding, str):
                raise self.fail(node, f"unsupported op: ConvTranspose2d with padding={m.padding!r} (expected ints)")
            self.emit(node, "conv_transpose", [x], out_channels=int(m.out_channels), kernel=_pair(m.kernel_size),
                      stride=_pair(m.stride), padding=_pair(m.padding), output_padding=_pair(m.output_padding),
                      dilation=_pair(m.dilation), groups=int(m.groups), bias=m.bias is not None)
        elif kind == "linear":
            self.emit(node, "linear", [x], out_features=m.out_features, bias=m.bias is not None)
        elif kind == "bn":
            self.emit(node, "bn", [x])
        elif kind == "act":
            act = next(k for cls, k in _ACT_MODULES if isinstance(m, cls))
            self.emit(node, "act", [x], kind=act)
        elif isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            self.emit(node, "pool", [x], kind="avg" if isinstance(m, nn.AdaptiveAvgPool2d) else "max", adaptive=True)
        elif kind == "pool":
            pool_kind = "max" if isinstance(m, nn.MaxPool2d) else "avg"
            self.pool(node, x, pool_kind, m.kernel_size, m.stride, m.padding, getattr(m, "dilation", 1))
        elif kind == "pad":
            self.pad(node, x, m.padding)
        elif kind == "upsample":
            self.emit(node, "upsample", [x], mode=m.mode)
        elif kind == "view":
            self.emit(node, "view", [x])
        elif kind == "identity":
            self.emit(node, "identity", [x])
        else:  # pragma: no cover - _check_targets rejected it
            raise self.fail(node, f"unsupported op {_describe(node, self.gm)}")

    def conv(self, node, x, out_channels, kernel, stride, padding, dilation, groups, bias):
        kh, kw = _pair(kernel)
        dh, dw = _pair(dilation)
        if isinstance(padding, str):
            if padding == "valid":
                pads = (0, 0, 0, 0)
            else:  # 'same' (stride 1): torch puts the odd pixel at the end
                th, tw = dh * (kh - 1), dw * (kw - 1)
                pads = (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        else:
            ph, pw = _pair(padding)
            pads = (ph, ph, pw, pw)
        self.emit(node, "conv", [x], out_channels=int(out_channels), kernel=(kh, kw), stride=_pair(stride),
                  padding=pads, dilation=(dh, dw), groups=int(groups), bias=bool(bias))

    def pool(self, node, x, kind, kernel, stride, padding, dilation=1):
        kernel = _pair(kernel)
        stride = _pair(stride) if stride not in (None, [], ()) else kernel
        ph, pw = _pair(padding)
        self.emit(node, "pool", [x], kind=kind, kernel=kernel, stride=stride, padding=(ph, ph, pw, pw),
                  dilation=_pair(dilation))

    def pad(self, node, x, pads):
        pads = tuple(int(p) for p in (pads if isinstance(pads, (tuple, list)) else (pads,) * 4))
        if len(pads) == 2:
            pads = pads + (0, 0)
        if len(pads) != 4 or len(self.out_shape(node) or ()) != 4:
            raise self.fail(node, "unsupported op: padding other than the last two dims of an NCHW tensor")
        left, right, top, bottom = pads
        self.emit(node, "pad", [x], pads=(top, bottom, left, right))

    def binary(self, node, kind, a, b):
        ta, tb = self.is_tensor(a), self.is_tensor(b)
        if ta and tb:
            self.emit(node, {"div": "mul"}.get(kind, kind), [a, b])
        else:
            c = b if ta else a
            number = isinstance(c, (int, float)) and not isinstance(c, bool)
            self.emit(node, "const", [a if ta else b], kind=kind, **({"value": float(c)} if number else {}))

    def function(self, node, f):
        if isinstance(f, _AutogradFunctionCall):  # pragma: no cover - _check_targets rejected it
            raise self.fail(node, f"unsupported op {f!r}")
        if f in _STATIC_FUNCTIONS:  # shape arithmetic; the same functions on a traced tensor are ops
            if self.tensors_in(node.args) and self.out_shape(node) is not None:
                if f is getattr and node.args[1] in ("T", "mT", "data"):
                    self.emit(node, "view" if node.args[1] != "data" else "identity", [node.args[0]])
                    return
                if f is operator.getitem:
                    raise self.fail(node, "unsupported op: tensor indexing/slicing (operator.getitem)")
                raise self.fail(node, f"unsupported op {_describe(node, self.gm)} on a tensor")
            self.env[node] = ("const", None) if self.out_shape(node) is not None else ("static", None)
            return
        if self.no_tensor_inputs(node):
            return
        x = node.args[0] if node.args else None
        if f in _ACT_FUNCTIONS:
            self.emit(node, "act", [x], kind=_ACT_FUNCTIONS[f])
        elif f in _VIEW_FUNCTIONS:
            self.emit(node, "view", [x])
        elif f in _IDENTITY_FUNCTIONS:
            self.emit(node, "identity", [x])
        elif f in _BINARY:
            self.binary(node, _BINARY[f], node.args[0], self.arg(node, 1, "other"))
        elif f in _MATMUL:
            self.matmul(node, node.args[0], self.arg(node, 1, "other", self.arg(node, 1, "mat2")))
        elif f in _CAT:
            tensors = self.arg(node, 0, "tensors")
            if any(not self.is_tensor(t) for t in tensors):
                raise self.fail(node, "unsupported op: torch.cat with a constant operand")
            self.emit(node, "concat", list(tensors), dim=int(self.arg(node, 1, "dim", 0)))
        elif f in _POOL_FUNCTIONS:
            self.pool(node, x, _POOL_FUNCTIONS[f], self.arg(node, 1, "kernel_size"), self.arg(node, 2, "stride"),
                      self.arg(node, 3, "padding", 0),
                      self.arg(node, 4, "dilation", 1) if f is F.max_pool2d else 1)
        elif f in _ADAPTIVE_FUNCTIONS:
            self.emit(node, "pool", [x], kind=_ADAPTIVE_FUNCTIONS[f], adaptive=True)
        elif f is torch.mean:
            self.emit(node, "mean", [x], dims=_dims(self.arg(node, 1, "dim")))
        elif f is F.conv2d:
            w = self.const_tensor(self.arg(node, 1, "weight"))
            if w is None:
                raise self.fail(node, "unsupported op: F.conv2d with a computed (non-parameter) weight")
            groups = int(self.arg(node, 6, "groups", 1))
            self.conv(node, x, w.shape[0], w.shape[2:], self.arg(node, 3, "stride", 1), self.arg(node, 4, "padding", 0),
                      self.arg(node, 5, "dilation", 1), groups, self.arg(node, 2, "bias") is not None)
        elif f is F.linear:
            w = self.const_tensor(self.arg(node, 1, "weight"))
            if w is None:
                raise self.fail(node, "unsupported op: F.linear with a computed (non-parameter) weight")
            self.emit(node, "linear", [x], out_features=int(w.shape[0]), bias=self.arg(node, 2, "bias") is not None)
        elif f is F.batch_norm:
            self.emit(node, "bn", [x])
        elif f is F.pad:
            self.pad(node, x, self.arg(node, 1, "pad"))
        elif f in (F.interpolate, F.upsample):
            self.emit(node, "upsample", [x], mode=self.arg(node, 3, "mode", "nearest"))
        else:  # pragma: no cover - _check_targets rejected it
            raise self.fail(node, f"unsupported op {_describe(node, self.gm)}")

    def matmul(self, node, a, b):
        if self.is_tensor(a) and self.is_tensor(b):
            self.emit(node, "matmul", [a, b])
            return
        w = self.const_tensor(b)
        if self.is_tensor(a) and w is not None and w.dim() == 2:
            self.emit(node, "linear", [a], out_features=int(w.shape[1]), bias=False)
            return
        raise self.fail(node, "unsupported op: matmul with a constant first operand or a non-2D constant")

    def method(self, node, name):
        if name in _STATIC_METHODS:
            self.env[node] = ("static", None)
            return
        if self.no_tensor_inputs(node):
            return
        x = node.args[0]
        if name in _ACT_METHODS:
            self.emit(node, "act", [x], kind=_ACT_METHODS[name])
        elif name in _VIEW_METHODS:
            self.emit(node, "view", [x])
        elif name in _IDENTITY_METHODS:
            self.emit(node, "identity", [x])
        elif name in _BINARY_METHODS:
            self.binary(node, _BINARY_METHODS[name], x, self.arg(node, 1, "other"))
        elif name in ("matmul", "bmm"):
            self.matmul(node, x, self.arg(node, 1, "other", self.arg(node, 1, "mat2")))
        elif name == "mean":
            self.emit(node, "mean", [x], dims=_dims(self.arg(node, 1, "dim")))
        else:  # pragma: no cover - _check_targets rejected it
            raise self.fail(node, f"unsupported op Tensor.{name}")


def _pair(v) -> tuple:
    if isinstance(v, (tuple, list)):
        return (int(v[0]), int(v[-1])) if len(v) else (1, 1)
    return int(v), int(v)


def _dims(dim):
    if dim is None:
        return None
    return tuple(int(d) for d in dim) if isinstance(dim, (tuple, list)) else (int(dim),)

