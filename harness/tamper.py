"""Tampering with the counter: what a submission changed, and what its source names.

Two checks that need no forward pass:

- `Snapshot`: ptflops' tables and functions, the torch.nn layer classes' forwards and
  the global module hooks, taken before any submission code runs and compared after;
- `source_violations`: a scan of the submission's syntax tree for names that only
  tampering with the counter, dispatch modes or global hooks needs.

Example:
    >>> snap = Snapshot.take()                       # before importing the submission
    >>> # ... import and run the submission ...
    >>> snap.tampering()                             # [] when nothing was changed
    []
"""
from __future__ import annotations

from pathlib import Path

from torch import nn

from harness import complexity
from harness.report import Violation

BANNED_NAMES = frozenset(
    """ptflops _python_dispatch TorchDispatchMode _DisableTorchDispatch _disable_current_modes
    register_module_forward_hook register_module_forward_pre_hook _global_forward_hooks _global_forward_pre_hooks
    flop_counter _pop_mode _push_mode _pop_torch_dispatch_stack _set_dispatch_mode _unset_dispatch_mode
    __flops__ __batch_counter__""".split()
)
"""Identifiers that only a submission tampering with the counter or the tracer needs."""


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
