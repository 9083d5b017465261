"""The verifier's rules: pure functions from one record of what a model did to a finding.

The tracer (`harness.verify.Tracer`) turns every aten op into an `Op` record and every
call of a counted layer into a `LayerCall`; each rule in `OP_RULES` and `LAYER_RULES`
looks at one record and returns a `Finding` or None. The rule for a whole forward, the
charge limit, is `charge_limit`. The rules know nothing of torch's
dispatcher, so each one is tested alone on hand-written records (tests/test_rules.py).

Example:
    >>> op = Op(name="convolution", module="conv", module_type="Conv2d", in_counted=False, macs=1000)
    >>> compute_outside_counted(op).op
    'convolution'
    >>> [rule.__name__ for rule in OP_RULES if rule(op)]
    ['compute_outside_counted']
"""
from __future__ import annotations

from dataclasses import dataclass

CHARGE_LIMIT = 0.15
"""Operations charged outside counted layers (see `harness.op_costs`), as a share of the counted MACs.

Measured by scripts/measure_charges.py: it sits in the gap between the largest honest
ratio and the smallest cheat ratio (README, "What is charged")."""
GROWTH_LIMIT = 4.5
"""An op whose output is this many times larger than all its inputs together is compute in disguise."""
FOREIGN_LIMIT = 16
"""Elements a tensor may have when it appears from outside the dispatcher (numpy round trip)."""
MAC_TOLERANCE = 1.01
"""A counted layer may do this share more MACs than ptflops credits it (rounding in flop formulas)."""
HOOK_WORK_LIMIT = 4
"""Elementwise work a counted layer may do, as a multiple of its credit and its tensors' sizes."""

@dataclass(frozen=True)
class Op:
    """One aten op as the verifier sees it.

    `module` is the innermost module called (or the counted layer enclosing the op);
    `pointwise` is true for ops torch tags pointwise; `macs` is what torch's flop
    formulas say the op does (0 for ops without a formula); `foreign` is the size of
    the largest input no traced op produced (0 when there is none). `allowed` is
    whether `harness.op_costs` allows it outside counted layers and `cost` what it
    charges there; `writes_input` is true for an in-place write to the model's input
    or to one of its weights.
    """

    name: str
    module: str
    module_type: str
    in_counted: bool
    namespace: str = "aten"
    is_view: bool = False
    pointwise: bool = False
    macs: int = 0
    in_numel: int = 0
    out_numel: int = 0
    has_inputs: bool = True
    foreign: int = 0
    allowed: bool = True
    cost: int = 0
    writes_input: bool = False
    mixes_positions: bool = False


@dataclass(frozen=True)
class LayerCall:
    """One finished call of a counted layer: what ptflops credits and what the layer did."""

    module: str
    module_type: str
    credit: int
    macs: int
    elementwise: int
    largest_tensor: int
    hooked: bool = False


@dataclass(frozen=True)
class Finding:
    """What a rule found: the op (or check) to name, the reason, and MACs for the whole batch.

    `{macs}` in the reason is replaced by the per-image figure when reported.
    """

    op: str
    reason: str
    macs: int = 0


# ---------------------------------------------------------------- rules on one op

def foreign_input(op: Op) -> Finding | None:
    """A sizeable input that no traced op produced: compute done outside torch."""
    if op.foreign > FOREIGN_LIMIT:
        return Finding(op.name, f"uses a {op.foreign}-element tensor that no torch op produced "
                                "(numpy or other compute outside torch is not counted)")
    return None


def compute_outside_counted(op: Op) -> Finding | None:
    """Multiply-accumulates (convolution, mm, ...) outside any counted layer: ptflops counts none of them."""
    if op.in_counted or not op.macs:
        return None
    return Finding(op.name, f"runs {op.name} ({{macs}} MACs) outside any counted layer: ptflops counts 0 of it; "
                            "use registered nn.Conv2d / nn.Linear modules called as module(x), not F.* / @ / einsum / .forward()",
                   op.macs)


def non_aten_outside_counted(op: Op) -> Finding | None:
    """An op from another namespace (a custom extension) outside counted layers."""
    if op.in_counted or op.macs or op.namespace == "aten":
        return None
    label = f"{op.namespace}::{op.name}"
    return Finding(label, f"runs the non-aten op {label} outside any counted layer")


def disallowed_outside_counted(op: Op) -> Finding | None:
    """An aten op that is neither a view, pointwise, nor on the allow-list, outside counted layers."""
    if op.in_counted or op.macs or op.namespace != "aten" or op.allowed:
        return None
    return Finding(op.name, f"runs {op.name}, which is not allowed outside a counted layer")


def in_place_input(op: Op) -> Finding | None:
    """An in-place write to the model's input or to a weight, outside counted layers."""
    if op.in_counted or not op.writes_input:
        return None
    return Finding(op.name, f"writes in place ({op.name}) to the model's input or to one of its weights")


def mixed_positions(op: Op) -> Finding | None:
    """Arithmetic combining values from different positions of one tensor outside counted layers (see `harness.positions`)."""
    if op.in_counted or not op.mixes_positions:
        return None
    return Finding(op.name, f"{op.name} combines values taken from different positions of one tensor (shifted, rolled, "
                            "sliced, padded or gathered copies) outside counted layers: a convolution or attention done "
                            "elementwise; use a counted layer (nn.Conv2d, nn.MultiheadAttention)")


def output_growth(op: Op) -> Finding | None:
    """Pointwise arithmetic whose output is far larger than all inputs together: a broadcast that emulates a convolution.

    Copying (pooling or upsampling to a larger size, expanding a tensor) is not arithmetic.
    """
    if op.in_counted or op.macs or op.is_view or not op.pointwise or not op.has_inputs:
        return None
    if op.out_numel <= GROWTH_LIMIT * max(op.in_numel, 1):
        return None
    ratio = op.out_numel / max(op.in_numel, 1)
    return Finding(op.name, f"{op.name} makes an output {ratio:.0f}x larger than its inputs (a broadcast that emulates a convolution)")


OP_RULES = (foreign_input, compute_outside_counted, non_aten_outside_counted, disallowed_outside_counted, in_place_input,
            mixed_positions, output_growth)
"""Every rule applied to every op, in this order."""


def charged_cost(op: Op) -> int:
    """What an op outside counted layers is charged: its cost from `harness.op_costs`, whatever its operands."""
    if op.in_counted or op.macs or not op.allowed:
        return 0
    return op.cost


# ---------------------------------------------------------------- rules on one counted-layer call

def more_macs_than_credited(call: LayerCall) -> Finding | None:
    """A counted layer doing more MACs than ptflops credits it (a pre-hook, a patched forward)."""
    if call.macs <= call.credit * MAC_TOLERANCE:
        return None
    hooked = " (it has forward hooks: their compute is never counted)" if call.hooked else ""
    return Finding("macs", f"does {{macs}} more MACs than ptflops credits it{hooked}", call.macs - call.credit)


def elementwise_in_layer(call: LayerCall) -> Finding | None:
    """A counted layer doing far more elementwise work than the layer itself needs."""
    if call.elementwise <= HOOK_WORK_LIMIT * max(call.credit, call.largest_tensor, 1):
        return None
    return Finding("elementwise", "does elementwise work far beyond what the layer itself needs (extra work in hooks?)")


LAYER_RULES = (more_macs_than_credited, elementwise_in_layer)
"""Every rule applied to every call of a counted layer."""


# ---------------------------------------------------------------- the rule on a whole forward

def charge_limit(charged: int, credited: int) -> Finding | None:
    """Operations outside counted layers, and pooling or interpolation work beyond what ptflops credits its layer,
    beyond `CHARGE_LIMIT` of the counted MACs (no allowance for the input's size)."""
    if charged <= CHARGE_LIMIT * credited:
        return None
    ratio = charged / max(credited, 1)
    return Finding("charged", f"does {charged:,} operations outside counted layers or beyond what ptflops credits its pooling and "
                              f"interpolation layers, {ratio:.2f} per counted MAC "
                              f"(limit {CHARGE_LIMIT:.2f} of its {credited:,} counted MACs): move that work into counted layers")
