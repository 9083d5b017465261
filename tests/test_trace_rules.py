"""Each verifier rule alone, on hand-written records (the cheats in tests/cheats/ exercise them end to end)."""
import pytest

from harness.trace_rules import (
    LAYER_RULES, OP_RULES, LayerCall, Op, compute_outside_counted, disallowed_outside_counted, elementwise_budget,
    elementwise_cost, elementwise_in_layer, foreign_input, more_macs_than_credited, non_aten_outside_counted,
    output_growth,
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
    (disallowed_outside_counted, op("im2col"), "runs im2col, which is not allowed outside a counted layer"),
    (disallowed_outside_counted, op("im2col", in_counted=True), None),
    (disallowed_outside_counted, op("mul", pointwise=True), None),
    (disallowed_outside_counted, op("expand", is_view=True), None),
    (disallowed_outside_counted, op("cat"), None),
    (output_growth, op("mul", pointwise=True, weighted=True, in_numel=100, out_numel=451), "makes an output 5x larger than its inputs"),
    (output_growth, op("mul", pointwise=True, weighted=True, in_numel=100, out_numel=450), None),
    (output_growth, op("mul", pointwise=True, weighted=True, in_counted=True, in_numel=10, out_numel=451), "5x larger"),
    (output_growth, op("mul", pointwise=True, in_numel=100, out_numel=451), None),  # activations times activations
    (output_growth, op("_adaptive_avg_pool2d", in_numel=4, out_numel=196, in_counted=True), None),  # copying
    (output_growth, op("upsample_nearest2d", in_numel=4, out_numel=400), None),
    (output_growth, op("expand", is_view=True, in_numel=1, out_numel=1000), None),
    (output_growth, op("zeros", has_inputs=False, out_numel=1000), None),
    (output_growth, op("im2col", weighted=True, in_numel=10, out_numel=1000), None),  # disallowed_outside_counted names it
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
                             disallowed_outside_counted, output_growth}
    honest = op("mul", pointwise=True, in_numel=2000, out_numel=1000)  # a gate: x * sigmoid(x)
    assert [rule(honest) for rule in OP_RULES] == [None] * len(OP_RULES)


def test_an_op_outside_counted_layers_is_named_by_one_rule_only():
    for record in (op("convolution", macs=10), op("foo", namespace="x"), op("im2col", in_numel=1, out_numel=99)):
        assert sum(rule(record) is not None for rule in OP_RULES) == 1, record


@pytest.mark.parametrize("record,cost", [
    (op("mul", pointwise=True, weighted=True, in_numel=200, out_numel=100), 200),  # activations times a weight
    (op("native_batch_norm", weighted=True, in_numel=120, out_numel=100), 120),
    (op("mul", pointwise=True, in_numel=200, out_numel=100), 0),  # a gate or any parameter-free work
    (op("add", pointwise=True, in_numel=200, out_numel=100), 0),  # a residual add
    (op("_softmax", in_numel=100, out_numel=100), 0),
    (op("mul", pointwise=True, weighted=True, in_numel=200, out_numel=100, in_counted=True), 0),
    (op("view", is_view=True, weighted=True, in_numel=200, out_numel=200), 0),
    (op("im2col", weighted=True, in_numel=200, out_numel=900), 0),
    (op("mm", macs=10, weighted=True, in_numel=200, out_numel=900), 0),
])
def test_elementwise_cost(record, cost):
    assert elementwise_cost(record) == cost


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


@pytest.mark.parametrize("elementwise,credited,input_numel,refused", [
    (100, 1000, 0, False),
    (101, 1000, 0, True),
    (101, 1000, 1, False),
    (0, 0, 0, False),
])
def test_elementwise_budget(elementwise, credited, input_numel, refused):
    finding = elementwise_budget(elementwise, credited, input_numel)
    assert (finding is not None) == refused
    if refused:
        assert f"{elementwise:,} elementwise operations with weights outside counted layers" in finding.reason
