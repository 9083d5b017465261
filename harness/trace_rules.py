"""The verifier's rules: pure functions from one record of what a model did to a finding.

The tracer (`harness.verify.Tracer`) turns every aten op into an `Op` record and every
call of a counted layer into a `LayerCall`; each rule in `OP_RULES` and `LAYER_RULES`
looks at one record and returns a `Finding` or None. The rule for a whole forward, the
elementwise budget, is `elementwise_budget`. The rules know nothing of torch's
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

ELEMENTWISE_BUDGET = 0.10
"""Elementwise work allowed outside counted layers, as a share of the counted MACs."""
GROWTH_LIMIT = 4.5
"""An op whose output is this many times larger than all its inputs together is compute in disguise."""
FOREIGN_LIMIT = 16
"""Elements a tensor may have when it appears from outside the dispatcher (numpy round trip)."""
MAC_TOLERANCE = 1.01
"""A counted layer may do this share more MACs than ptflops credits it (rounding in flop formulas)."""
HOOK_WORK_LIMIT = 4
"""Elementwise work a counted layer may do, as a multiple of its credit and its tensors' sizes."""

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

WEIGHT_ARITHMETIC = frozenset(
    """_native_batch_norm_legit_no_training native_batch_norm _native_batch_norm_legit native_layer_norm
    native_group_norm _prelu_kernel prelu""".split()
)
"""Ops besides pointwise ones that do arithmetic with their weight operands."""


@dataclass(frozen=True)
class Op:
    """One aten op as the verifier sees it.

    `module` is the innermost module called (or the counted layer enclosing the op);
    `pointwise` is true for ops torch tags pointwise or reduction; `macs` is what
    torch's flop formulas say the op does (0 for ops without a formula); `foreign` is
    the size of the largest input no traced op produced (0 when there is none).
    `weighted` is true for arithmetic that combines an input-dependent tensor with a
    weight-like one (parameters, buffers, constants, anything computed from them
    outside counted layers): the only work that could stand in for MACs.
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
    weighted: bool = False

    @property
    def allowed(self) -> bool:
        """An aten op allowed outside counted layers: a view, pointwise, or on the allow-list."""
        return self.namespace == "aten" and (self.is_view or self.pointwise or self.name in ALLOWED_OPS)


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


def output_growth(op: Op) -> Finding | None:
    """Weight arithmetic whose output is far larger than all inputs together: a broadcast that emulates a convolution.

    Copying (pooling or upsampling to a larger size, expanding activations) is not arithmetic with weights.
    """
    if op.macs or op.is_view or not op.weighted or not (op.in_counted or op.allowed):
        return None
    if op.out_numel <= GROWTH_LIMIT * max(op.in_numel, 1):
        return None
    ratio = op.out_numel / max(op.in_numel, 1)
    return Finding(op.name, f"{op.name} makes an output {ratio:.0f}x larger than its inputs (a broadcast that emulates a convolution)")


OP_RULES = (foreign_input, compute_outside_counted, non_aten_outside_counted, disallowed_outside_counted, output_growth)
"""Every rule applied to every op, in this order."""


def elementwise_cost(op: Op) -> int:
    """Elementwise work an op outside counted layers is charged against the budget: weight arithmetic only.

    Parameter-free work on activations (activation functions, gates, residual adds,
    shuffles, pooling, softmax) is never charged.
    """
    if op.in_counted or op.is_view or op.macs or not op.allowed or not op.weighted:
        return 0
    return max(op.in_numel, op.out_numel)


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

def elementwise_budget(elementwise: int, credited: int, input_numel: int) -> Finding | None:
    """Weight arithmetic outside counted layers beyond a share of the counted MACs (plus the input's size)."""
    if elementwise <= ELEMENTWISE_BUDGET * credited + input_numel:
        return None
    return Finding("elementwise", f"does {elementwise:,} elementwise operations with weights outside counted layers, more than "
                                  f"{ELEMENTWISE_BUDGET:.0%} of its {credited:,} counted MACs: move that work into counted layers")
