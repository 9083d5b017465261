"""MAC counting on tiny models, checked against hand-computed counts (ptflops' own test style)."""
import pytest
import torch
from torch import nn

from harness.complexity import count_complexity, counted_types, credited_macs
from harness.errors import CountingError
from harness.verify import Tracer, static_check

X = torch.ones(1, 3, 8, 8)


@pytest.mark.parametrize("bias", [False, True])
def test_conv_with_and_without_bias(bias):
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=bias)
    expected = 8 * 8 * 3 * 3 * 3 * 4 + (4 * 8 * 8 if bias else 0)
    assert count_complexity(conv, X, "2021").macs == expected


def test_depthwise_conv_counts_one_input_channel_per_filter():
    conv = nn.Conv2d(3, 6, 3, padding=1, groups=3, bias=False)
    assert count_complexity(conv, X, "2021").macs == 8 * 8 * 3 * 3 * 1 * 6


def test_linear_counts_its_bias_under_both_profiles():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
    assert count_complexity(model, X, "2021").macs == 192 * 10 + 10
    assert count_complexity(model, X, "modern").macs == 192 * 10 + 10


def test_linear_on_a_sequence_counts_the_bias_once_in_2021_and_per_row_in_modern():
    class Tokens(nn.Module):  # 64 rows of 3 features
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 5)

        def forward(self, x):
            return self.fc(x.flatten(2).transpose(1, 2))

    assert count_complexity(Tokens(), X, "2021").macs == 64 * 3 * 5 + 5
    assert count_complexity(Tokens(), X, "modern").macs == 64 * (3 * 5 + 5)


def test_conv_transpose_counts_output_positions_in_2021_input_positions_in_modern():
    deconv = nn.ConvTranspose2d(3, 8, 2, stride=2)
    x = torch.ones(1, 3, 4, 4)
    bias = 8 * 8 * 8
    assert count_complexity(deconv, x, "2021").macs == 2 * 2 * 3 * 8 * (8 * 8) + bias == 6_656
    assert count_complexity(deconv, x, "modern").macs == 2 * 2 * 3 * 8 * (4 * 4) + bias == 2_048


@pytest.mark.parametrize("layer,modern", [
    (nn.LayerNorm([3, 8, 8]), 192),  # 0.7.5 doubles for `affine`, which LayerNorm does not have
    (nn.GroupNorm(3, 3), 2 * 192), (nn.InstanceNorm2d(3, affine=True), 2 * 192),
    (nn.GELU(), 2 * 192),  # the module and the patched F.gelu
])
def test_layers_outside_the_2021_table_count_zero_in_2021(layer, modern):
    assert type(layer) not in counted_types("2021") and type(layer) in counted_types("modern")
    assert count_complexity(layer, X, "2021").macs == 0
    assert count_complexity(layer, X, "modern").macs == modern


def test_relu_family_ignored_in_2021_only():
    model = nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), nn.ReLU(), nn.ReLU6(), nn.LeakyReLU())
    conv, relu = 8 * 8 * 3 * 4, 4 * 8 * 8
    assert count_complexity(model, X, "2021").macs == conv
    # modern: nn.ReLU is counted twice (its hook and the patched F.relu), ReLU6 and LeakyReLU once
    assert count_complexity(model, X, "modern").macs == conv + 2 * relu + relu + relu == 1_792


def test_multihead_attention_is_refused_under_2021_naming_its_counter():
    model = nn.Sequential(nn.Flatten(2), Attention())
    first = static_check(model, profile="2021")[0][0]
    assert (first.module, first.module_type, first.op) == ("1.attn", "MultiheadAttention", "profile")
    assert "ptflops 0.6.4" in first.reason and 'set profile = "modern"' in first.reason
    assert all(v.op != "profile" for v in static_check(model, profile="modern")[0])


def test_the_2021_tracer_treats_attention_products_as_uncounted_compute():
    model = nn.Sequential(nn.Flatten(2), Attention()).eval()
    found = {}
    for profile in ("2021", "modern"):
        tracer = Tracer(model, profile)
        with tracer.tracing(X) as trace:
            model(X)
        found[profile] = [v for v in trace.violations if "outside any counted layer" in v.reason]
    assert found["2021"] and all(v.module_type == "MultiheadAttention" and v.uncounted_macs > 0 for v in found["2021"])
    assert found["modern"] == []


class Attention(nn.Module):
    """Self-attention over the 64 pixels of X, 3 features each (embed 3, 1 head)."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(3, 1, batch_first=True)

    def forward(self, x):
        tokens = x.transpose(1, 2)
        return self.attn(tokens, tokens, tokens, need_weights=False)[0]


def test_batchnorm_and_pool_rules():
    model = nn.Sequential(nn.BatchNorm2d(3), nn.MaxPool2d(2))
    assert count_complexity(model, X.clone(), "2021").macs == 2 * 3 * 64 + 3 * 64


def test_counts_one_image_only():
    with pytest.raises(CountingError, match="one image"):
        count_complexity(nn.Conv2d(3, 4, 1), torch.ones(2, 3, 8, 8), "2021")


def test_failing_forward_is_a_clear_error():
    class Broken(nn.Module):
        def forward(self, x):
            raise ValueError("shape mismatch somewhere")

    with pytest.raises(CountingError, match="shape mismatch somewhere"):
        count_complexity(Broken(), X, "2021")


def test_credited_macs_matches_the_count_per_layer():
    conv = nn.Conv2d(3, 4, 3, padding=1)
    out = conv(X)
    assert credited_macs(conv, (X,), out, "2021") == count_complexity(conv, X, "2021").macs
    assert credited_macs(nn.ReLU(), (out,), out, "2021") == 0


def test_norms_outside_the_2021_table_are_noted_as_uncounted():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GroupNorm(2, 4), nn.GELU())
    violations, notes = static_check(model, profile="2021")
    assert violations == []
    assert any("profile '2021' does not count (ptflops 0.6.4" in n and "GELU, GroupNorm" in n for n in notes)
    assert not any("does not count" in n for n in static_check(model, profile="modern")[1])
