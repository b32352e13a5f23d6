"""Model transforms: rewrite a network's blocks, widths and depths and get a new, valid network back.

Every transform takes a :class:`~accelsim.workload.ir.Network`, never changes it, and returns a new one
rebuilt layer by layer through :class:`~accelsim.workload.ir.NetworkBuilder`, so every shape is
inferred and checked again. Layers a transform does not touch keep their name, block id, settings and
number formats.

- :func:`fuse_ibn` / :func:`unfuse`: inverted-bottleneck blocks to fused ones and back;
- :func:`replace_depthwise_with_dense`: depthwise convs become standard convs;
- :func:`round_channels` / :func:`scale_width`: channel counts rounded to a multiple or scaled;
- :func:`scale_depth`: more or fewer repeated blocks per stage.

How blocks are found. The IR is a flat list of layers, so blocks are read from the block ids that the
builder's ``ibn`` / ``fused_ibn``, the zoo, the search space's genomes and the importers stamp on layers
("<stage>.<block>", see :class:`~accelsim.workload.ir.Layer`), checked against the layers' structure:
a block is the run of consecutive layers sharing one block id that is exactly

- an inverted bottleneck (``ibn``): [1x1 expand conv] -> kxk depthwise conv -> 1x1 project conv with no
  activation (a linear bottleneck) -> [add of the block's input and the projection], or
- a fused inverted bottleneck (``fused_ibn``): kxk full conv expand -> 1x1 linear project -> [add],

each layer reading the one before, and no layer outside the block reading anything but its last
layer. A stage is the set of blocks sharing the part of the id before the first "." ("s2" of "s2.b1").
A network with no such block is refused in one line by the transforms that need blocks. Layer names
follow the builder's convention "<name>.expand", ".dw", ".project", ".add"; new blocks of
:func:`scale_depth` are named "<stage>.b<index>", as the zoo and the genomes name theirs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass

from ..errors import WorkloadError, quote
from .ir import CONV_OPS, INPUT, Layer, Network, NetworkBuilder
from .mobilenet_arch import make_divisible

ROUNDING_MODES = ("nearest", "up", "down")
BLOCK_KINDS = ("ibn", "fused_ibn")

__all__ = ["BLOCK_KINDS", "ROUNDING_MODES", "Block", "find_blocks", "fuse_ibn", "unfuse",
           "replace_depthwise_with_dense", "round_channels", "scale_width", "scale_depth", "round_to_multiple",
           "scaled_depth", "check_multiplier", "check_multiple", "check_mode"]


# ------------------------------------------------------------------------------------ arguments
def check_multiplier(fn: str, value, what: str = "multiplier") -> float:
    """``value`` as a positive finite float; anything else is one line naming ``fn`` and the argument."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise WorkloadError(f"{fn}: {what}: expected a positive number, got {quote(value)}")
    return float(value)


def check_multiple(fn: str, value) -> int:
    """``value`` as a positive int (a channel multiple)."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    if not ok:
        raise WorkloadError(f"{fn}: multiple: expected a positive whole number of channels, got {quote(value)}")
    return value


def check_mode(fn: str, mode) -> str:
    if mode not in ROUNDING_MODES:
        raise WorkloadError(f"{fn}: mode: expected one of {', '.join(ROUNDING_MODES)}, got {quote(mode)}")
    return mode


def round_to_multiple(channels: float, multiple: int, mode: str = "nearest") -> int:
    """``channels`` rounded to a multiple of ``multiple`` (half up for "nearest"), never below ``multiple``."""
    q = channels / multiple
    steps = math.floor(q + 0.5) if mode == "nearest" else math.ceil(q - 1e-9) if mode == "up" else math.floor(q + 1e-9)
    return max(multiple, int(steps) * multiple)


def scaled_depth(blocks: int, multiplier: float) -> int:
    """Blocks in a stage after scaling: ``blocks * multiplier`` rounded half up, at least 1 (as a genome's
    ``depth_multiplier``)."""
    return max(1, int(blocks * multiplier + 0.5))


def _names(fn: str, arg: str, value) -> "tuple | None":
    """None, or ``value`` (a name or an iterable of names) as a tuple of strings."""
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    try:
        names = tuple(value)
    except TypeError:
        raise WorkloadError(f"{fn}: {arg}: expected a list of names, got {quote(value)}") from None
    for n in names:
        if not isinstance(n, str):
            raise WorkloadError(f"{fn}: {arg}: expected a list of names, got {quote(value)}")
    return names


# ------------------------------------------------------------------------------------ blocks
@dataclass(frozen=True)
class Block:
    """One inverted-bottleneck block found in a network (see the module docstring)."""

    id: str                    # block id, "<stage>.<block>"
    kind: str                  # "ibn" or "fused_ibn"
    input: str                 # the tensor the block reads
    expand: "Layer | None"     # ibn: the 1x1 expand (None when the block does not expand); fused_ibn: the kxk conv
    depthwise: "Layer | None"  # ibn: the kxk depthwise conv; fused_ibn: None
    project: Layer             # the 1x1 linear projection
    add: "Layer | None"        # the residual add, if any

    @property
    def stage(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def layers(self) -> tuple:
        return tuple(l for l in (self.expand, self.depthwise, self.project, self.add) if l is not None)

    @property
    def output(self) -> str:
        return self.layers[-1].name

    @property
    def spatial(self) -> Layer:
        """The layer with the block's kxk kernel and stride (the depthwise conv, or the fused expand)."""
        return self.depthwise if self.kind == "ibn" else self.expand

    @property
    def in_channels(self) -> int:
        return self.layers[0].in_channels

    @property
    def mid_channels(self) -> int:
        return self.spatial.out_channels

    @property
    def out_channels(self) -> int:
        return self.project.out_channels

    @property
    def expansion(self) -> float:
        """Expanded / input channels."""
        return self.mid_channels / self.in_channels

    @property
    def prefix(self) -> str:
        """Layer-name prefix: "<name>" of "<name>.project", else the block id."""
        name = self.project.name
        return name[:-len(".project")] if name.endswith(".project") else self.id


def _consumers(net: Network) -> dict:
    out: dict = {}
    for layer in net.layers:
        for src in layer.inputs:
            out.setdefault(src, []).append(layer.name)
    return out


def _is_pointwise(layer: Layer) -> bool:
    return (layer.op == "conv" and layer.kernel == (1, 1) and layer.stride == (1, 1) and layer.groups == 1
            and layer.padding in ((0, 0), (0, 0, 0, 0)))


def _is_plain_depthwise(layer: Layer) -> bool:
    return layer.is_depthwise and layer.out_channels == layer.in_channels


def _match(block_id: str, layers: list, consumers: dict) -> "Block | None":
    """The block ``layers`` form, or None when they are not exactly an IBN or fused IBN."""
    names = {l.name for l in layers}
    if any(set(consumers.get(l.name, ())) - names for l in layers[:-1]) or len(layers[0].inputs) != 1:
        return None
    x = layers[0].inputs[0]
    add = layers[-1] if layers[-1].op == "add" and not layers[-1].attrs else None
    body = layers[:-1] if add is not None else layers
    if not 2 <= len(body) <= 3 or any(l.op != "conv" for l in body):
        return None
    for prev, layer in zip([None] + body[:-1], body):
        if layer.inputs != ((prev.name if prev is not None else x),):
            return None
    project = body[-1]
    if not _is_pointwise(project) or project.activation:
        return None
    if add is not None and (len(add.inputs) != 2 or set(add.inputs) != {x, project.name}):
        return None
    if len(body) == 3:
        expand, dw = body[0], body[1]
        if _is_pointwise(expand) and _is_plain_depthwise(dw):
            return Block(block_id, "ibn", x, expand, dw, project, add)
        return None
    first = body[0]
    if _is_plain_depthwise(first):
        return Block(block_id, "ibn", x, None, first, project, add)
    if first.groups == 1:
        return Block(block_id, "fused_ibn", x, first, None, project, add)
    return None


def find_blocks(net: Network) -> tuple:
    """Every inverted-bottleneck and fused block of ``net`` (see the module docstring), in order."""
    runs: list = []
    for layer in net.layers:
        if runs and runs[-1][0] == layer.block:
            runs[-1][1].append(layer)
        else:
            runs.append((layer.block, [layer]))
    seen: dict = {}
    for block_id, _ in runs:
        seen[block_id] = seen.get(block_id, 0) + 1
    consumers = _consumers(net)
    found = []
    for block_id, layers in runs:
        if block_id and seen[block_id] == 1:
            blk = _match(block_id, layers, consumers)
            if blk is not None:
                found.append(blk)
    return tuple(found)


_STRUCTURE = ("inverted-bottleneck blocks: layers under one block id '<stage>.<block>' forming "
              "[1x1 expand] -> kxk depthwise -> 1x1 linear project [-> residual add], or a fused kxk expand "
              "-> 1x1 linear project")


def _blocks_or_fail(fn: str, net: Network) -> tuple:
    blocks = find_blocks(net)
    if not blocks:
        raise WorkloadError(f"{fn}: network {net.name} has no {_STRUCTURE}")
    return blocks


def _stage_names(blocks) -> list:
    return list(dict.fromkeys(b.stage for b in blocks))


def _select_stages(fn: str, net: Network, blocks, stages, known=None) -> set:
    """The stage names ``stages`` selects (None: all of ``known``); unknown names fail in one line."""
    known = _stage_names(blocks) if known is None else known
    names = _names(fn, "stages", stages)
    if names is None:
        return set(known)
    for n in names:
        if n not in known:
            raise WorkloadError(f"{fn}: stages: unknown stage {quote(n)} in network {net.name}; expected some "
                                f"of {', '.join(known) or '(none)'}")
    return set(names)


# ------------------------------------------------------------------------------------ rebuilding
class _Rebuild:
    """Replays a network's layers through a fresh builder, with changes, mapping old tensors to new."""

    def __init__(self, net: Network):
        self.net = net
        self.b = NetworkBuilder(net.name, net.input_shape, net.input_precision)
        self.tensor = {INPUT: INPUT}
        self.formats: dict = {}     # new layer -> (weight, act) format of the layer it came from

    def shape(self, old: str) -> tuple:
        return self.b.shape(self.tensor[old])

    def _done(self, y: str, like: Layer) -> str:
        self.formats[y] = (like.weight_precision, like.act_precision)
        return y

    def _stamp(self, block: str):
        return self.b.block(block) if block else contextlib.nullcontext()

    def conv(self, x: str, out: int, like: Layer, *, name: str, block: str, kernel=None, stride=None,
             padding="like", groups: int = 1, dilation=None, activation=None, bias=None) -> str:
        """A conv reading new tensor ``x``; each setting not given is ``like``'s."""
        with self._stamp(block):
            y = self.b.conv(x, out, kernel or like.kernel, stride or like.stride,
                            like.padding if padding == "like" else padding, groups,
                            like.activation if activation is None else activation,
                            like.bias if bias is None else bias, name=name, dilation=dilation or like.dilation)
        return self._done(y, like)

    def add(self, xs, like: Layer, *, name: str, block: str) -> str:
        with self._stamp(block):
            return self._done(self.b.add(*xs, name=name, activation=like.activation), like)

    def replay(self, layer: Layer, out_channels: "int | None" = None) -> str:
        """``layer`` again on the new tensors it reads (a conv with ``out_channels`` if given); returns
        and records its new output. Depthwise convs follow their input's channels."""
        b, xs = self.b, [self.tensor[i] for i in layer.inputs]
        attrs = dict(layer.attrs)
        with self._stamp(layer.block):
            if layer.op in CONV_OPS:
                in_c = b.shape(xs[0])[2]
                if layer.groups > 1 and layer.groups == layer.in_channels:   # depthwise (times a multiplier)
                    groups, out = in_c, in_c * (layer.out_channels // layer.in_channels)
                else:
                    groups, out = layer.groups, out_channels or layer.out_channels
                if layer.op == "conv":
                    y = b.conv(xs[0], out, layer.kernel, layer.stride, layer.padding, groups, layer.activation,
                               layer.bias, name=layer.name, dilation=layer.dilation)
                else:
                    y = b.conv_transpose(xs[0], out, layer.kernel, layer.stride, layer.padding,
                                         attrs.get("output_padding", 0), groups, layer.activation, layer.bias,
                                         name=layer.name)
            elif layer.op == "pool":
                y = b.pool(xs[0], layer.kernel, layer.stride, layer.padding, attrs.get("kind", "max"),
                           name=layer.name, dilation=layer.dilation)
            elif layer.op == "add":
                y = (b.mul(*xs, name=layer.name) if attrs.get("kind") == "mul"
                     else b.add(*xs, name=layer.name, activation=layer.activation))
            elif layer.op == "act":
                y = b.activation(xs[0], attrs.get("kind", "relu"), name=layer.name)
            elif layer.op == "concat" and attrs.get("kind") == "reshape":
                y = b.reshape(xs[0], self._reshape_target(layer, b.shape(xs[0])), name=layer.name)
            elif layer.op == "concat":
                y = b.concat(*xs, name=layer.name)
            elif layer.op == "upsample":
                y = b.upsample(xs[0], mode=attrs.get("mode", "nearest"), size=layer.out_shape[:2], name=layer.name)
            elif layer.op == "matmul":
                second = self.net.layer(layer.inputs[1]).out_shape if layer.inputs[1] != INPUT \
                    else self.net.input_shape
                transpose_b = second[2] == layer.in_shape[2] and second[0] == layer.out_shape[2] \
                    and not (second[0] == layer.in_shape[2] and second[2] == layer.out_shape[2])
                y = b.matmul(xs[0], xs[1], transpose_b=transpose_b, name=layer.name)
            else:   # a new operator without a replay rule: fail loudly rather than drop it
                raise WorkloadError(f"network {self.net.name}: layer {layer.name!r}: operator {layer.op!r} "
                                    "cannot be rebuilt by the transforms")
        self.tensor[layer.name] = self._done(y, layer)
        return y

    def _reshape_target(self, layer: Layer, new_in: tuple) -> tuple:
        if new_in == layer.in_shape:
            return layer.out_shape
        if layer.out_shape[:2] == (1, 1):                       # a flatten
            return (1, 1, new_in[0] * new_in[1] * new_in[2])
        if layer.out_shape[2] == layer.in_shape[2]:              # spatial regrouping, channels kept
            return (layer.out_shape[0], layer.out_shape[1], new_in[2])
        raise WorkloadError(f"network {self.net.name}: layer {layer.name!r}: cannot re-infer the reshape "
                            f"{layer.in_shape} -> {layer.out_shape} once its input is {new_in}")

    def build(self) -> Network:
        layers = tuple(l if (l.weight_precision, l.act_precision) == self.formats[l.name]
                       else dataclasses.replace(l, weight_precision=self.formats[l.name][0],
                                                act_precision=self.formats[l.name][1])
                       for l in self.b.layers)
        return Network(self.net.name, self.net.input_shape, layers, self.net.input_precision)


def _rewrite(net: Network, replace: dict, out_channels=None) -> Network:
    """``net`` rebuilt: each block in ``replace`` (Block -> emit(rebuild, block, new input) -> new output)
    is emitted by its function, every other layer replayed (with ``out_channels(rebuild, layer)`` for a
    conv, if given)."""
    rb = _Rebuild(net)
    first = {blk.layers[0].name: blk for blk in replace}
    skip: set = set()
    for layer in net.layers:
        if layer.name in skip:
            continue
        blk = first.get(layer.name)
        if blk is not None:
            rb.tensor[blk.output] = replace[blk](rb, blk, rb.tensor[blk.input])
            skip.update(l.name for l in blk.layers)
            continue
        rb.replay(layer, out_channels(rb, layer) if out_channels and layer.op in CONV_OPS else None)
    return rb.build()


# ------------------------------------------------------------------------------------ block emitters
def _emit_ibn(rb: _Rebuild, *, x: str, block: str, mid: int, out: int, spatial: Layer,
              stride, padding, expand_like: Layer, dw_like: Layer, project: Layer, add: "Layer | None",
              expand_name: str, dw_name: str, project_name: str, add_name: str, residual: bool) -> str:
    """1x1 expand (when ``mid`` differs from the input's channels) -> kxk depthwise -> 1x1 project [-> add]."""
    y = x
    if mid != rb.b.shape(x)[2]:
        y = rb.conv(y, mid, expand_like, name=expand_name, block=block, kernel=(1, 1), stride=(1, 1),
                    padding=(0, 0), dilation=(1, 1))
    y = rb.conv(y, mid, dw_like, name=dw_name, block=block, kernel=spatial.kernel, stride=stride, padding=padding,
                groups=mid, dilation=spatial.dilation)
    return _emit_tail(rb, x, y, out, project, add, block, project_name, add_name, residual)


def _emit_fused(rb: _Rebuild, *, x: str, block: str, mid: int, out: int, spatial: Layer, stride, padding,
                expand_like: Layer, project: Layer, add: "Layer | None", expand_name: str, project_name: str,
                add_name: str, residual: bool) -> str:
    """kxk full conv expand -> 1x1 project [-> add]."""
    y = rb.conv(x, mid, expand_like, name=expand_name, block=block, kernel=spatial.kernel, stride=stride,
                padding=padding, dilation=spatial.dilation)
    return _emit_tail(rb, x, y, out, project, add, block, project_name, add_name, residual)


def _emit_tail(rb, x, y, out, project, add, block, project_name, add_name, residual) -> str:
    y = rb.conv(y, out, project, name=project_name, block=block)
    if residual:
        y = rb.add((x, y) if add is None or add.inputs[0] != project.name else (y, x), add or project,
                   name=add_name, block=block)
    return y


def _fused_from_ibn(rb: _Rebuild, blk: Block, x: str) -> str:
    like = blk.expand or blk.depthwise     # weights and bias of the expansion, activation of the depthwise
    like = dataclasses.replace(like, activation=blk.depthwise.activation)
    return _emit_fused(rb, x=x, block=blk.id, mid=blk.mid_channels, out=blk.out_channels, spatial=blk.depthwise,
                       stride=blk.depthwise.stride, padding=blk.depthwise.padding, expand_like=like,
                       project=blk.project, add=blk.add,
                       expand_name=blk.expand.name if blk.expand else f"{blk.prefix}.expand",
                       project_name=blk.project.name, add_name=blk.add.name if blk.add else "",
                       residual=blk.add is not None)


def _ibn_from_fused(rb: _Rebuild, blk: Block, x: str) -> str:
    return _emit_ibn(rb, x=x, block=blk.id, mid=blk.mid_channels, out=blk.out_channels,
                     spatial=blk.expand, stride=blk.expand.stride, padding=blk.expand.padding,
                     expand_like=blk.expand, dw_like=blk.expand, project=blk.project, add=blk.add,
                     expand_name=blk.expand.name, dw_name=f"{blk.prefix}.dw", project_name=blk.project.name,
                     add_name=blk.add.name if blk.add else "", residual=blk.add is not None)


# ------------------------------------------------------------------------------------ transforms
def fuse_ibn(net: Network, stages=None) -> Network:
    """``net`` with every inverted-bottleneck block of ``stages`` (stage names such as "s2"; None: every
    stage) replaced by a fused one: the 1x1 expand and kxk depthwise become one kxk full conv to the
    same expanded width, with the depthwise conv's kernel, stride, padding, dilation and activation; the
    projection and residual add stay. Fused blocks are left as they are."""
    blocks = _blocks_or_fail("fuse_ibn", net)
    chosen = _select_stages("fuse_ibn", net, blocks, stages)
    return _rewrite(net, {b: _fused_from_ibn for b in blocks if b.kind == "ibn" and b.stage in chosen})


def unfuse(net: Network, stages=None) -> Network:
    """The inverse of :func:`fuse_ibn`: every fused block of ``stages`` (None: every stage) becomes an
    inverted bottleneck with the same kernel and expansion (1x1 expand, kxk depthwise with the fused
    conv's stride, padding, dilation and activation; no expand when the expansion is 1, as
    ``NetworkBuilder.ibn``). ``unfuse(fuse_ibn(net))`` gives back ``net``'s layers."""
    blocks = _blocks_or_fail("unfuse", net)
    chosen = _select_stages("unfuse", net, blocks, stages)
    return _rewrite(net, {b: _ibn_from_fused for b in blocks if b.kind == "fused_ibn" and b.stage in chosen})


def replace_depthwise_with_dense(net: Network, layers=None) -> Network:
    """``net`` with depthwise convs (``layers``: their names; None: all of them) replaced by standard
    convs (groups 1) with the same kernel, stride, padding, dilation, channels and activation. Works on
    any network; MACs and weights of each replaced layer grow by its channel count."""
    fn = "replace_depthwise_with_dense"
    names = _names(fn, "layers", layers)
    if names is None:
        names = {l.name for l in net.layers if l.is_depthwise}
    for n in names:
        try:
            layer = net.layer(n)
        except KeyError:
            raise WorkloadError(f"{fn}: layers: no layer {quote(n)} in network {net.name}; expected names of "
                                "depthwise conv layers") from None
        if not layer.is_depthwise:
            raise WorkloadError(f"{fn}: layers: layer {quote(n)} of network {net.name} is not a depthwise conv "
                                f"(op {layer.op}, groups {layer.groups}); expected names of depthwise conv layers")
    names = set(names)
    rb = _Rebuild(net)
    for layer in net.layers:
        if layer.name in names:
            x = rb.tensor[layer.inputs[0]]
            out = rb.b.shape(x)[2] * (layer.out_channels // layer.in_channels)
            rb.tensor[layer.name] = rb.conv(x, out, layer, name=layer.name, block=layer.block)
        else:
            rb.replay(layer)
    return rb.build()


def _channel_groups(net: Network):
    """Union-find over tensors whose channel counts must stay equal: operands and result of each add
    or mul, and input and output of every layer that keeps channels (pool, activation, upsample,
    depthwise conv). Returns ``find``."""
    parent: dict = {}

    def find(t):
        parent.setdefault(t, t)
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    def union(a, b):
        parent[find(a)] = find(b)

    for layer in net.layers:
        follows = layer.op in ("pool", "act", "upsample", "add") or (
            layer.op in CONV_OPS and layer.groups > 1 and layer.groups == layer.in_channels == layer.out_channels)
        if follows:
            for src in layer.inputs:
                union(layer.name, src)
    return find


def _width_rule(net: Network, keep_stages: set, count, expanded):
    """``out_channels(rebuild, layer)`` for :func:`_rewrite`: a conv's new output channels.

    Channels that must stay equal (a residual group, see :func:`_channel_groups`) are all set from the
    same original count, so they stay equal. A group holding the network input, a network output (a
    classifier's logits) or a conv of ``keep_stages`` keeps its channels. The expand conv of an IBN or
    fused block always follows the block's new input: ``expanded(new input channels, expansion)``."""
    find = _channel_groups(net)
    consumers = _consumers(net)
    expands = {b.expand.name: b for b in find_blocks(net) if b.expand is not None}
    pinned = {find(INPUT)}
    pinned.update(find(l.name) for l in net.layers if l.name not in consumers)
    pinned.update(find(l.name) for l in net.layers
                  if l.stage in keep_stages and l.op in CONV_OPS and l.name not in expands)

    def out_channels(rb: _Rebuild, layer: Layer) -> int:
        if find(layer.name) in pinned:
            return layer.out_channels
        blk = expands.get(layer.name)
        if blk is not None:
            return expanded(rb.shape(blk.input)[2], blk.expansion)
        return count(layer.out_channels)

    return out_channels


def round_channels(net: Network, multiple: int, mode: str = "nearest") -> Network:
    """``net`` with every conv and linear output channel count rounded to a multiple of ``multiple``
    (``mode``: "nearest" (half up), "up" or "down"; never below ``multiple``); the layers reading them
    follow. Both operands of every residual add come from the same original count and are rounded
    alike. Untouched: the network's outputs (a classifier's logits) and anything tied to the network
    input by a residual add. In an IBN or fused block the expanded width is rounded from the block's
    new input times its expansion ratio."""
    fn = "round_channels"
    multiple, mode = check_multiple(fn, multiple), check_mode(fn, mode)
    rule = _width_rule(net, set(), lambda c: round_to_multiple(c, multiple, mode),
                       lambda c_in, t: round_to_multiple(c_in * t, multiple, mode))
    return _rewrite(net, {}, rule)


def scale_width(net: Network, multiplier: float, multiple: int = 8, keep=()) -> Network:
    """``net`` with every conv and linear output channel count times ``multiplier``, rounded as
    TF-slim / MobileNet's ``_make_divisible`` (to the nearest multiple of ``multiple``, not below
    ``multiple`` nor below 90 % of the scaled count). This is what TF-slim calls the "depth multiplier"
    (a channel multiplier); a genome's ``depth_multiplier`` here means block count (see
    :func:`scale_depth`).

    As TF-slim's ``expand_input_by_factor``, the expanded width of an IBN or fused block is its new
    input times the block's expansion ratio (rounded alike), not the old expanded width scaled. The
    network's outputs (a classifier's logits) keep their channels, and so do the convs of the stages
    named in ``keep`` (but for expand convs, which follow their block's input). MobileNetV2 keeps its
    last conv at 1280 below width 1, so ``scale_width(mobilenet_v2(), 0.5, keep=["head"])`` is
    ``mobilenet_v2(width=0.5)``."""
    fn = "scale_width"
    multiplier, multiple = check_multiplier(fn, multiplier), check_multiple(fn, multiple)
    keep = _names(fn, "keep", keep) or ()
    known = list(dict.fromkeys(l.stage for l in net.layers if l.stage))
    for n in keep:
        if n not in known:
            raise WorkloadError(f"{fn}: keep: unknown stage {quote(n)} in network {net.name}; expected some of "
                                f"{', '.join(known) or '(none)'}")
    rule = _width_rule(net, set(keep), lambda c: make_divisible(c * multiplier, multiple),
                       lambda c_in, t: make_divisible(c_in * t, multiple))
    return _rewrite(net, {}, rule)


def _stage_chains(net: Network, blocks) -> dict:
    """Stage -> its blocks, for every stage that is nothing but a chain of blocks (each block reads the
    one before, and only the stage's last block is read from outside the stage)."""
    by_stage: dict = {}
    for blk in blocks:
        by_stage.setdefault(blk.stage, []).append(blk)
    in_blocks = {l.name for blk in blocks for l in blk.layers}
    consumers = _consumers(net)
    chains = {}
    for stage, members in by_stage.items():
        layers = [l for l in net.layers if l.stage == stage]
        if any(l.name not in in_blocks for l in layers):
            continue
        if any(b.input != a.output for a, b in zip(members, members[1:])):
            continue
        inside = {l.name for blk in members for l in blk.layers}
        if any(set(consumers.get(blk.output, ())) - inside for blk in members[:-1]):
            continue
        chains[stage] = members
    return chains


def _repeat(rb: _Rebuild, last: Block, x: str, block_id: str) -> str:
    """A copy of ``last`` reading ``x``: stride 1, its output channels in and out, with a residual add,
    'same' padding and the expanded width ``round(channels * expansion)`` (as ``NetworkBuilder.ibn``)."""
    c = last.out_channels
    mid = int(round(c * last.expansion))
    common = dict(x=x, block=block_id, mid=mid, out=c, spatial=last.spatial, stride=(1, 1), padding=None,
                  project=last.project, add=last.add, project_name=f"{block_id}.project",
                  add_name=f"{block_id}.add", residual=True)
    if last.kind == "ibn":
        return _emit_ibn(rb, expand_like=last.expand or last.depthwise, dw_like=last.depthwise,
                         expand_name=f"{block_id}.expand", dw_name=f"{block_id}.dw", **common)
    return _emit_fused(rb, expand_like=last.expand, expand_name=f"{block_id}.expand", **common)


def scale_depth(net: Network, multiplier: float, stages=None) -> Network:
    """``net`` with the number of blocks of each stage (``stages``; None: every stage that is a chain of
    IBN or fused blocks) times ``multiplier``, rounded half up, at least 1 (the rule of a genome's
    ``depth_multiplier``). A deeper stage repeats its last block after it: stride 1, the stage's output
    channels in and out, a residual add, same kernel, expansion, activation and formats, named
    "<stage>.b<index>"; a shallower one keeps its first blocks."""
    fn = "scale_depth"
    multiplier = check_multiplier(fn, multiplier)
    blocks = _blocks_or_fail(fn, net)
    chains = _stage_chains(net, blocks)
    if not chains:
        raise WorkloadError(f"{fn}: network {net.name} has no stage made only of a chain of {_STRUCTURE}")
    chosen = _select_stages(fn, net, blocks, stages, known=list(chains))
    used = {l.block for l in net.layers} | {l.name for l in net.layers}
    replace: dict = {}
    for stage in chosen:
        members = chains[stage]
        n, target = len(members), scaled_depth(len(members), multiplier)
        if target == n:
            continue
        kept = members[:target]
        for blk in members[target:]:      # dropped: their output is the last kept block's
            replace[blk] = lambda rb, blk, x, end=kept[-1].output: rb.tensor[end]
        if target > n:
            new_ids, i = [], n
            while len(new_ids) < target - n:
                bid = f"{stage}.b{i}"
                if bid not in used and not any(f"{bid}.{s}" in used for s in ("expand", "dw", "project", "add")):
                    new_ids.append(bid)
                i += 1
            replace[members[-1]] = _then_repeat(members[-1], new_ids)
    return _rewrite(net, replace)


def _then_repeat(last: Block, new_ids: list):
    def emit(rb: _Rebuild, blk: Block, x: str) -> str:
        for layer in blk.layers:
            rb.replay(layer)
        y = rb.tensor[blk.output]
        for bid in new_ids:
            y = _repeat(rb, last, y, bid)
        return y
    return emit
