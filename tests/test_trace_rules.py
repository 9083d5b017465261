"""Each verifier rule alone, on hand-written records (the cheats in tests/cheats/ exercise them end to end)."""
import pytest

from harness.trace_rules import (
    CHARGE_LIMIT, LAYER_RULES, OP_RULES, LayerCall, Op, charge_limit, charged_cost, compute_outside_counted,
    disallowed_outside_counted, elementwise_in_layer, foreign_input, in_place_input, mixed_positions,
    more_macs_than_credited, non_aten_outside_counted, output_growth,
)


def op(name="add", in_counted=False, **fields) -> Op:
    return Op(name=name, module="body.0", module_type="Block", in_counted=in_counted, **fields)


OP_CASES = [
    # rule, record, expected text in the reason (None: no finding)
    (foreign_input, op(foreign=17), "17-element tensor that no torch op produced"),
    (foreign_input, op(foreign=16), None),
    (foreign_input, op(foreign=100, in_counted=True), "no torch op produced"),
    (compute_outside_counted, op("convolution", macs=500), "runs convolution ({macs} MACs) outside any counted layer"),
    (compute_outside_counted, op("mm", macs=500, in_counted=True), None),
    (compute_outside_counted, op("add"), None),
    (non_aten_outside_counted, op("my_conv", namespace="custom"), "non-aten op custom::my_conv"),
    (non_aten_outside_counted, op("my_conv", namespace="custom", in_counted=True), None),
    (non_aten_outside_counted, op("my_conv", namespace="custom", macs=3), None),  # compute_outside_counted names it
    (disallowed_outside_counted, op("im2col", allowed=False), "runs im2col, which is not allowed outside a counted layer"),
    (disallowed_outside_counted, op("im2col", allowed=False, in_counted=True), None),
    (disallowed_outside_counted, op("mul", pointwise=True), None),
    (in_place_input, op("add_", writes_input=True), "writes in place (add_)"),
    (in_place_input, op("add_", writes_input=True, in_counted=True), None),
    (mixed_positions, op("add", mixes_positions=True), "different positions of one tensor"),
    (mixed_positions, op("add"), None),
    (output_growth, op("mul", pointwise=True, in_numel=100, out_numel=451), "makes an output 5x larger than its inputs"),
    (output_growth, op("mul", pointwise=True, in_numel=100, out_numel=450), None),
    (output_growth, op("mul", pointwise=True, in_counted=True, in_numel=10, out_numel=451), None),  # the layer's own rules
    (output_growth, op("upsample_nearest2d", in_numel=4, out_numel=400), None),  # copying
    (output_growth, op("expand", is_view=True, in_numel=1, out_numel=1000), None),
    (output_growth, op("zeros", has_inputs=False, out_numel=1000), None),
]


@pytest.mark.parametrize("rule,record,expected", OP_CASES, ids=lambda v: getattr(v, "__name__", None) or "")
def test_op_rule(rule, record, expected):
    finding = rule(record)
    if expected is None:
        assert finding is None
    else:
        assert finding is not None and expected in finding.reason


def test_every_op_rule_is_in_the_table_and_an_honest_op_triggers_none():
    assert set(OP_RULES) == {foreign_input, compute_outside_counted, non_aten_outside_counted,
                             disallowed_outside_counted, in_place_input, mixed_positions, output_growth}
    honest = op("mul", pointwise=True, in_numel=2000, out_numel=1000)  # a gate: x * sigmoid(x)
    assert [rule(honest) for rule in OP_RULES] == [None] * len(OP_RULES)


def test_an_op_outside_counted_layers_is_named_by_one_rule_only():
    for record in (op("convolution", macs=10), op("foo", namespace="x", allowed=False), op("im2col", allowed=False)):
        assert sum(rule(record) is not None for rule in OP_RULES) == 1, record


@pytest.mark.parametrize("record,cost", [
    (op("mul", pointwise=True, in_numel=200, out_numel=100, cost=100), 100),  # whatever its operands
    (op("mul", pointwise=True, in_numel=200, out_numel=100, cost=100, in_counted=True), 0),  # the layer is counted
    (op("mm", macs=10, cost=0), 0),  # refused by compute_outside_counted, not charged
    (op("im2col", allowed=False, cost=900), 0),  # refused by disallowed_outside_counted
])
def test_charged_cost(record, cost):
    assert charged_cost(record) == cost


def call(**fields) -> LayerCall:
    values = dict(module="conv", module_type="Conv2d", credit=1000, macs=1000, elementwise=0, largest_tensor=100)
    values.update(fields)
    return LayerCall(**values)


LAYER_CASES = [
    (more_macs_than_credited, call(macs=1010), None),
    (more_macs_than_credited, call(macs=1011), "more MACs than ptflops credits it"),
    (more_macs_than_credited, call(macs=2000, hooked=True), "it has forward hooks"),
    (elementwise_in_layer, call(elementwise=4000), None),
    (elementwise_in_layer, call(elementwise=4001), "elementwise work far beyond"),
    (elementwise_in_layer, call(credit=0, largest_tensor=5000, elementwise=20_000), None),
]


@pytest.mark.parametrize("rule,record,expected", LAYER_CASES, ids=lambda v: getattr(v, "__name__", None) or "")
def test_layer_rule(rule, record, expected):
    finding = rule(record)
    assert (finding is None) if expected is None else (expected in finding.reason)
    assert rule in LAYER_RULES


def test_more_macs_finding_carries_the_excess():
    assert more_macs_than_credited(call(macs=3000)).macs == 2000


@pytest.mark.parametrize("charged,credited,refused", [
    (int(CHARGE_LIMIT * 1000), 1000, False),
    (int(CHARGE_LIMIT * 1000) + 1, 1000, True),
    (1, 0, True),  # no counted MACs: nothing may be charged, however large the input
    (0, 0, False),
])
def test_charge_limit(charged, credited, refused):
    finding = charge_limit(charged, credited)
    assert (finding is not None) == refused
    if refused:
        assert f"{charged:,} operations outside counted layers" in finding.reason
