"""MAC counting on tiny models, checked against hand-computed counts (ptflops' own test style)."""
import pytest
import torch
from torch import nn

from harness.complexity import count_complexity, credited_macs
from harness.errors import CountingError

X = torch.ones(1, 3, 8, 8)


@pytest.mark.parametrize("bias", [False, True])
def test_conv_with_and_without_bias(bias):
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=bias)
    expected = 8 * 8 * 3 * 3 * 3 * 4 + (4 * 8 * 8 if bias else 0)
    assert count_complexity(conv, X, "2021").macs == expected


def test_depthwise_conv_counts_one_input_channel_per_filter():
    conv = nn.Conv2d(3, 6, 3, padding=1, groups=3, bias=False)
    assert count_complexity(conv, X, "2021").macs == 8 * 8 * 3 * 3 * 1 * 6


def test_linear_without_bias_in_2021_with_bias_in_modern():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
    assert count_complexity(model, X, "2021").macs == 192 * 10
    assert count_complexity(model, X, "modern").macs == 192 * 10 + 10


def test_relu_family_ignored_in_2021_only():
    model = nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), nn.ReLU(), nn.ReLU6(), nn.LeakyReLU())
    conv = 8 * 8 * 3 * 4
    assert count_complexity(model, X, "2021").macs == conv
    assert count_complexity(model, X, "modern").macs > conv + 3 * 4 * 8 * 8 - 1


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
