"""The models whose MACs the golden file records, one per layer type of either ptflops table.

Every model takes one image, 1 x 3 x 8 x 8 (the seed ShuffleNets 1 x 3 x 80 x 80), as the
harness counts it; `Shaped` turns the image into what the layer wants (a sequence, a volume,
rows of features). Counts depend on shapes only, not on weights or pixel values.
Used by `scripts/golden_ptflops.py` (which counts them with the real ptflops 0.6.4 and
0.7.5) and by `tests/test_golden.py` (which counts them with harness.complexity).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

IMAGE = (3, 8, 8)


class Shaped(nn.Module):
    """One layer fed the 1 x 3 x 8 x 8 image reshaped as `shape` says; returns its first output."""

    def __init__(self, layer: nn.Module, shape: str = "image"):
        super().__init__()
        self.layer, self.shape = layer, shape

    def forward(self, x):
        if self.shape == "signal":       # 1 x 3 x 64
            x = x.flatten(2)
        elif self.shape == "volume":     # 1 x 3 x 4 x 4 x 4
            x = x.reshape(1, 3, 4, 4, 4)
        elif self.shape == "vector":     # 1 x 192
            x = x.flatten(1)
        elif self.shape == "tokens":     # 1 x 64 x 3 (batch, sequence, features)
            x = x.flatten(2).transpose(1, 2)
        elif self.shape == "rows":       # 64 x 3 (a batch of 64 rows, as RNN cells take)
            x = x.flatten(2).transpose(1, 2)[0]
        if isinstance(self.layer, nn.MultiheadAttention):
            return self.layer(x, x, x, need_weights=False)[0]
        out = self.layer(x)
        return out[0] if isinstance(out, tuple) else out


def _layers() -> dict[str, tuple[nn.Module, str]]:
    return {
        # convolutions
        "conv1d": (nn.Conv1d(3, 6, 3, padding=1), "signal"),
        "conv1d_nobias": (nn.Conv1d(3, 6, 3, bias=False), "signal"),
        "conv1d_groups": (nn.Conv1d(3, 6, 3, groups=3), "signal"),
        "conv2d": (nn.Conv2d(3, 6, 3, padding=1), "image"),
        "conv2d_nobias_stride2": (nn.Conv2d(3, 6, 3, stride=2, bias=False), "image"),
        "conv2d_groups": (nn.Conv2d(3, 6, 3, groups=3), "image"),
        "conv2d_depthwise_nobias": (nn.Conv2d(3, 3, 3, padding=1, groups=3, bias=False), "image"),
        "conv3d": (nn.Conv3d(3, 6, 3, padding=1), "volume"),
        "conv3d_nobias": (nn.Conv3d(3, 6, 2, bias=False), "volume"),
        "conv3d_groups": (nn.Conv3d(3, 6, 3, groups=3), "volume"),
        "conv_transpose1d": (nn.ConvTranspose1d(3, 6, 3, stride=2), "signal"),
        "conv_transpose1d_nobias": (nn.ConvTranspose1d(3, 6, 2, stride=2, bias=False), "signal"),
        "conv_transpose1d_groups": (nn.ConvTranspose1d(3, 6, 3, groups=3), "signal"),
        "conv_transpose2d": (nn.ConvTranspose2d(3, 8, 2, stride=2), "image"),
        "conv_transpose2d_nobias": (nn.ConvTranspose2d(3, 6, 3, stride=2, padding=1, bias=False), "image"),
        "conv_transpose2d_groups": (nn.ConvTranspose2d(3, 6, 3, groups=3), "image"),
        "conv_transpose3d": (nn.ConvTranspose3d(3, 6, 2, stride=2), "volume"),
        "conv_transpose3d_nobias": (nn.ConvTranspose3d(3, 6, 3, bias=False), "volume"),
        "conv_transpose3d_groups": (nn.ConvTranspose3d(3, 6, 3, groups=3), "volume"),
        # fully connected, on rows (2-d) and on a sequence (3-d)
        "linear_2d": (nn.Linear(192, 10), "vector"),
        "linear_2d_nobias": (nn.Linear(192, 10, bias=False), "vector"),
        "linear_3d": (nn.Linear(3, 5), "tokens"),
        "linear_3d_nobias": (nn.Linear(3, 5, bias=False), "tokens"),
        # normalisation
        "batchnorm1d": (nn.BatchNorm1d(3), "signal"),
        "batchnorm2d": (nn.BatchNorm2d(3), "image"),
        "batchnorm2d_no_affine": (nn.BatchNorm2d(3, affine=False), "image"),
        "batchnorm3d": (nn.BatchNorm3d(3), "volume"),
        "layernorm": (nn.LayerNorm([3, 8, 8]), "image"),
        "layernorm_tokens": (nn.LayerNorm(3), "tokens"),
        "groupnorm": (nn.GroupNorm(3, 3), "image"),
        "instancenorm1d_affine": (nn.InstanceNorm1d(3, affine=True), "signal"),
        "instancenorm2d": (nn.InstanceNorm2d(3), "image"),
        "instancenorm2d_affine": (nn.InstanceNorm2d(3, affine=True), "image"),
        "instancenorm3d_affine": (nn.InstanceNorm3d(3, affine=True), "volume"),
        # activations
        "relu": (nn.ReLU(), "image"),
        "prelu": (nn.PReLU(), "image"),
        "elu": (nn.ELU(), "image"),
        "leaky_relu": (nn.LeakyReLU(), "image"),
        "relu6": (nn.ReLU6(), "image"),
        "gelu": (nn.GELU(), "image"),
        "silu": (nn.SiLU(), "image"),
        "hardswish": (nn.Hardswish(), "image"),
        "sigmoid": (nn.Sigmoid(), "image"),
        "tanh": (nn.Tanh(), "image"),
        "softmax": (nn.Softmax(dim=1), "image"),
        # pooling
        "maxpool1d": (nn.MaxPool1d(2), "signal"),
        "avgpool1d": (nn.AvgPool1d(2), "signal"),
        "maxpool2d": (nn.MaxPool2d(2), "image"),
        "avgpool2d": (nn.AvgPool2d(3, stride=1, padding=1), "image"),
        "maxpool3d": (nn.MaxPool3d(2), "volume"),
        "avgpool3d": (nn.AvgPool3d(2), "volume"),
        "adaptive_maxpool1d": (nn.AdaptiveMaxPool1d(4), "signal"),
        "adaptive_avgpool1d": (nn.AdaptiveAvgPool1d(4), "signal"),
        "adaptive_maxpool2d": (nn.AdaptiveMaxPool2d(2), "image"),
        "adaptive_avgpool2d": (nn.AdaptiveAvgPool2d(1), "image"),
        "adaptive_maxpool3d": (nn.AdaptiveMaxPool3d(2), "volume"),
        "adaptive_avgpool3d": (nn.AdaptiveAvgPool3d(1), "volume"),
        # upsampling
        "upsample_nearest": (nn.Upsample(scale_factor=2, mode="nearest"), "image"),
        "upsample_bilinear": (nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), "image"),
        # recurrent layers and cells
        "rnn": (nn.RNN(3, 4, batch_first=True), "tokens"),
        "rnn_two_layers_nobias": (nn.RNN(3, 4, num_layers=2, bias=False, batch_first=True), "tokens"),
        "gru": (nn.GRU(3, 4, batch_first=True), "tokens"),
        "gru_bidirectional": (nn.GRU(3, 4, bidirectional=True, batch_first=True), "tokens"),
        "lstm": (nn.LSTM(3, 4, batch_first=True), "tokens"),
        "lstm_two_layers": (nn.LSTM(3, 4, num_layers=2, batch_first=True), "tokens"),
        "rnn_cell": (nn.RNNCell(3, 4), "rows"),
        "gru_cell": (nn.GRUCell(3, 4), "rows"),
        "lstm_cell": (nn.LSTMCell(3, 4), "rows"),
        "lstm_cell_nobias": (nn.LSTMCell(3, 4, bias=False), "rows"),
        # attention
        "multihead_attention": (nn.MultiheadAttention(3, 1, batch_first=True), "tokens"),
    }


class Mixed(nn.Module):
    """Conv + GroupNorm + GELU, ConvTranspose, BatchNorm, AdaptiveAvgPool, LayerNorm, two Linear."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.GroupNorm(4, 16), nn.GELU(),
            nn.ConvTranspose2d(16, 8, 2, stride=2), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
        )
        self.norm = nn.LayerNorm(32)
        self.head = nn.Sequential(nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 9))

    def forward(self, x):
        return self.head(self.norm(self.features(x).flatten(1)))


class ShuffleUnit(nn.Module):
    """ShuffleNet v1 unit: 1x1 group conv, shuffle, 3x3 depthwise, 1x1 group conv; stride 2 concatenates an avg-pooled shortcut."""

    def __init__(self, inp: int, oup: int, groups: int, first_group: bool, stride: int):
        super().__init__()
        mid, self.stride = oup // 4, stride
        out = oup - inp if stride == 2 else oup
        self.reduce = nn.Sequential(nn.Conv2d(inp, mid, 1, groups=1 if first_group else groups, bias=False), nn.BatchNorm2d(mid), nn.ReLU())
        self.depthwise = nn.Sequential(nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid))
        self.shuffle = nn.ChannelShuffle(groups)
        self.expand = nn.Sequential(nn.Conv2d(mid, out, 1, groups=groups, bias=False), nn.BatchNorm2d(out))
        self.shortcut = nn.AvgPool2d(3, 2, 1) if stride == 2 else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.expand(self.shuffle(self.depthwise(self.reduce(x))))
        if self.stride == 1:
            return self.relu(y + x)
        return torch.cat((self.shortcut(x), self.relu(y)), 1)


def shufflenet_v1(repeats: tuple[int, int, int], linear_head: bool, num_classes: int = 9) -> nn.Module:
    """The seed team's ShuffleNet v1, groups 3, width 1/4 (stem 6, stages 60-120-240), for 80 x 80 images."""
    layers: list[nn.Module] = [nn.Conv2d(3, 6, 3, 2, 1, bias=False), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    inp = 6
    for stage, (count, channels) in enumerate(zip(repeats, (60, 120, 240))):
        for i in range(count):
            layers.append(ShuffleUnit(inp, channels, 3, first_group=stage == 0 and i == 0, stride=2 if i == 0 else 1))
            inp = channels
    layers.append(nn.AdaptiveAvgPool2d(1))
    head = [nn.Flatten(), nn.Linear(inp, num_classes)] if linear_head else [nn.Conv2d(inp, num_classes, 1, bias=False), nn.Flatten()]
    return nn.Sequential(*layers, *head)


def golden_models() -> dict[str, tuple[Callable[[], nn.Module], tuple[int, int, int]]]:
    """Name -> (builder of the model in eval mode, input C x H x W), in a fixed order."""
    models: dict[str, tuple[Callable[[], nn.Module], tuple[int, int, int]]] = {}
    for name in _layers():
        models[name] = (lambda name=name: Shaped(*_layers()[name]).eval(), IMAGE)
    models["mixed"] = (lambda: Mixed().eval(), IMAGE)
    for repeats in ((4, 8, 4), (2, 5, 2)):
        for head in ("conv", "linear"):
            tag = "-".join(map(str, repeats))
            models[f"shufflenet_v1_g3_w025_{tag}_{head}_head"] = (
                lambda repeats=repeats, head=head: shufflenet_v1(repeats, head == "linear").eval(), (3, 80, 80))
    return models


def example_input(shape: tuple[int, int, int]) -> torch.Tensor:
    """A fixed, seeded image batch of one, 1 x C x H x W."""
    return torch.randn((1, *shape), generator=torch.Generator().manual_seed(0))
