"""The countable-layer verifier: every MAC a model does must be one ptflops counts.

Three parts, all used by `harness check` and `harness evaluate`:

- a static walk of the model the way ptflops sees it (exact types, overridden
  forwards, subclasses of counted layers, counted layers with children, TorchScript);
- a dynamic trace: a real forward under a `TorchDispatchMode` while global module
  hooks keep the stack of modules being called, so every aten op is attributed to
  the innermost module. Compute outside ptflops' counted layers is a violation,
  arithmetic combining activations with weight-like tensors outside them is held to
  a budget (parameter-free work on activations is free), and a counted layer may not
  do more MACs than ptflops credits it;
- counter-detection: the trace taken under the real ptflops call and the traces of
  the evaluation forwards must show the same module calls and the same ops.

The rules themselves are pure functions in `harness.rules`; the snapshot and the
source scan are in `harness.tamper`.

Usage:
    tracer = Tracer(model, "2021")
    with tracer.tracing() as trace:
        model(images)
    trace.violations                             # () for an honest model
"""
from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from harness import complexity, positions
from harness.complexity import MAC_BEARING
from harness.report import LayerRow, Violation
from harness.op_costs import ATTENTION_KERNELS, WINDOW_OPS, attention_macs, op_cost, op_kind, window_work
from harness.trace_rules import FOREIGN_LIMIT, LAYER_RULES, OP_RULES, Finding, LayerCall, Op, charge_limit, charged_cost
from harness.tamper import Snapshot

BOOKKEEPING = frozenset("clone copy_ _to_copy contiguous detach alias lift_fresh lift_fresh_copy _unsafe_view".split())
"""Ops left out of the comparison of traces: autograd inserts or drops them."""


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


COUNTED_CHILDREN = {nn.MultiheadAttention: {"out_proj": nn.modules.linear.NonDynamicallyQuantizableLinear}}
"""Children a counted layer may hold: ptflops counts the layer as a whole, these included."""


def static_check(model: nn.Module, snapshot: Snapshot | None = None, profile: str | None = None) -> tuple[list[Violation], list[str]]:
    """Walk `model` as ptflops does under `profile`: (violations, informational notes)."""
    violations, notes = [], []
    unknown_types, outside_profile, owners = set(), set(), []
    harmless = (nn.Identity, nn.Dropout, nn.Dropout2d, nn.Flatten, nn.Unflatten, nn.Sequential, nn.ModuleList, nn.ModuleDict)
    skipped: list[str] = []  # inside a TorchScript module or a counted layer counted as a whole
    for path, m in model.named_modules(remove_duplicate=False):
        name, t = path or "<model>", type(m)
        if any(path.startswith(p) for p in skipped):
            continue
        if isinstance(m, torch.jit.ScriptModule):
            skipped.append(f"{path}." if path else "")
            violations.append(Violation(name, t.__name__, "script", 0, "is a TorchScript module: ptflops cannot see inside it; submit the plain nn.Module"))
            continue
        if "forward" in vars(m):
            violations.append(Violation(name, t.__name__, "forward", 0, "has its forward replaced on the instance: ptflops' hooks do not see that code; remove the override"))
        if complexity.is_counted(m, profile):
            if snapshot is not None and t in snapshot.forwards and t.forward is not snapshot.forwards[t]:
                violations.append(Violation(name, t.__name__, "forward", 0, f"torch.nn.{t.__name__}.forward was replaced: ptflops' count no longer matches the work done"))
            children = {n: type(c) for n, c in m.named_children()}
            if children and children == COUNTED_CHILDREN.get(t):
                skipped.append(f"{path}." if path else "")
            elif children:
                violations.append(Violation(name, t.__name__, "children", 0, f"is a counted layer with children ({', '.join(children)}): ptflops never counts them; move them out of the layer"))
        elif t in MAC_BEARING and complexity.is_counted(m):  # another profile counts it, this one does not
            skipped.append(f"{path}." if path else "")
            violations.append(Violation(name, t.__name__, "profile", 0,
                                        f"{complexity.uncounted_reason(m, profile)}. Its multiply-accumulates would be uncounted "
                                        "compute: set profile = \"modern\" in [tool.harness], or build it from layers this profile counts"))
        elif isinstance(m, MAC_BEARING) and t not in MAC_BEARING:
            base = next(b for b in t.__mro__ if b in MAC_BEARING)
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


_OP_STATIC: dict = {}
"""Per op overload: (overload packet, name, namespace, is a view, pointwise, has a flop formula, op_costs kind, mutates)."""


def _op_static(func) -> tuple:
    """What never changes for one op overload: looked up once per overload, then cached."""
    packet = func._overloadpacket
    name, namespace = packet.__name__, getattr(func, "namespace", "")
    pointwise = torch.Tag.pointwise in func.tags
    mutates = bool(func._schema.arguments) and func._schema.arguments[0].alias_info is not None \
        and func._schema.arguments[0].alias_info.is_write
    return (packet, name, namespace, func.is_view, pointwise, packet in flop_registry or name in ATTENTION_KERNELS,
            op_kind(namespace, name, pointwise, func.is_view), mutates, name in positions.SHIFT_OPS)


def _sorted_len(name: str, args, kwargs) -> int:
    """The length of the dimension sort or topk works along (0 for other ops)."""
    if name not in ("sort", "topk") or not args or not isinstance(args[0], torch.Tensor):
        return 0
    x = args[0]
    dim = kwargs.get("dim", args[2] if name == "topk" and len(args) > 2 else args[1] if name == "sort" and len(args) > 1 else -1)
    return int(x.shape[dim]) if x.ndim and isinstance(dim, int) else int(x.numel())


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


_FAILED: list[tuple[str, str]] = []
"""(module path, op name) of the last op that raised under a trace."""


def failed_op() -> tuple[str, str] | None:
    """(module path, op name) of the last op that raised under a trace, or None: a failure named without its text."""
    return _FAILED[-1] if _FAILED else None


class _Dispatch(TorchDispatchMode):
    def __init__(self, tracer: "Tracer"):
        super().__init__()
        self.tracer = tracer

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        try:
            out = func(*args, **kwargs)
        except Exception:
            module = self.tracer.stack.owner(self.tracer.model)[0]
            _FAILED[:] = [(module, str(func._overloadpacket.__name__))]
            raise
        self.tracer._on_op(func, args, kwargs, out)
        return out


@dataclass
class _Frame:
    module: nn.Module
    path: str | None
    counted: bool
    macs: int = 0
    elementwise: int = 0
    window: int = 0
    """What its pooling or interpolation ops read (`op_costs.window_work`): charged where it exceeds the credit."""


class ModuleStack:
    """The modules being called, innermost last; ops are attributed to the outermost counted one.

    Usage:
        stack = ModuleStack()
        stack.push(conv, "features.0", counted=True)
        stack.owner(model)      # ("features.0", "Conv2d", <frame>)
    """

    def __init__(self):
        self.frames: list[_Frame] = []

    def push(self, module: nn.Module, path: str | None, counted: bool) -> _Frame:
        """Enter `module`; it is counted only when no counted layer encloses it (ptflops stops there)."""
        frame = _Frame(module, path, counted and not self.in_counted())
        self.frames.append(frame)
        return frame

    def pop(self, module: nn.Module) -> _Frame | None:
        """Leave `module`; None when it is not the innermost (a call the pre-hook never saw)."""
        if not self.frames or self.frames[-1].module is not module:
            return None
        return self.frames.pop()

    def in_counted(self) -> bool:
        return any(f.counted for f in self.frames)

    def owner(self, model: nn.Module) -> tuple[str, str, _Frame | None]:
        """(path, type name, counted frame or None) of the module an op runs in."""
        counted = next((f for f in self.frames if f.counted), None)
        if counted is not None:
            return counted.path, type(counted.module).__name__, counted
        if self.frames:
            top = self.frames[-1]
            return top.path or f"<unregistered {type(top.module).__name__}>", type(top.module).__name__, None
        return "<model>", type(model).__name__, None


class Tracer:
    """Traces forwards of one model: module stack, op records, and the rules of `harness.rules`.

    Usage: `with tracer.tracing() as trace: model(x)`; then read `trace`.
    """

    def __init__(self, model: nn.Module, profile: str):
        self.model = model
        self.profile = profile
        self.paths = {}
        for path, m in model.named_modules(remove_duplicate=False):
            self.paths.setdefault(id(m), path or "<model>")
        self.stack = ModuleStack()
        self.known: dict[int, torch.Tensor] = {}
        self.tags: dict[int, frozenset] = {}  # tensor id -> positions it holds (harness.positions)
        self._roots = 0
        self.trace: Trace | None = None
        # Caches keyed by shapes: the rules are re-applied to every batch, their arithmetic is not.
        self._credit_cache: dict[tuple, int] = {}
        self._flop_cache: dict[tuple, int] = {}
        self._base_known = self._model_tensors()
        self._protected: set[int] = set(self._base_known)  # the weights and the traced input: never written in place
        # modules with hooks of the submission's own (ptflops adds its hooks only while counting)
        self._hooked = {id(m) for m in model.modules() if m._forward_pre_hooks or m._forward_hooks}
        self._installed = False
        self._counted = {id(m) for m in model.modules() if complexity.is_counted(m, profile)}

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
                macs = (int(flop_registry[packet](*args, **kwargs, out_val=out)) // 2 if packet in flop_registry
                        else attention_macs(args))
            except Exception:
                macs = 0
            self._flop_cache[key] = macs
        return macs

    def _flag(self, module: str, module_type: str, finding: Finding | None, trace: Trace | None = None) -> None:
        if finding is not None:
            (trace or self.trace).flag(module, module_type, finding.op, finding.reason, finding.macs)

    # -- module hooks
    def _pre(self, module, inputs):
        if self.trace is None:
            return
        path = self.paths.get(id(module))
        self.stack.push(module, path, path is not None and id(module) in self._counted)
        self.trace.calls.append((path or f"<unregistered {type(module).__name__}>", type(module).__name__))

    def _post(self, module, inputs, output):
        if self.trace is None:
            return
        frame = self.stack.pop(module)
        if frame is None or not frame.counted:
            return
        credit = self._credit(module, inputs, output)
        self.trace.credited += credit
        if frame.window > credit:  # a large pooling window or many interpolation taps: ptflops credits far less
            self.trace.elementwise += frame.window - credit
        if self.trace.record_layers:
            row = self.trace.layers.get(frame.path)
            out_shape = tuple(output.shape) if isinstance(output, torch.Tensor) else ()
            self.trace.layers[frame.path] = LayerRow(frame.path, type(module).__name__, out_shape,
                                                     (row.calls if row else 0) + 1, (row.macs if row else 0) + credit)
        sizes = [t.numel() for t in _tensors(inputs)] + [t.numel() for t in _tensors(output)]
        call = LayerCall(frame.path, type(module).__name__, credit, frame.macs, frame.elementwise, max(sizes, default=0),
                         id(module) in self._hooked)
        for rule in LAYER_RULES:
            self._flag(call.module, call.module_type, rule(call))

    # -- ops
    def _on_op(self, func, args, kwargs, out):
        trace = self.trace
        if trace is None:
            return
        static = _OP_STATIC.get(func)
        if static is None:  # what never changes for an op overload, looked up once
            static = _OP_STATIC[func] = _op_static(func)
        packet, name, namespace, is_view, pointwise, has_formula, kind, mutates, shifts = static
        inputs = _tensors(args) + (_tensors(kwargs) if kwargs else [])
        outputs = _tensors(out)
        module, module_type, frame = self.stack.owner(self.model)
        known, tags = self.known, self.tags
        foreign = max((t.numel() for t in inputs if id(t) not in known), default=0)
        for t in outputs:
            # A weak reference: holding every activation alive would defeat the allocator's
            # reuse of memory; the callback forgets the id the moment the tensor dies.
            known[id(t)] = weakref.ref(t, lambda _ref, key=id(t): (known.pop(key, None), tags.pop(key, None)))
        macs = self._flops(func, packet, args, kwargs, inputs, out, outputs) if has_formula else 0
        trace.aten_macs += macs
        in_numel, out_numel = sum(t.numel() for t in inputs), sum(t.numel() for t in outputs)
        if frame is not None and name in WINDOW_OPS:
            frame.window += window_work(name, args, out_numel)
        if frame is not None and foreign <= FOREIGN_LIMIT:
            # inside a counted layer no op rule can fire: only the layer's tally grows
            frame.macs += macs
            frame.elementwise += 0 if (is_view or macs) else max(in_numel, out_numel)
            return
        mixes = self._positions(name, args, inputs, outputs, kind, shifts)
        writes_input = mutates and bool(args) and isinstance(args[0], torch.Tensor) and id(args[0]) in self._protected
        cost = (window_work(name, args, out_numel) if name in WINDOW_OPS
                else op_cost(kind, in_numel, out_numel, _sorted_len(name, args, kwargs)) if kind else 0)
        op = Op(name=name, module=module, module_type=module_type, in_counted=frame is not None,
                namespace=namespace, is_view=is_view, pointwise=pointwise, macs=macs, in_numel=in_numel,
                out_numel=out_numel, has_inputs=bool(inputs), foreign=foreign, allowed=kind is not None, cost=cost,
                writes_input=writes_input, mixes_positions=mixes)
        if frame is not None:
            frame.macs += macs
            frame.elementwise += 0 if (op.is_view or macs) else max(op.in_numel, op.out_numel)
        elif not op.is_view and name not in BOOKKEEPING:  # these vary with grad mode, not with the model
            trace.outside_ops.append((module, module_type, name.rstrip("_")))
        trace.elementwise += charged_cost(op)
        for rule in OP_RULES:
            self._flag(module, module_type, rule(op))

    def _positions(self, name, args, inputs, outputs, kind, shifts) -> bool:
        """Tag the outputs with the positions they hold (`harness.positions`); True when the op mixes positions."""
        tags, base = self.tags, self._base_known
        held = []
        for t in inputs:
            found = tags.get(id(t))
            if found is None:  # the model's input or a counted layer's output: a root of its own
                self._roots += 1
                found = tags[id(t)] = positions.Tags() if id(t) in base else positions.Tags({(self._roots, ())})
            held.append(found)
        for i, t in enumerate(outputs):
            shift = positions.shift_of(name, args, i) if shifts and held else None
            moved = [positions.shift_tags(held[0], shift)] + held[1:] if shift else held
            tags[id(t)] = positions.union(moved) if moved else positions.Tags()
        if kind is None or kind[0] not in positions.ARITHMETIC_KINDS or (kind[0] == "pointwise" and len(held) < 2):
            return False
        return positions.conflict(held)

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
        self.stack = ModuleStack()
        self.known = dict(self._base_known)
        self.tags, self._roots = {}, 0
        self._protected = set(self._base_known)
        if inputs is not None:
            self.known[id(inputs)] = inputs
            self._protected.add(id(inputs))
            self.trace.batch = inputs.shape[0]
            self.trace.input_numel = inputs.numel()
        try:
            with self.installed(), _Dispatch(self):
                yield self.trace
        finally:
            self.known, self.tags = {}, {}
            self.stack = ModuleStack()
            self.trace = None

    def finish(self, trace: Trace) -> None:
        """Apply the whole-forward rule: the charge limit outside counted layers."""
        self._flag("<model>", type(self.model).__name__, charge_limit(trace.elementwise, trace.credited), trace)

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
