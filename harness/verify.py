"""The countable-layer verifier: every MAC a model does must be one ptflops counts.

Three parts, all used by `harness check` and `harness evaluate`:

- a static walk of the model the way ptflops sees it (exact types, overridden
  forwards, subclasses of counted layers, counted layers with children, TorchScript);
- a dynamic trace: a real forward under a `TorchDispatchMode` while global module
  hooks keep the stack of modules being called, so every aten op is attributed to
  the innermost module. Compute outside ptflops' counted layers is a violation,
  elementwise work outside them is held to a budget, and a counted layer may not do
  more MACs than ptflops credits it;
- counter-detection: the trace taken under the real ptflops call and the traces of
  the evaluation forwards must show the same module calls and the same ops, and
  ptflops' tables and the layer classes must be the ones seen before any
  submission code ran (`Snapshot`).

Example:
    >>> snap = Snapshot.take()                       # before importing the submission
    >>> tracer = Tracer(model, "2021")
    >>> with tracer.tracing() as trace:
    ...     model(images)
    >>> trace.violations                             # () for an honest model
"""
from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from harness import complexity
from harness.complexity import MAC_BEARING
from harness.report import LayerRow, Violation

ELEMENTWISE_BUDGET = 0.10
"""Elementwise work allowed outside counted layers, as a share of the counted MACs."""
GROWTH_LIMIT = 4.5
"""An op whose output is this many times larger than all its inputs together is compute in disguise."""
FOREIGN_LIMIT = 16
"""Elements a tensor may have when it appears from outside the dispatcher (numpy round trip)."""
MAC_TOLERANCE = 1.01

ALLOWED_OPS = frozenset(
    """
    cat stack constant_pad_nd reflection_pad1d reflection_pad2d replication_pad2d clone copy_ _to_copy
    contiguous _unsafe_view index_select gather index flip roll repeat masked_fill masked_fill_
    zeros zeros_like ones ones_like empty empty_like full full_like fill_ zero_ arange scalar_tensor
    new_zeros new_empty new_ones new_full empty_strided _local_scalar_dense lift_fresh lift_fresh_copy
    max_pool1d max_pool2d max_pool2d_with_indices max_pool3d_with_indices avg_pool1d avg_pool2d avg_pool3d
    _adaptive_avg_pool2d adaptive_avg_pool1d _adaptive_avg_pool3d adaptive_max_pool2d adaptive_max_pool1d
    upsample_nearest1d upsample_nearest2d upsample_bilinear2d _upsample_nearest_exact2d
    _native_batch_norm_legit_no_training native_batch_norm _native_batch_norm_legit native_layer_norm
    native_group_norm dropout native_dropout feature_dropout alpha_dropout
    hardswish hardswish_ hardsigmoid hardsigmoid_ hardtanh hardtanh_ silu silu_ gelu elu elu_ leaky_relu
    leaky_relu_ relu relu_ _prelu_kernel prelu mish softplus _softmax _log_softmax softmax log_softmax
    argmax argmin topk sort max min amax amin mean sum prod std var var_mean logsumexp norm linalg_vector_norm
    channel_shuffle native_channel_shuffle pixel_shuffle pixel_unshuffle split split_with_sizes unbind
    squeeze_copy unsqueeze_copy permute_copy view_copy detach_copy transpose_copy
    """.split()
)
"""Ops allowed outside counted layers besides views and pointwise ops (deny by default)."""

BOOKKEEPING = frozenset("clone copy_ _to_copy contiguous detach alias lift_fresh lift_fresh_copy _unsafe_view".split())
"""Ops left out of the comparison of traces: autograd inserts or drops them."""

BANNED_NAMES = frozenset(
    """ptflops _python_dispatch TorchDispatchMode _DisableTorchDispatch _disable_current_modes
    register_module_forward_hook register_module_forward_pre_hook _global_forward_hooks _global_forward_pre_hooks
    flop_counter _pop_mode _push_mode _pop_torch_dispatch_stack _set_dispatch_mode _unset_dispatch_mode
    __flops__ __batch_counter__""".split()
)
"""Identifiers that only a submission tampering with the counter or the tracer needs."""


@dataclass
class Trace:
    """What one traced forward did. Filled by `Tracer`, then summarised."""

    batch: int = 0
    record_layers: bool = True
    calls: list[tuple[str, str]] = field(default_factory=list)
    outside_ops: list[tuple[str, str, str]] = field(default_factory=list)
    credited: int = 0
    aten_macs: int = 0
    elementwise: int = 0
    input_numel: int = 0
    layers: dict[str, LayerRow] = field(default_factory=dict)
    found: dict[tuple[str, str, str, str], int] = field(default_factory=dict)

    def flag(self, module: str, module_type: str, op: str, reason: str, macs: int = 0) -> None:
        """Record a finding; `macs` for the whole batch, reported per image."""
        key = (module, module_type, op, reason)
        self.found[key] = self.found.get(key, 0) + int(macs) // max(self.batch, 1)

    @property
    def violations(self) -> tuple[Violation, ...]:
        return tuple(
            Violation(m, t, op, macs, reason.replace("{macs}", f"{macs:,}"))
            for (m, t, op, reason), macs in self.found.items()
        )

    @property
    def signature(self) -> tuple:
        """Module calls and ops outside counted layers: identical for every honest forward."""
        return (tuple(self.calls), tuple(self.outside_ops))


class Snapshot:
    """ptflops' tables, the layer classes' forwards and the global hooks, as first seen."""

    def __init__(self, mapping, forwards, hooks, functions):
        self.mapping, self.forwards, self.hooks, self.functions = mapping, forwards, hooks, functions

    @staticmethod
    def _functions():
        import ptflops
        from ptflops import flops_counter, pytorch_engine, pytorch_ops

        found = {name: (fn, fn.__code__) for name, fn in (("nn.Module.__call__", nn.Module.__call__),
                                                          ("nn.Module._call_impl", nn.Module._call_impl))}
        for mod in (ptflops, flops_counter, pytorch_engine, pytorch_ops):
            for name, value in vars(mod).items():
                if callable(value) and not isinstance(value, type):
                    found[f"{mod.__name__}.{name}"] = (value, getattr(value, "__code__", None))
        return found

    @classmethod
    def take(cls) -> "Snapshot":
        from torch.nn.modules import module as module_mod

        forwards = {t: t.forward for t in _layer_classes()}
        hooks = (len(module_mod._global_forward_hooks), len(module_mod._global_forward_pre_hooks))
        return cls(complexity.module_mapping_snapshot(), forwards, hooks, cls._functions())

    def tampering(self) -> list[Violation]:
        """What changed since the snapshot: each change is a violation."""
        from torch.nn.modules import module as module_mod

        found = []
        now = complexity.module_mapping_snapshot()
        if now != self.mapping:
            changed = sorted({t.__name__ for t in set(now) ^ set(self.mapping)} | {t.__name__ for t in now if t in self.mapping and now[t] is not self.mapping[t]})
            found.append(Violation("<ptflops>", "MODULES_MAPPING", "patch", 0, f"the submission changed ptflops' layer table ({', '.join(changed)})"))
        for t, fwd in self.forwards.items():
            if t.forward is not fwd:
                found.append(Violation("<torch.nn>", t.__name__, "patch", 0, f"the submission replaced torch.nn.{t.__name__}.forward"))
        hooks = (len(module_mod._global_forward_hooks), len(module_mod._global_forward_pre_hooks))
        if hooks != self.hooks:
            found.append(Violation("<torch.nn>", "global hooks", "patch", 0, "the submission registered global module hooks"))
        now_functions = self._functions()
        for name, (function, code) in self.functions.items():
            current = now_functions.get(name)
            if current is None or current[0] is not function:
                found.append(Violation("<ptflops>", name, "patch", 0, f"the submission replaced {name}"))
            elif getattr(function, "__code__", None) is not code:
                found.append(Violation("<ptflops>", name, "patch", 0, f"the submission rewrote the code of {name}"))
        return found


def _layer_classes() -> list[type]:
    import torch.nn.modules as mods

    return [v for v in vars(mods).values() if isinstance(v, type) and issubclass(v, nn.Module)] + list(complexity.counted_types())


def source_violations(path: Path) -> list[Violation]:
    """Imports and names in the submission's code that only counter tampering needs.

    Reads the syntax tree, so comments and docstrings that mention ptflops are fine.
    A first line of defence; the snapshot and the trace catch what a scan cannot.
    """
    import ast

    try:
        tree = ast.parse(Path(path).read_text(errors="replace"))
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [part for alias in node.names for part in alias.name.split(".")]
        elif isinstance(node, ast.ImportFrom):
            names = (node.module or "").split(".") + [alias.name for alias in node.names]
        elif isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        hit = next((n for n in names if n in BANNED_NAMES), None)
        if hit:
            found.append(Violation(f"{Path(path).name}:{node.lineno}", "source", hit, 0,
                                   f"uses {hit!r}: submissions may not touch the MAC counter, dispatch modes or global hooks"))
    return found


def static_check(model: nn.Module, snapshot: Snapshot | None = None, profile: str = "2021") -> tuple[list[Violation], list[str]]:
    """Walk `model` as ptflops does under `profile`: (violations, informational notes)."""
    violations, notes = [], []
    unknown_types, outside_profile, owners = set(), set(), []
    harmless = (nn.Identity, nn.Dropout, nn.Dropout2d, nn.Flatten, nn.Unflatten, nn.Sequential, nn.ModuleList, nn.ModuleDict)
    scripted: list[str] = []
    for path, m in model.named_modules(remove_duplicate=False):
        name, t = path or "<model>", type(m)
        if any(path.startswith(p) for p in scripted):
            continue
        if isinstance(m, torch.jit.ScriptModule):
            scripted.append(f"{path}." if path else "")
            violations.append(Violation(name, t.__name__, "script", 0, "is a TorchScript module: ptflops cannot see inside it; submit the plain nn.Module"))
            continue
        if "forward" in vars(m):
            violations.append(Violation(name, t.__name__, "forward", 0, "has its forward replaced on the instance: ptflops' hooks do not see that code; remove the override"))
        if complexity.is_counted(m, profile):
            if snapshot is not None and t in snapshot.forwards and t.forward is not snapshot.forwards[t]:
                violations.append(Violation(name, t.__name__, "forward", 0, f"torch.nn.{t.__name__}.forward was replaced: ptflops' count no longer matches the work done"))
            children = [n for n, _ in m.named_children()]
            if children:
                violations.append(Violation(name, t.__name__, "children", 0, f"is a counted layer with children ({', '.join(children)}): ptflops never counts them; move them out of the layer"))
        elif t in MAC_BEARING and complexity.is_counted(m):
            violations.append(Violation(name, t.__name__, "profile", 0,
                                        f"{complexity.uncounted_reason(m, profile)}. Its multiply-accumulates would be uncounted "
                                        "compute: set profile = \"modern\" in [tool.harness], or build it from layers this profile counts"))
        elif isinstance(m, MAC_BEARING):
            base = next(b for b in t.__mro__ if b in complexity.counted_types())
            overrides = " that overrides forward" if t.forward is not base.forward else ""
            violations.append(Violation(name, t.__name__, "subclass", 0,
                                        f"is a subclass of {base.__name__}{overrides}: ptflops matches exact types and counts it "
                                        f"as 0 MACs; use nn.{base.__name__} itself"))
        else:
            if not list(m.children()) and not isinstance(m, harmless):
                (outside_profile if complexity.is_counted(m) else unknown_types).add(t.__name__)
            if list(m.parameters(recurse=False)) or list(m.buffers(recurse=False)):
                owners.append(f"{name} ({t.__name__})")
    if unknown_types:
        notes.append(f"layers ptflops does not know (counted as 0 MACs; their compute must stay elementwise): {', '.join(sorted(unknown_types))}")
    if outside_profile:
        notes.append(f"layers profile {profile!r} does not count ({complexity.COUNTER[profile]}; 0 MACs, their compute "
                     f"must stay elementwise): {', '.join(sorted(outside_profile))}")
    if owners:
        notes.append(f"parameters or buffers held by modules ptflops does not count: {', '.join(owners[:5])}{' ...' if len(owners) > 5 else ''}")
    return violations, notes


def _tensors(obj) -> list[torch.Tensor]:
    """The tensors in a (nested) op argument or module input/output."""
    if isinstance(obj, torch.Tensor):
        return [obj]
    found = []
    todo = [obj]
    while todo:
        item = todo.pop()
        if isinstance(item, torch.Tensor):
            found.append(item)
        elif isinstance(item, (list, tuple)):
            todo.extend(item)
        elif isinstance(item, dict):
            todo.extend(item.values())
    return found


class _Dispatch(TorchDispatchMode):
    def __init__(self, tracer: "Tracer"):
        super().__init__()
        self.tracer = tracer

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.tracer._on_op(func, args, kwargs, out)
        return out


@dataclass
class _Frame:
    module: nn.Module
    path: str | None
    counted: bool
    macs: int = 0
    elementwise: int = 0


class Tracer:
    """Traces forwards of one model: module stack, op attribution and the rules.

    Usage: `with tracer.tracing() as trace: model(x)`; then read `trace`.
    """

    def __init__(self, model: nn.Module, profile: str):
        self.model = model
        self.profile = profile
        self.paths = {}
        for path, m in model.named_modules(remove_duplicate=False):
            self.paths.setdefault(id(m), path or "<model>")
        self.stack: list[_Frame] = []
        self.known: dict[int, torch.Tensor] = {}
        self.trace: Trace | None = None
        # Caches keyed by shapes: the rules are re-applied to every batch, their arithmetic is not.
        self._credit_cache: dict[tuple, int] = {}
        self._flop_cache: dict[tuple, int] = {}
        self._base_known = self._model_tensors()
        # modules with hooks of the submission's own (ptflops adds its hooks only while counting)
        self._hooked = {id(m) for m in model.modules() if m._forward_pre_hooks or m._forward_hooks}
        self._installed = False

    def _model_tensors(self) -> dict[int, torch.Tensor]:
        known = {id(t): t for t in list(self.model.parameters()) + list(self.model.buffers())}
        for m in self.model.modules():  # plain tensor attributes hold data, not compute
            for value in vars(m).values():
                if isinstance(value, torch.Tensor):
                    known[id(value)] = value
        return known

    def _credit(self, module, inputs, output) -> int:
        key = (id(module), tuple(tuple(t.shape) for t in _tensors(inputs)), tuple(tuple(t.shape) for t in _tensors(output)))
        credit = self._credit_cache.get(key)
        if credit is None:
            credit = self._credit_cache[key] = complexity.credited_macs(module, inputs, output, self.profile)
        return credit

    def _flops(self, func, packet, args, kwargs, inputs, out, outputs) -> int:
        key = (func, tuple(tuple(t.shape) for t in inputs), tuple(tuple(t.shape) for t in outputs),
               tuple(a for a in args if isinstance(a, (bool, int, float))))
        macs = self._flop_cache.get(key)
        if macs is None:
            try:
                macs = int(flop_registry[packet](*args, **kwargs, out_val=out)) // 2
            except Exception:
                macs = 0
            self._flop_cache[key] = macs
        return macs

    # -- module hooks
    def _pre(self, module, inputs):
        if self.trace is None:
            return
        path = self.paths.get(id(module))
        counted = path is not None and complexity.is_counted(module, self.profile) and not any(f.counted for f in self.stack)
        self.stack.append(_Frame(module, path, counted))
        self.trace.calls.append((path or f"<unregistered {type(module).__name__}>", type(module).__name__))

    def _post(self, module, inputs, output):
        if self.trace is None or not self.stack or self.stack[-1].module is not module:
            return
        frame = self.stack.pop()
        if not frame.counted:
            return
        credit = self._credit(module, inputs, output)
        self.trace.credited += credit
        if self.trace.record_layers:
            row = self.trace.layers.get(frame.path)
            out_shape = tuple(output.shape) if isinstance(output, torch.Tensor) else ()
            self.trace.layers[frame.path] = LayerRow(frame.path, type(module).__name__, out_shape,
                                                     (row.calls if row else 0) + 1, (row.macs if row else 0) + credit)
        if frame.macs > credit * MAC_TOLERANCE:
            hooked = " (it has forward hooks: their compute is never counted)" if id(module) in self._hooked else ""
            self.trace.flag(frame.path, type(module).__name__, "macs",
                            f"does {{macs}} more MACs than ptflops credits it{hooked}", frame.macs - credit)
        sizes = [t.numel() for t in _tensors(inputs)] + [t.numel() for t in _tensors(output)]
        if frame.elementwise > 4 * max([credit, *sizes, 1]):
            self.trace.flag(frame.path, type(module).__name__, "elementwise",
                            "does elementwise work far beyond what the layer itself needs (extra work in hooks?)", 0)

    # -- ops
    def _owner(self) -> tuple[str, str, _Frame | None]:
        counted = next((f for f in self.stack if f.counted), None)
        if counted is not None:
            return counted.path, type(counted.module).__name__, counted
        if self.stack:
            top = self.stack[-1]
            path = top.path or f"<unregistered {type(top.module).__name__}>"
            return path, type(top.module).__name__, None
        return "<model>", type(self.model).__name__, None

    def _on_op(self, func, args, kwargs, out):
        trace = self.trace
        if trace is None:
            return
        packet = func._overloadpacket
        name = packet.__name__
        namespace = getattr(func, "namespace", "")
        inputs = _tensors(args) + (_tensors(kwargs) if kwargs else [])
        outputs = _tensors(out)
        module, module_type, frame = self._owner()
        for t in inputs:
            if id(t) not in self.known and t.numel() > FOREIGN_LIMIT:
                trace.flag(module, module_type, name,
                           f"uses a {t.numel()}-element tensor that no torch op produced (numpy or other compute outside torch is not counted)")
        known = self.known
        for t in outputs:
            # A weak reference: holding every activation alive would defeat the allocator's
            # reuse of memory; the callback forgets the id the moment the tensor dies.
            known[id(t)] = weakref.ref(t, lambda _ref, key=id(t), table=known: table.pop(key, None))
        macs = self._flops(func, packet, args, kwargs, inputs, out, outputs) if packet in flop_registry else 0
        trace.aten_macs += macs
        in_numel = sum(t.numel() for t in inputs)
        out_numel = sum(t.numel() for t in outputs)
        cost = 0 if func.is_view else max(in_numel, out_numel)
        if frame is not None:
            frame.macs += macs
            frame.elementwise += cost if not macs else 0
        else:
            if not func.is_view and name not in BOOKKEEPING:  # these vary with grad mode, not with the model
                trace.outside_ops.append((module, module_type, name.rstrip("_")))
            if macs:
                trace.flag(module, module_type, name,
                           f"runs {name} ({{macs}} MACs) outside any counted layer: ptflops counts 0 of it; "
                           "use registered nn.Conv2d / nn.Linear modules called as module(x), not F.* / @ / einsum / .forward()", macs)
                return
            if namespace != "aten":
                trace.flag(module, module_type, f"{namespace}::{name}", f"runs the non-aten op {namespace}::{name} outside any counted layer")
                return
            pointwise = torch.Tag.pointwise in func.tags or torch.Tag.reduction in func.tags
            if not (func.is_view or pointwise or name in ALLOWED_OPS):
                trace.flag(module, module_type, name, f"runs {name}, which is not allowed outside a counted layer")
                return
            trace.elementwise += cost
        if not macs and not func.is_view and inputs and out_numel > GROWTH_LIMIT * max(in_numel, 1):
            trace.flag(module, module_type, name,
                       f"{name} makes an output {out_numel / max(in_numel, 1):.0f}x larger than its inputs (a broadcast that emulates a convolution)")

    @contextlib.contextmanager
    def installed(self):
        """Keep the global module hooks registered across many `tracing()` blocks."""
        from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

        if self._installed:
            yield
            return
        pre = register_module_forward_pre_hook(self._pre)
        post = register_module_forward_hook(self._post, always_call=True)
        self._installed = True
        try:
            yield
        finally:
            pre.remove()
            post.remove()
            self._installed = False

    @contextlib.contextmanager
    def tracing(self, inputs: torch.Tensor | None = None, record_layers: bool = True):
        """Trace every forward run inside the block into one `Trace`."""
        self.trace = Trace(record_layers=record_layers)
        self.stack = []
        self.known = dict(self._base_known)
        if inputs is not None:
            self.known[id(inputs)] = inputs
            self.trace.batch = inputs.shape[0]
            self.trace.input_numel = inputs.numel()
        try:
            with self.installed(), _Dispatch(self):
                yield self.trace
        finally:
            self.known = {}
            self.stack = []
            self.trace = None

    def finish(self, trace: Trace) -> None:
        """Apply the whole-forward rule: the elementwise budget outside counted layers."""
        budget = ELEMENTWISE_BUDGET * trace.credited + trace.input_numel
        if trace.elementwise > budget:
            trace.flag("<model>", type(self.model).__name__, "elementwise",
                       f"does {trace.elementwise:,} elementwise operations outside counted layers, more than "
                       f"{ELEMENTWISE_BUDGET:.0%} of its {trace.credited:,} counted MACs: move that work into counted layers")

    def output_is_known(self, output) -> bool:
        """Inside `tracing()`: did a traced op produce this output tensor?"""
        return all(id(t) in self.known for t in _tensors(output))


def compare_signatures(reference: Trace, other: Trace, what: str) -> list[Violation]:
    """A model must do the same thing when counted and when evaluated."""
    if reference.signature == other.signature:
        return []
    ref_calls, other_calls = reference.signature[0], other.signature[0]
    if ref_calls != other_calls:
        diff = next((i for i, (a, b) in enumerate(zip(ref_calls, other_calls)) if a != b), min(len(ref_calls), len(other_calls)))
        where = other_calls[diff] if diff < len(other_calls) else ref_calls[diff]
        detail = f"module calls differ from call {diff} ({where[0]}): {len(ref_calls)} calls when counted, {len(other_calls)} {what}"
        return [Violation(where[0], where[1], "behaviour", 0, f"behaves differently when counted by ptflops and {what}: {detail}")]
    ref_ops, other_ops = reference.signature[1], other.signature[1]
    diff = next((i for i, (a, b) in enumerate(zip(ref_ops, other_ops)) if a != b), min(len(ref_ops), len(other_ops)))
    where = other_ops[diff] if diff < len(other_ops) else ref_ops[diff]
    return [Violation(where[0], where[1], where[2], 0, f"behaves differently when counted by ptflops and {what}: ops outside counted layers differ at {where[2]}")]
