"""Honest: the 2021 organisers' MobileNetV3 baseline, a faithful small copy.

Modules as in bcaitech1/p4-opt-5-vibrhanium- (baseline/src/modules at 8a2489f): custom
HardSwish / HardSigmoid modules written with F.relu6, SqueezeExcitation gating with
`scale * input`, a subclass of nn.AdaptiveAvgPool2d as global pooling, and the layer
list of baseline/configs/model/mobilenetv3.yaml at width 0.5.
"""
import torch
from torch import nn
from torch.nn import functional as F

INPUT_SIZE = (32, 32)
WIDTH = 0.5


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def hard_sigmoid(x: torch.Tensor, inplace: bool = False):
    return x.add_(3.0).clamp_(0.0, 6.0).div_(6.0) if inplace else F.relu6(x + 3.0) / 6.0


class HardSigmoid(nn.Module):
    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return hard_sigmoid(x, self.inplace)


def hard_swish(x: torch.Tensor, inplace: bool = False):
    inner = F.relu6(x + 3.0).div_(6.0)
    return x.mul_(inner) if inplace else x.mul(inner)


class HardSwish(nn.Module):
    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return hard_swish(x, self.inplace)


def activation(name):
    if name is None:
        return nn.Identity()
    return getattr(nn, name)() if hasattr(nn, name) else {"HardSwish": HardSwish, "HardSigmoid": HardSigmoid}[name]()


class Conv(nn.Module):
    def __init__(self, in_channel, out_channels, kernel_size, stride=1, padding=None, groups=1, activation_name="ReLU"):
        super().__init__()
        self.conv = nn.Conv2d(in_channel, out_channels, kernel_size, stride, padding=padding or kernel_size // 2,
                              groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = activation(activation_name)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class SqueezeExcitation(nn.Module):
    def __init__(self, input_channels: int, squeeze_factor: int = 4):
        super().__init__()
        squeeze_channels = make_divisible(input_channels // squeeze_factor, 8)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.hardsigmoid = HardSigmoid()

    def _scale(self, input, inplace):
        scale = F.adaptive_avg_pool2d(input, 1)
        return self.hardsigmoid(self.fc2(self.relu(self.fc1(scale))))

    def forward(self, input):
        return self._scale(input, True) * input


class InvertedResidualv3(nn.Module):
    def __init__(self, inp, hidden_dim, oup, kernel_size, stride, use_se, use_hs):
        super().__init__()
        self.identity = stride == 1 and inp == oup
        act = HardSwish if use_hs else (lambda: nn.ReLU(inplace=True))
        depthwise = [nn.Conv2d(hidden_dim, hidden_dim, kernel_size, stride, (kernel_size - 1) // 2, groups=hidden_dim, bias=False),
                     nn.BatchNorm2d(hidden_dim)]
        se = SqueezeExcitation(hidden_dim) if use_se else nn.Identity()
        project = [nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup)]
        if inp == hidden_dim:
            self.conv = nn.Sequential(*depthwise, act(), se, *project)
        else:
            self.conv = nn.Sequential(nn.Conv2d(inp, hidden_dim, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden_dim), act(),
                                      *depthwise, se, act(), *project)

    def forward(self, x):
        return x + self.conv(x) if self.identity else self.conv(x)


class GlobalAvgPool(nn.AdaptiveAvgPool2d):
    def __init__(self, output_size=1):
        super().__init__(output_size=output_size)


class Linear(nn.Module):
    def __init__(self, in_channel, out_channel, activation_name=None):
        super().__init__()
        self.linear = nn.Linear(in_channel, out_channel)
        self.activation = activation(activation_name)

    def forward(self, x):
        return self.activation(self.linear(x))


BLOCKS = [  # kernel, expansion, out, SE, HS, stride (mobilenetv3.yaml)
    (3, 1, 16, 0, 0, 1), (3, 4, 24, 0, 0, 2), (3, 3, 24, 0, 0, 1), (5, 3, 40, 1, 0, 2), (5, 3, 40, 1, 0, 1),
    (5, 3, 40, 1, 0, 1), (3, 6, 80, 0, 1, 2), (3, 2.5, 80, 0, 1, 1), (3, 2.3, 80, 0, 1, 1), (3, 2.3, 80, 0, 1, 1),
    (3, 6, 112, 1, 1, 1), (3, 6, 112, 1, 1, 1), (5, 6, 160, 1, 1, 2), (5, 6, 160, 1, 1, 1), (5, 6, 160, 1, 1, 1),
]


class Model(nn.Module):
    def __init__(self, num_classes: int = 9):
        super().__init__()
        channels = make_divisible(16 * WIDTH)
        layers = [Conv(3, channels, 3, 2, None, 1, "HardSwish")]
        for k, t, c, se, hs, s in BLOCKS:
            out = make_divisible(c * WIDTH)
            layers.append(InvertedResidualv3(channels, make_divisible(channels * t), out, k, s, se, hs))
            channels = out
        head = make_divisible(960 * WIDTH)
        layers += [Conv(channels, head, 1, 1), GlobalAvgPool(), Conv(head, make_divisible(1280 * WIDTH), 1, 1),
                   nn.Flatten(), Linear(make_divisible(1280 * WIDTH), num_classes)]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


def build_model():
    torch.manual_seed(0)
    return Model().eval()
