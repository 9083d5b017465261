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

Usage:
    export_model(model, example_batch, Path("/tmp/out"))           # untrusted worker
    rebuilt = rebuild_model(Path("/tmp/out"))                       # clean worker
    count_complexity(rebuilt, image, "2021").macs == count_complexity(model, image, "2021").macs
    # -> True
"""
from __future__ import annotations

import json
import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import fx, nn

from harness.errors import UnsupportedGraph
from harness.op_costs import graph_op_refusal
from harness.protocol import one_line
from harness.layers import P, REBUILDERS, channels_hint, conv_padding, with_padding_mode

GRAPH_FILE, WEIGHTS_FILE = "graph.json", "graph-weights.pt"
FORMAT = 1


# ------------------------------------------------------------------ export (untrusted side)

SYMBOLIC = {f"operator.{name}": getattr(operator, name) for name in ("getitem", "add", "sub", "mul", "floordiv", "mod", "neg")}
"""Python functions an exported graph may call besides aten ops: indexing and arithmetic on sizes."""


def _target_name(target) -> str:
    name = f"operator.{getattr(target, '__name__', '')}"
    return name if SYMBOLIC.get(name) is target else str(target)


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
        raise UnsupportedGraph(f"torch.export could not capture the model as a graph ({type(e).__name__}: {one_line(e, 200) or type(e).__name__})") from None
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
            entry["target"] = _target_name(node.target)
            entry["args"] = _encode(node.args)
            entry["kwargs"] = {k: _encode(v) for k, v in node.kwargs.items()}
            channels = _channels_of(node.args[0] if node.args else None)
            if channels:
                entry["channels"] = channels  # a layer without weights (GroupNorm, affine=False) needs it
        elif node.op == "output":
            entry["args"] = _encode(node.args)
        else:
            raise UnsupportedGraph(f"unexpected node {node.op} in the exported graph")
        nodes.append(entry)
    (Path(outdir) / GRAPH_FILE).write_text(json.dumps({"format": FORMAT, "nodes": nodes}))
    torch.save(tensors, Path(outdir) / WEIGHTS_FILE)


def _channels_of(arg) -> int | None:
    """The channel count (dim 1) of a node's first input, when export knows it as a number."""
    val = getattr(arg, "meta", {}).get("val") if isinstance(arg, torch.fx.Node) else None
    shape = getattr(val, "shape", None)
    return int(shape[1]) if shape is not None and len(shape) >= 2 and isinstance(shape[1], int) else None


# ------------------------------------------------------------------ rebuild (clean side)

def _target(name: str):
    """Resolve an op name; only aten ops and `SYMBOLIC` exist for the rebuild."""
    if name in SYMBOLIC:
        return SYMBOLIC[name]
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


WHOLE_LAYERS = {P + "activation.MultiheadAttention"}
"""Layers whose many ops are rebuilt together as one call of the layer (see `_attention`)."""

PLUMBING = {"aten.zeros.default", "aten.sym_size.int", *SYMBOLIC}
"""Ops a counted layer may run besides the one rebuilt: default states, sizes, tuple items."""


def rebuildable_types() -> set[str]:
    """Class paths of every layer type the rebuild makes."""
    return {layer for layer, _op in REBUILDERS} | WHOLE_LAYERS


def _counted_paths() -> set[str]:
    """Class paths of every layer type ptflops counts (as nn_module_stack names them)."""
    from harness.complexity import counted_types

    return {f"{t.__module__}.{t.__qualname__}" for t in counted_types()} | rebuildable_types()


class RebuiltModel(nn.Module):
    """Holds the rebuilt layers (`layers.m0`, `layers.m1`, ...; `rebuild_model` maps them to their original paths)."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleDict()


def _read(outdir: Path) -> tuple[list[dict], dict]:
    try:
        doc = json.loads((Path(outdir) / GRAPH_FILE).read_text())
        tensors = torch.load(Path(outdir) / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    except Exception as e:  # weights_only refuses anything but plain tensors: an UnpicklingError, among others
        raise UnsupportedGraph(f"the exported graph could not be read: {one_line(e, 200) or type(e).__name__}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(tensors, dict):
        raise UnsupportedGraph("the exported graph is not in the expected format")
    return doc["nodes"], tensors


def _layer_of(entry: dict) -> tuple[str, str]:
    stack = entry.get("stack") or []
    return tuple(stack[-1]) if stack else ("", "")


def _refs(value) -> list[str]:
    """Names of the graph values a (nested) encoded argument refers to, in order."""
    if isinstance(value, list):
        return [name for v in value for name in _refs(v)]
    if isinstance(value, dict) and "$node" in value:
        return [value["$node"]]
    return []


def rebuild_model(outdir: Path) -> tuple[nn.Module, dict[str, str]]:
    """Rebuild a runnable model from an export; returns (model, rebuilt name -> original path).

    Raises UnsupportedGraph when a counted layer type cannot be rebuilt; the submission
    is then refused (its own count is never used).
    """
    nodes, tensors = _read(outdir)
    root = RebuiltModel()
    graph = fx.Graph()
    values: dict[str, torch.Tensor] = {}  # the weights and constants, by graph input name
    targets: dict[str, str] = {}  # graph input name -> state-dict key
    env = _Constants(root, graph, values)
    state = _State(root, graph, env, values, {}, {})
    counted = _counted_paths()
    index = 0
    while index < len(nodes):
        entry = nodes[index]
        op, name = entry["op"], entry["name"]
        if op == "placeholder" and entry.get("kind") == "input":
            env[name] = graph.placeholder("x")
        elif op == "placeholder":
            value = tensors.get(name)
            if not isinstance(value, torch.Tensor):
                raise UnsupportedGraph(f"no tensor for graph input {name!r}")
            values[name] = value  # a rebuilt layer takes it, or a graph op reads it (see _Constants)
            targets[name] = str(entry.get("target", ""))
        elif op == "call_function" and _layer_of(entry)[1] in WHOLE_LAYERS:
            end = index
            while end + 1 < len(nodes) and _layer_of(nodes[end + 1]) == _layer_of(entry):
                end += 1
            _attention(nodes[index:end + 1], nodes[end + 1:], state, targets)
            index = end
        elif op == "call_function":
            _rebuild_op(entry, state, counted)
        elif op == "output":
            (result,) = _decode(entry["args"], env)
            graph.output(result[0] if isinstance(result, list) and len(result) == 1 else result)
        else:
            raise UnsupportedGraph(f"unexpected node kind {op!r} in the exported graph")
        index += 1
    return fx.GraphModule(root, graph, class_name="RebuiltModel").eval(), state.names


@dataclass
class _State:
    root: RebuiltModel
    graph: fx.Graph
    env: dict
    values: dict
    names: dict  # rebuilt module name -> original path
    by_call: dict  # (original path, class path) -> rebuilt module name
    pads: dict = None  # original path -> (padding_mode, pads) of a convolution's own aten.pad

    def layer(self, call: tuple[str, str], make: Callable) -> str:
        """The rebuilt module for one original layer (made once, shared by its calls)."""
        module_name = self.by_call.get(call)
        if module_name is None:
            module_name = self.by_call[call] = f"m{len(self.by_call)}"
            self.root.layers[module_name] = make()
            self.names[module_name] = call[0]
        return module_name


def _resolve(value, values: dict, where: str, allowed: bool):
    """A layer's argument with its weights filled in; a computed tensor is refused unless `allowed`."""
    if isinstance(value, list):
        return [_resolve(v, values, where, allowed) for v in value]
    if isinstance(value, _Ref):
        if value.name in values:
            return values[value.name]
        if not allowed:
            raise UnsupportedGraph(f"{where}: a layer whose weights are computed inside the graph cannot be rebuilt")
    return value


def _as_call_arg(value):
    return tuple(_as_call_arg(v) for v in value) if isinstance(value, list) else value


def _rebuild_op(entry: dict, state: _State, counted: set[str]) -> None:
    layer_path, layer_type = _layer_of(entry)
    key = (layer_type, entry["target"])
    spec = REBUILDERS.get(key)
    padding = conv_padding(layer_type, entry["args"]) if entry["target"] == "aten.pad.default" else None
    if padding is not None:  # padding_mode="reflect"/...: the rebuilt layer pads itself
        state.pads = {**(state.pads or {}), layer_path: padding}
        state.env[entry["name"]] = _decode(entry["args"][0], state.env)
        return
    if spec is None:
        if layer_type in counted and entry["target"] not in PLUMBING:
            raise UnsupportedGraph(f"{layer_path} ({layer_type.rsplit('.', 1)[-1]}) uses {entry['target']}, which the clean recount does not rebuild")
        target = _target(entry["target"])
        refusal = graph_op_refusal(target) if entry["target"] not in SYMBOLIC and layer_type not in counted else None
        if refusal == "writes in place" and _refs(entry["args"][:1])[:1] and not _is_graph_input(_refs(entry["args"][:1])[0], state):
            refusal = None  # a tensor the graph made itself may be updated in place (a residual `out += x`)
        if refusal:  # a fixed category, the node and the op: the closed language of the clean worker
            raise UnsupportedGraph(f"node {entry['name']}: op {entry['target']} is refused ({refusal})")
        args, kwargs = _decode(entry["args"], state.env), {k: _decode(v, state.env) for k, v in entry["kwargs"].items()}
        state.env[entry["name"]] = state.graph.call_function(target, tuple(args), kwargs)
        return
    raw = _decode(entry["args"], _Refs())
    real_args = [_resolve(a, state.values, layer_path, i in spec.inputs + spec.ignored) for i, a in enumerate(raw)]
    kwargs = {k: _decode(v, _Refs()) for k, v in entry["kwargs"].items()}
    module_name = state.layer((layer_path, layer_type), lambda: with_padding_mode(
        spec.make(real_args, kwargs, channels_hint(real_args, entry.get("channels"))), (state.pads or {}).get(layer_path)))
    call_args = tuple(_as_call_arg(_decode(entry["args"][i], state.env)) for i in spec.inputs if i < len(entry["args"]))
    call = state.graph.call_module(f"layers.{module_name}", call_args)
    state.env[entry["name"]] = spec.result(state.graph, call) if spec.result else call


ATTENTION_WEIGHTS = ("in_proj_weight", "in_proj_bias", "q_proj_weight", "k_proj_weight", "v_proj_weight",
                     "out_proj.weight", "out_proj.bias", "bias_k", "bias_v")


def _attention(group: list[dict], rest: list[dict], state: _State, targets: dict[str, str]) -> None:
    """Rebuild the ops of one nn.MultiheadAttention call as one call of a fresh layer."""
    layer_path, layer_type = _layer_of(group[0])
    where = f"{layer_path} (MultiheadAttention)"
    inside = {e["name"] for e in group}
    symbolic = {e["name"] for e in group if e.get("target") in PLUMBING}
    weights, inputs = {}, []
    for e in group:
        for ref in _refs(e.get("args", [])) + _refs(list(e.get("kwargs", {}).values())):
            if ref in inside:
                continue
            if ref in state.values:
                suffix = targets.get(ref, "").removeprefix(f"{layer_path}.")
                if suffix not in ATTENTION_WEIGHTS:
                    raise UnsupportedGraph(f"{where}: uses the tensor {targets.get(ref, ref)!r}, which a rebuilt layer cannot take (an attention mask?)")
                weights[suffix] = state.values[ref]
            elif ref not in inputs and not _is_size(ref, state):
                inputs.append(ref)
    if not inputs or len(inputs) > 3 or "out_proj.weight" not in weights:
        raise UnsupportedGraph(f"{where}: cannot be rebuilt from its exported ops ({len(inputs)} tensor inputs)")
    head_dim = next((e["args"][1][-1] for e in group if e.get("target") == "aten.view.default"
                     and len(e["args"][1]) == 3 and isinstance(e["args"][1][-1], int)), None)
    embed_dim = weights["out_proj.weight"].shape[0]
    if not head_dim or embed_dim % head_dim:
        raise UnsupportedGraph(f"{where}: its number of heads cannot be read from the exported ops")
    first = group[0]
    batch_first = first.get("target") == "aten.transpose.int" and first["args"][1:] == [1, 0]
    targets_used = {e.get("target") for e in group}
    need_weights = "aten.scaled_dot_product_attention.default" not in targets_used
    average = "aten.mean.dim" in targets_used

    def make() -> nn.Module:
        kdim = weights["k_proj_weight"].shape[1] if "k_proj_weight" in weights else None
        vdim = weights["v_proj_weight"].shape[1] if "v_proj_weight" in weights else None
        module = nn.MultiheadAttention(embed_dim, embed_dim // head_dim, bias="in_proj_bias" in weights,
                                       add_bias_kv="bias_k" in weights, batch_first=batch_first, kdim=kdim, vdim=vdim)
        for suffix, weight in weights.items():
            owner, attr = (module.out_proj, suffix.split(".")[1]) if suffix.startswith("out_proj.") else (module, suffix)
            setattr(owner, attr, nn.Parameter(weight))
        return module.eval()

    module_name = state.layer((layer_path, layer_type), make)
    for e in group:  # size arithmetic stays in the graph: later layers may reuse it
        if e["name"] in symbolic:
            args = _decode(e["args"], state.env)
            state.env[e["name"]] = state.graph.call_function(_target(e["target"]), tuple(args), {k: _decode(v, state.env) for k, v in e["kwargs"].items()})
    q, k, v = [state.env[n] for n in (inputs * 3 if len(inputs) == 1 else inputs + inputs[-1:] if len(inputs) == 2 else inputs)][:3]
    call = state.graph.call_module(f"layers.{module_name}", (q, k, v), {"need_weights": need_weights, "average_attn_weights": average})
    used = [e["name"] for e in group if e["name"] in {r for later in rest for r in _refs(later.get("args", [])) + _refs(list(later.get("kwargs", {}).values()))}]
    projected = _descendants(group, next(e["name"] for e in reversed(group) if e.get("target") == "aten.linear.default"))
    for name in (n for n in used if n not in symbolic):
        state.env[name] = state.graph.call_function(operator.getitem, (call, 0 if name in projected else 1))


def _is_graph_input(name: str, state: _State) -> bool:
    """The model's input, a weight or a constant: never written in place."""
    node = state.env.get(name) if name in state.env else None
    return name in state.values or (isinstance(node, fx.Node) and node.op in ("placeholder", "get_attr"))


def _is_size(name: str, state: _State) -> bool:
    node = state.env.get(name) if name in state.env else None
    return isinstance(node, fx.Node) and node.op == "call_function" and (
        node.target in SYMBOLIC.values() or node.target is torch.ops.aten.sym_size.int)


def _descendants(group: list[dict], start: str) -> set[str]:
    found = {start}
    for e in group:
        if set(_refs(e.get("args", []))) & found:
            found.add(e["name"])
    return found


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

