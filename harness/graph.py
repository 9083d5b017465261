"""A code-free copy of a submission's model, for the clean recount.

Whatever runs next to a submission's code can be forged by it, its own report
included. So the worker also exports the model with `torch.export` and writes the
graph in a plain format of our own: JSON nodes whose targets can only be aten ops
(or `operator.getitem`), and a weights file read with `weights_only=True` (never
`torch.export.load`, which unpickles). A second worker, in which no submission
code ever runs, rebuilds a model from it: every call of a counted layer becomes a
fresh instance of that exact `torch.nn` class, made by our code from the op's
arguments and weights; every other op stays a plain graph op. That model is then
counted by ptflops, traced by the verifier and used for the scored predictions,
exactly like the original: what is scored is what was counted, whatever the
submission wrote into its export.

Example:
    >>> export_model(model, example_batch, Path("/tmp/out"))           # untrusted worker
    >>> rebuilt = rebuild_model(Path("/tmp/out"))                       # clean worker
    >>> count_complexity(rebuilt, image, "2021").macs == count_complexity(model, image, "2021").macs
    True
"""
from __future__ import annotations

import json
import operator
from pathlib import Path

import torch
from torch import fx, nn

from harness.errors import SubmissionError

GRAPH_FILE, WEIGHTS_FILE = "graph.json", "graph-weights.pt"
FORMAT = 1


class UnsupportedGraph(SubmissionError):
    """The model uses a counted layer the rebuild does not know, or cannot be exported."""


# ------------------------------------------------------------------ export (untrusted side)

def _encode(value):
    if isinstance(value, fx.Node):
        return {"$node": value.name}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.dtype):
        return {"$dtype": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"$device": str(value)}
    if isinstance(value, torch.memory_format):
        return {"$memory_format": str(value).removeprefix("torch.")}
    if isinstance(value, torch.layout):
        return {"$layout": str(value).removeprefix("torch.")}
    raise UnsupportedGraph(f"cannot export an argument of type {type(value).__name__} for the clean recount")


def export_model(model: nn.Module, example: torch.Tensor, outdir: Path) -> None:
    """Export `model` (batch dimension dynamic) into GRAPH_FILE and WEIGHTS_FILE."""
    from torch.export import Dim, export
    from torch.export.graph_signature import InputKind

    try:
        program = export(model, (example,), dynamic_shapes=({0: Dim("batch", min=1, max=1 << 16)},), strict=False)
    except Exception as e:  # export fails on data-dependent Python control flow, numpy, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UnsupportedGraph(f"torch.export could not capture the model as a graph ({type(e).__name__}: {first[:200]})") from None
    tensors, inputs = {}, {}
    state = {**program.state_dict, **program.constants}
    for spec in program.graph_signature.input_specs:
        if spec.kind == InputKind.USER_INPUT:
            inputs[spec.arg.name] = {"kind": "input"}
        elif spec.kind in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
            value = state[spec.target]
            tensors[spec.arg.name] = value.detach().clone() if isinstance(value, torch.Tensor) else value
            inputs[spec.arg.name] = {"kind": "tensor", "target": spec.target}
        else:
            raise UnsupportedGraph(f"the exported graph has an input of kind {spec.kind.name}")
    nodes = []
    for node in program.graph.nodes:
        stack = [list(v) for v in node.meta.get("nn_module_stack", {}).values()]
        entry = {"name": node.name, "op": node.op, "stack": stack}
        if node.op == "placeholder":
            entry.update(inputs[node.name])
        elif node.op == "call_function":
            entry["target"] = "operator.getitem" if node.target is operator.getitem else str(node.target)
            entry["args"] = _encode(node.args)
            entry["kwargs"] = {k: _encode(v) for k, v in node.kwargs.items()}
        elif node.op == "output":
            entry["args"] = _encode(node.args)
        else:
            raise UnsupportedGraph(f"unexpected node {node.op} in the exported graph")
        nodes.append(entry)
    (Path(outdir) / GRAPH_FILE).write_text(json.dumps({"format": FORMAT, "nodes": nodes}))
    torch.save(tensors, Path(outdir) / WEIGHTS_FILE)


# ------------------------------------------------------------------ rebuild (clean side)

def _target(name: str):
    """Resolve an op name; only aten ops and operator.getitem exist for the rebuild."""
    if name == "operator.getitem":
        return operator.getitem
    parts = name.split(".")
    if len(parts) != 3 or parts[0] != "aten":
        raise UnsupportedGraph(f"the exported graph calls {name!r}, which is not an aten op")
    try:
        op = getattr(getattr(torch.ops.aten, parts[1]), parts[2])
    except AttributeError:
        raise UnsupportedGraph(f"the exported graph calls an unknown op {name!r}") from None
    if not isinstance(op, torch._ops.OpOverload):
        raise UnsupportedGraph(f"{name!r} is not an aten op overload")
    return op


def _decode(value, env: dict):
    if isinstance(value, list):
        return [_decode(v, env) for v in value]
    if isinstance(value, dict):
        (tag, text), = value.items()
        if tag == "$node":
            return env[text]
        if tag in ("$dtype", "$memory_format", "$layout"):
            found = getattr(torch, text, None)
            if not isinstance(found, (torch.dtype, torch.memory_format, torch.layout)):
                raise UnsupportedGraph(f"unknown {tag[1:]} {text!r} in the exported graph")
            return found
        if tag == "$device":
            return torch.device(text)
        raise UnsupportedGraph(f"unknown tag {tag!r} in the exported graph")
    return value


def _pair(v, n=2):
    return tuple(v) if isinstance(v, (list, tuple)) else (v,) * n


def _conv(cls, dims):
    def make(args, kwargs, tensor):
        x, weight, bias, stride, padding, dilation, groups = (list(args) + [None, 1, 0, 1, 1][len(args) - 2:])[:7]
        groups = int(groups)
        module = cls(weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]), stride=_pair(stride, dims),
                     padding=padding if isinstance(padding, str) else _pair(padding, dims), dilation=_pair(dilation, dims),
                     groups=groups, bias=bias is not None)
        module.weight = nn.Parameter(weight)
        if bias is not None:
            module.bias = nn.Parameter(bias)
        return module
    return make


def _linear(args, kwargs, tensor):
    weight, bias = args[1], args[2] if len(args) > 2 else None
    module = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    module.weight = nn.Parameter(weight)
    if bias is not None:
        module.bias = nn.Parameter(bias)
    return module


def _batch_norm(cls):
    def make(args, kwargs, tensor):
        _x, weight, bias, mean, var, _training, momentum, eps = args[:8]
        if mean is None or var is None:
            raise UnsupportedGraph("a BatchNorm layer without running statistics cannot be rebuilt")
        module = cls(mean.shape[0], eps=eps, momentum=momentum, affine=weight is not None)
        if weight is not None:
            module.weight, module.bias = nn.Parameter(weight), nn.Parameter(bias)
        module.running_mean, module.running_var = mean, var
        return module.eval()
    return make


def _pool(cls, names):
    def make(args, kwargs, tensor):
        values = dict(zip(names, args[1:]))
        values.update(kwargs)
        if "stride" in values and values["stride"] in ([], None):
            values.pop("stride")
        return cls(**values)
    return make


def _activation(cls, names=()):
    def make(args, kwargs, tensor):
        values = dict(zip(names, args[1:]))
        values.update(kwargs)
        return cls(**values)
    return make


def _hardtanh(args, kwargs, tensor):
    low, high = (list(args[1:]) + [-1.0, 1.0][len(args) - 1:])[:2]
    if (low, high) != (0.0, 6.0):
        raise UnsupportedGraph("a ReLU6 layer whose hardtanh is not (0, 6)")
    return nn.ReLU6()


def _prelu(args, kwargs, tensor):
    module = nn.PReLU(args[1].numel())
    module.weight = nn.Parameter(args[1])
    return module


def _layer_norm(args, kwargs, tensor):
    _x, shape, weight, bias, eps = (list(args) + [None, None, 1e-5][len(args) - 2:])[:5]
    module = nn.LayerNorm(tuple(shape), eps=eps, elementwise_affine=weight is not None, bias=bias is not None)
    if weight is not None:
        module.weight = nn.Parameter(weight)
    if bias is not None:
        module.bias = nn.Parameter(bias)
    return module


def _group_norm(args, kwargs, tensor):
    _x, groups, weight, bias, eps = (list(args) + [None, None, 1e-5][len(args) - 2:])[:5]
    module = nn.GroupNorm(groups, tensor.shape[1], eps=eps, affine=weight is not None)
    if weight is not None:
        module.weight, module.bias = nn.Parameter(weight), nn.Parameter(bias)
    return module


def _conv_transpose(cls, dims):
    def make(args, kwargs, tensor):
        x, weight, bias, stride, padding, output_padding, groups, dilation = (list(args) + [None, 1, 0, 0, 1, 1][len(args) - 2:])[:8]
        groups = int(groups)
        module = cls(weight.shape[0], weight.shape[1] * groups, tuple(weight.shape[2:]), stride=_pair(stride, dims),
                     padding=_pair(padding, dims), output_padding=_pair(output_padding, dims), groups=groups,
                     bias=bias is not None, dilation=_pair(dilation, dims))
        module.weight = nn.Parameter(weight)
        if bias is not None:
            module.bias = nn.Parameter(bias)
        return module
    return make


def _upsample(mode):
    def make(args, kwargs, tensor):
        if mode == "nearest":
            _x, size, scales = (list(args) + [None, None][len(args) - 1:])[:3]
            align = None
        else:
            _x, size, align, scales = (list(args) + [None, False, None][len(args) - 1:])[:4]
        if (size is None) == (scales is None):
            raise UnsupportedGraph("an Upsample layer needs exactly one of size and scale factor")
        return nn.Upsample(size=tuple(size) if size is not None else None,
                           scale_factor=tuple(float(v) for v in scales) if scales is not None else None,
                           mode=mode, align_corners=align)
    return make


def _instance_norm(cls):
    def make(args, kwargs, tensor):
        _x, weight, bias, mean, var, use_input_stats, momentum, eps = args[:8]
        if not use_input_stats or mean is not None:
            raise UnsupportedGraph("an InstanceNorm layer with running statistics cannot be rebuilt")
        if weight is None:
            raise UnsupportedGraph("an InstanceNorm layer without affine weights cannot be rebuilt (its channel count is unknown)")
        module = cls(weight.shape[0], eps=eps, momentum=momentum, affine=True)
        module.weight, module.bias = nn.Parameter(weight), nn.Parameter(bias)
        return module
    return make


P = "torch.nn.modules."
REBUILDERS = {  # (layer class path, op name) -> how to make the layer from the op's arguments
    (P + "conv.Conv1d", "aten.conv1d.default"): _conv(nn.Conv1d, 1),
    (P + "conv.Conv2d", "aten.conv2d.default"): _conv(nn.Conv2d, 2),
    (P + "conv.Conv2d", "aten.conv2d.padding"): _conv(nn.Conv2d, 2),
    (P + "conv.Conv3d", "aten.conv3d.default"): _conv(nn.Conv3d, 3),
    (P + "linear.Linear", "aten.linear.default"): _linear,
    (P + "batchnorm.BatchNorm1d", "aten.batch_norm.default"): _batch_norm(nn.BatchNorm1d),
    (P + "batchnorm.BatchNorm2d", "aten.batch_norm.default"): _batch_norm(nn.BatchNorm2d),
    (P + "batchnorm.BatchNorm3d", "aten.batch_norm.default"): _batch_norm(nn.BatchNorm3d),
    (P + "activation.ReLU", "aten.relu.default"): _activation(nn.ReLU),
    (P + "activation.ReLU", "aten.relu_.default"): _activation(nn.ReLU),
    (P + "activation.ReLU6", "aten.hardtanh.default"): _hardtanh,
    (P + "activation.ReLU6", "aten.hardtanh_.default"): _hardtanh,
    (P + "activation.LeakyReLU", "aten.leaky_relu.default"): _activation(nn.LeakyReLU, ("negative_slope",)),
    (P + "activation.LeakyReLU", "aten.leaky_relu_.default"): _activation(nn.LeakyReLU, ("negative_slope",)),
    (P + "activation.ELU", "aten.elu.default"): _activation(nn.ELU, ("alpha",)),
    (P + "activation.ELU", "aten.elu_.default"): _activation(nn.ELU, ("alpha",)),
    (P + "activation.GELU", "aten.gelu.default"): _activation(nn.GELU),
    (P + "activation.PReLU", "aten.prelu.default"): _prelu,
    (P + "pooling.MaxPool1d", "aten.max_pool1d.default"): _pool(nn.MaxPool1d, ("kernel_size", "stride", "padding", "dilation", "ceil_mode")),
    (P + "pooling.MaxPool2d", "aten.max_pool2d.default"): _pool(nn.MaxPool2d, ("kernel_size", "stride", "padding", "dilation", "ceil_mode")),
    (P + "pooling.AvgPool1d", "aten.avg_pool1d.default"): _pool(nn.AvgPool1d, ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")),
    (P + "pooling.AvgPool2d", "aten.avg_pool2d.default"): _pool(nn.AvgPool2d, ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")),
    (P + "pooling.AdaptiveAvgPool1d", "aten.adaptive_avg_pool1d.default"): _pool(nn.AdaptiveAvgPool1d, ("output_size",)),
    (P + "pooling.AdaptiveAvgPool2d", "aten.adaptive_avg_pool2d.default"): _pool(nn.AdaptiveAvgPool2d, ("output_size",)),
    (P + "conv.ConvTranspose1d", "aten.conv_transpose1d.default"): _conv_transpose(nn.ConvTranspose1d, 1),
    (P + "conv.ConvTranspose2d", "aten.conv_transpose2d.input"): _conv_transpose(nn.ConvTranspose2d, 2),
    (P + "conv.ConvTranspose3d", "aten.conv_transpose3d.input"): _conv_transpose(nn.ConvTranspose3d, 3),
    (P + "upsampling.Upsample", "aten.upsample_nearest2d.vec"): _upsample("nearest"),
    (P + "upsampling.Upsample", "aten.upsample_bilinear2d.vec"): _upsample("bilinear"),
    (P + "instancenorm.InstanceNorm1d", "aten.instance_norm.default"): _instance_norm(nn.InstanceNorm1d),
    (P + "instancenorm.InstanceNorm2d", "aten.instance_norm.default"): _instance_norm(nn.InstanceNorm2d),
    (P + "normalization.LayerNorm", "aten.layer_norm.default"): _layer_norm,
    (P + "normalization.GroupNorm", "aten.group_norm.default"): _group_norm,
}


def _counted_paths() -> set[str]:
    """Class paths of every layer type ptflops counts (as nn_module_stack names them)."""
    from harness.complexity import counted_types

    return {f"{t.__module__}.{t.__qualname__}" for t in counted_types()} | {layer for layer, _op in REBUILDERS}


class RebuiltModel(nn.Module):
    """Holds the rebuilt layers (`layers.m0`, `layers.m1`, ...; `rebuild_model` maps them to their original paths)."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleDict()


def rebuild_model(outdir: Path) -> tuple[nn.Module, dict[str, str]]:
    """Rebuild a runnable model from an export; returns (model, rebuilt name -> original path).

    Raises UnsupportedGraph when a counted layer type cannot be rebuilt (the parent then
    keeps the worker's own count and says so).
    """
    try:
        doc = json.loads((Path(outdir) / GRAPH_FILE).read_text())
        tensors = torch.load(Path(outdir) / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    except Exception as e:  # weights_only refuses anything but plain tensors: an UnpicklingError, among others
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UnsupportedGraph(f"the exported graph could not be read: {first[:200]}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(tensors, dict):
        raise UnsupportedGraph("the exported graph is not in the expected format")
    root = RebuiltModel()
    graph = fx.Graph()
    values: dict[str, torch.Tensor] = {}  # the weights and constants, by graph input name
    env = _Constants(root, graph, values)
    names: dict[str, str] = {}
    by_call: dict[tuple, str] = {}
    counted = _counted_paths()
    for index, entry in enumerate(doc["nodes"]):
        op, name = entry["op"], entry["name"]
        if op == "placeholder" and entry.get("kind") == "input":
            env[name] = graph.placeholder("x")
        elif op == "placeholder":
            value = tensors.get(name)
            if not isinstance(value, torch.Tensor):
                raise UnsupportedGraph(f"no tensor for graph input {name!r}")
            values[name] = value  # a rebuilt layer takes it, or a graph op reads it (see _Constants)
        elif op == "call_function":
            target = _target(entry["target"])
            stack = entry.get("stack") or []
            layer_path, layer_type = (stack[-1] if stack else ("", ""))
            key = (layer_type, entry["target"])
            if key in REBUILDERS:  # only the input is a graph value; the weights go into the layer
                args, kwargs = [_decode(entry["args"][0], env)], {}
            else:
                args, kwargs = _decode(entry["args"], env), {k: _decode(v, env) for k, v in entry["kwargs"].items()}
            if layer_type in counted and key not in REBUILDERS:
                raise UnsupportedGraph(f"{layer_path} ({layer_type.rsplit('.', 1)[-1]}) uses {entry['target']}, which the clean recount does not rebuild")
            if key in REBUILDERS and args and isinstance(args[0], fx.Node):
                real_args = [values[a.name] if isinstance(a, _Ref) and a.name in values else a
                             for a in _decode(entry["args"], _Refs())]
                if any(isinstance(a, _Ref) for a in real_args[1:]):
                    raise UnsupportedGraph(f"{layer_path}: a layer whose weights are computed inside the graph cannot be rebuilt")
                call = (layer_path, layer_type)
                module_name = by_call.get(call)
                if module_name is None:
                    module_name = f"m{len(by_call)}"
                    module = REBUILDERS[key](real_args, {k: _decode(v, _Refs()) for k, v in entry["kwargs"].items()},
                                             _channels_hint(real_args))
                    root.layers[module_name] = module
                    by_call[call] = module_name
                    names[module_name] = layer_path
                env[name] = graph.call_module(f"layers.{module_name}", (args[0],))
            else:
                env[name] = graph.call_function(target, tuple(args), kwargs)
        elif op == "output":
            (result,) = _decode(entry["args"], env)
            graph.output(result[0] if isinstance(result, list) and len(result) == 1 else result)
        else:
            raise UnsupportedGraph(f"unexpected node kind {op!r} in the exported graph")
    return fx.GraphModule(root, graph, class_name="RebuiltModel").eval(), names


class _Constants(dict):
    """Graph values by name; a weight is attached to the root only when a graph op reads it."""

    def __init__(self, root: nn.Module, graph: fx.Graph, values: dict):
        super().__init__()
        self.root, self.graph, self.values = root, graph, values

    def __missing__(self, name: str):
        if name not in self.values:
            raise UnsupportedGraph(f"the exported graph uses {name!r} before defining it")
        attr = f"c_{len(self)}"
        self.root.register_buffer(attr, self.values[name], persistent=False)
        self[name] = node = self.graph.get_attr(attr)
        return node


class _Ref:
    def __init__(self, name: str):
        self.name = name


class _Refs(dict):
    """Decode a node reference as a marker, to read a layer's arguments without the graph."""

    def __missing__(self, name: str):
        return _Ref(name)


def _channels_hint(args: list) -> torch.Tensor:
    """Group norm needs the channel count: the weight's, when there is one."""
    weight = next((a for a in args[1:] if isinstance(a, torch.Tensor)), None)
    return weight.new_empty((1, weight.shape[0])) if weight is not None else torch.empty(1, 1)
