"""How each counted layer type is made again from the arguments of its exported op.

`REBUILDERS` maps (layer class path, aten op) to a `Rebuilder`: `harness.graph` calls
its `make` with the op's arguments, weights filled in, and gets a fresh instance of
that exact `torch.nn` class. Only our code runs here; the arguments are plain values
and tensors read from the export.

Example:
    >>> spec = REBUILDERS[("torch.nn.modules.linear.Linear", "aten.linear.default")]
    >>> layer = spec.make([None, torch.zeros(9, 4), torch.zeros(9)], {}, None)
    >>> type(layer).__name__, layer.in_features, layer.out_features
    ('Linear', 4, 9)
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Callable

import torch
from torch import fx, nn

from harness.errors import UnsupportedGraph

def _pair(v, n=2):
    return tuple(v) if isinstance(v, (list, tuple)) else (v,) * n


def _conv(cls, dims):
    def make(args, kwargs, tensor):
        x, weight, bias, stride, padding, dilation, groups = (list(args) + [None, 1, 0, 1, 1][len(args) - 2:])[:7]
        groups = int(groups)
        module = cls(weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]), stride=_pair(stride, dims),
                     padding=padding if isinstance(padding, str) else _pair(padding, dims), dilation=_pair(dilation, dims),
                     groups=groups, bias=bias is not None)
        module.weight = nn.Parameter(weight)
        if bias is not None:
            module.bias = nn.Parameter(bias)
        return module
    return make


def _linear(args, kwargs, tensor):
    weight, bias = args[1], args[2] if len(args) > 2 else None
    module = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    module.weight = nn.Parameter(weight)
    if bias is not None:
        module.bias = nn.Parameter(bias)
    return module


def _batch_norm(cls):
    def make(args, kwargs, tensor):
        _x, weight, bias, mean, var, _training, momentum, eps = args[:8]
        if mean is None or var is None:
            raise UnsupportedGraph("a BatchNorm layer without running statistics cannot be rebuilt")
        module = cls(mean.shape[0], eps=eps, momentum=momentum, affine=weight is not None)
        if weight is not None:
            module.weight, module.bias = nn.Parameter(weight), nn.Parameter(bias)
        module.running_mean, module.running_var = mean, var
        return module.eval()
    return make


def _pool(cls, names):
    def make(args, kwargs, tensor):
        values = dict(zip(names, args[1:]))
        values.update(kwargs)
        if "stride" in values and values["stride"] in ([], None):
            values.pop("stride")
        return cls(**values)
    return make


def _activation(cls, names=()):
    def make(args, kwargs, tensor):
        values = dict(zip(names, args[1:]))
        values.update(kwargs)
        return cls(**values)
    return make


def _hardtanh(args, kwargs, tensor):
    low, high = (list(args[1:]) + [-1.0, 1.0][len(args) - 1:])[:2]
    if (low, high) != (0.0, 6.0):
        raise UnsupportedGraph("a ReLU6 layer whose hardtanh is not (0, 6)")
    return nn.ReLU6()


def _prelu(args, kwargs, tensor):
    module = nn.PReLU(args[1].numel())
    module.weight = nn.Parameter(args[1])
    return module


def _layer_norm(args, kwargs, tensor):
    _x, shape, weight, bias, eps = (list(args) + [None, None, 1e-5][len(args) - 2:])[:5]
    module = nn.LayerNorm(tuple(shape), eps=eps, elementwise_affine=weight is not None, bias=bias is not None)
    if weight is not None:
        module.weight = nn.Parameter(weight)
    if bias is not None:
        module.bias = nn.Parameter(bias)
    return module


def _group_norm(args, kwargs, tensor):
    _x, groups, weight, bias, eps = (list(args) + [None, None, 1e-5][len(args) - 2:])[:5]
    module = nn.GroupNorm(groups, tensor.shape[1], eps=eps, affine=weight is not None)
    if weight is not None:
        module.weight, module.bias = nn.Parameter(weight), nn.Parameter(bias)
    return module


def _conv_transpose(cls, dims):
    def make(args, kwargs, tensor):
        x, weight, bias, stride, padding, output_padding, groups, dilation = (list(args) + [None, 1, 0, 0, 1, 1][len(args) - 2:])[:8]
        groups = int(groups)
        module = cls(weight.shape[0], weight.shape[1] * groups, tuple(weight.shape[2:]), stride=_pair(stride, dims),
                     padding=_pair(padding, dims), output_padding=_pair(output_padding, dims), groups=groups,
                     bias=bias is not None, dilation=_pair(dilation, dims))
        module.weight = nn.Parameter(weight)
        if bias is not None:
            module.bias = nn.Parameter(bias)
        return module
    return make


def _upsample(mode):
    def make(args, kwargs, tensor):
        if mode == "nearest":
            _x, size, scales = (list(args) + [None, None][len(args) - 1:])[:3]
            align = None
        else:
            _x, size, align, scales = (list(args) + [None, False, None][len(args) - 1:])[:4]
        if (size is None) == (scales is None):
            raise UnsupportedGraph("an Upsample layer needs exactly one of size and scale factor")
        return nn.Upsample(size=tuple(size) if size is not None else None,
                           scale_factor=tuple(float(v) for v in scales) if scales is not None else None,
                           mode=mode, align_corners=align)
    return make


def _instance_norm(cls):
    def make(args, kwargs, tensor):
        _x, weight, bias, mean, var, use_input_stats, momentum, eps = args[:8]
        if not use_input_stats or mean is not None:
            raise UnsupportedGraph("an InstanceNorm layer with running statistics cannot be rebuilt")
        if weight is None:
            raise UnsupportedGraph("an InstanceNorm layer without affine weights cannot be rebuilt (its channel count is unknown)")
        module = cls(weight.shape[0], eps=eps, momentum=momentum, affine=True)
        module.weight, module.bias = nn.Parameter(weight), nn.Parameter(bias)
        return module
    return make


def _adaptive_max_pool(cls):
    def make(args, kwargs, tensor):  # aten returns (values, indices): so does the rebuilt layer, for the getitems after it
        return cls(args[1], return_indices=True)
    return make


def _rnn_weights(module: nn.Module, params: list) -> nn.Module:
    names = getattr(module, "_flat_weights_names", ["weight_ih", "weight_hh", "bias_ih", "bias_hh"][:len(params)])
    if len(params) != len(names):
        raise UnsupportedGraph(f"a {type(module).__name__} layer with {len(params)} weight tensors cannot be rebuilt")
    for name, weight in zip(names, params):
        setattr(module, name, nn.Parameter(weight))
    return module


def _rnn(cls, gates, nonlinearity=None):
    def make(args, kwargs, tensor):
        _x, _hx, params, has_biases, num_layers, dropout, _train, bidirectional, batch_first = args[:9]
        per_layer = len(params) // (num_layers * (2 if bidirectional else 1))
        projected = per_layer in (3, 5)  # weight_hr after the ih/hh weights (and biases)
        proj_size = params[per_layer - 1].shape[0] if projected else 0
        extra = {"nonlinearity": nonlinearity} if nonlinearity else {}
        extra.update({"proj_size": proj_size} if proj_size else {})
        module = cls(params[0].shape[1], params[0].shape[0] // gates, num_layers=num_layers, bias=has_biases,
                     batch_first=batch_first, dropout=dropout, bidirectional=bidirectional, **extra)
        return _rnn_weights(module, params).eval()
    return make


def _rnn_cell(cls, gates, nonlinearity=None):
    def make(args, kwargs, tensor):
        _x, _hx, w_ih, w_hh, b_ih, b_hh = (list(args) + [None, None][len(args) - 4:])[:6]
        extra = {"nonlinearity": nonlinearity} if nonlinearity else {}
        module = cls(w_ih.shape[1], w_ih.shape[0] // gates, bias=b_ih is not None, **extra)
        return _rnn_weights(module, [w for w in (w_ih, w_hh, b_ih, b_hh) if w is not None])
    return make


def _lstm_result(graph: fx.Graph, call: fx.Node):
    """aten.lstm returns (output, h, c); nn.LSTM returns (output, (h, c))."""
    state = graph.call_function(operator.getitem, (call, 1))
    return (graph.call_function(operator.getitem, (call, 0)), graph.call_function(operator.getitem, (state, 0)),
            graph.call_function(operator.getitem, (state, 1)))


def _deform_conv(args, kwargs, tensor):
    from torchvision.ops import DeformConv2d

    (_x, weight, _offset, _mask, bias, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups, _offset_groups,
     use_mask) = args[:14]
    if use_mask:
        raise UnsupportedGraph("a DeformConv2d layer called with a mask cannot be rebuilt")
    module = DeformConv2d(weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]), stride=(stride_h, stride_w),
                          padding=(pad_h, pad_w), dilation=(dil_h, dil_w), groups=groups, bias=bias is not None)
    module.weight = nn.Parameter(weight)
    if bias is not None:
        module.bias = nn.Parameter(bias)
    return module


@dataclass(frozen=True)
class Rebuilder:
    """How one counted layer's op becomes the layer: `make(args, kwargs, hint) -> module`.

    `inputs` are the op's arguments that stay graph values and are passed to the layer
    (the rest are its weights and settings); `result` maps the layer's output to what
    the op's own output was, when the two are shaped differently; `ignored` arguments
    may be computed in the graph but the layer makes its own (a default mask).
    """

    make: Callable
    inputs: tuple[int, ...] = (0,)
    result: Callable | None = None
    ignored: tuple[int, ...] = ()


P = "torch.nn.modules."
_POOL_MAX = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
_POOL_AVG = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
REBUILDERS = {  # (layer class path, op name) -> how to make the layer from the op's arguments
    (P + "conv.Conv1d", "aten.conv1d.default"): _conv(nn.Conv1d, 1),
    (P + "conv.Conv1d", "aten.conv1d.padding"): _conv(nn.Conv1d, 1),
    (P + "conv.Conv2d", "aten.conv2d.default"): _conv(nn.Conv2d, 2),
    (P + "conv.Conv2d", "aten.conv2d.padding"): _conv(nn.Conv2d, 2),
    (P + "conv.Conv3d", "aten.conv3d.default"): _conv(nn.Conv3d, 3),
    (P + "conv.Conv3d", "aten.conv3d.padding"): _conv(nn.Conv3d, 3),
    (P + "linear.Linear", "aten.linear.default"): _linear,
    (P + "batchnorm.BatchNorm1d", "aten.batch_norm.default"): _batch_norm(nn.BatchNorm1d),
    (P + "batchnorm.BatchNorm2d", "aten.batch_norm.default"): _batch_norm(nn.BatchNorm2d),
    (P + "batchnorm.BatchNorm3d", "aten.batch_norm.default"): _batch_norm(nn.BatchNorm3d),
    (P + "activation.ReLU", "aten.relu.default"): _activation(nn.ReLU),
    (P + "activation.ReLU", "aten.relu_.default"): _activation(nn.ReLU),
    (P + "activation.ReLU6", "aten.hardtanh.default"): _hardtanh,
    (P + "activation.ReLU6", "aten.hardtanh_.default"): _hardtanh,
    (P + "activation.LeakyReLU", "aten.leaky_relu.default"): _activation(nn.LeakyReLU, ("negative_slope",)),
    (P + "activation.LeakyReLU", "aten.leaky_relu_.default"): _activation(nn.LeakyReLU, ("negative_slope",)),
    (P + "activation.ELU", "aten.elu.default"): _activation(nn.ELU, ("alpha",)),
    (P + "activation.ELU", "aten.elu_.default"): _activation(nn.ELU, ("alpha",)),
    (P + "activation.GELU", "aten.gelu.default"): _activation(nn.GELU),
    (P + "activation.PReLU", "aten.prelu.default"): _prelu,
    (P + "pooling.MaxPool1d", "aten.max_pool1d.default"): _pool(nn.MaxPool1d, _POOL_MAX),
    (P + "pooling.MaxPool2d", "aten.max_pool2d.default"): _pool(nn.MaxPool2d, _POOL_MAX),
    (P + "pooling.MaxPool3d", "aten.max_pool3d.default"): _pool(nn.MaxPool3d, _POOL_MAX),
    (P + "pooling.AvgPool1d", "aten.avg_pool1d.default"): _pool(nn.AvgPool1d, _POOL_AVG[:5]),
    (P + "pooling.AvgPool2d", "aten.avg_pool2d.default"): _pool(nn.AvgPool2d, _POOL_AVG),
    (P + "pooling.AvgPool3d", "aten.avg_pool3d.default"): _pool(nn.AvgPool3d, _POOL_AVG),
    (P + "pooling.AdaptiveAvgPool1d", "aten.adaptive_avg_pool1d.default"): _pool(nn.AdaptiveAvgPool1d, ("output_size",)),
    (P + "pooling.AdaptiveAvgPool2d", "aten.adaptive_avg_pool2d.default"): _pool(nn.AdaptiveAvgPool2d, ("output_size",)),
    (P + "pooling.AdaptiveAvgPool3d", "aten.adaptive_avg_pool3d.default"): _pool(nn.AdaptiveAvgPool3d, ("output_size",)),
    (P + "pooling.AdaptiveMaxPool1d", "aten.adaptive_max_pool1d.default"): _adaptive_max_pool(nn.AdaptiveMaxPool1d),
    (P + "pooling.AdaptiveMaxPool2d", "aten.adaptive_max_pool2d.default"): _adaptive_max_pool(nn.AdaptiveMaxPool2d),
    (P + "pooling.AdaptiveMaxPool3d", "aten.adaptive_max_pool3d.default"): _adaptive_max_pool(nn.AdaptiveMaxPool3d),
    (P + "conv.ConvTranspose1d", "aten.conv_transpose1d.default"): _conv_transpose(nn.ConvTranspose1d, 1),
    (P + "conv.ConvTranspose2d", "aten.conv_transpose2d.input"): _conv_transpose(nn.ConvTranspose2d, 2),
    (P + "conv.ConvTranspose3d", "aten.conv_transpose3d.input"): _conv_transpose(nn.ConvTranspose3d, 3),
    (P + "upsampling.Upsample", "aten.upsample_nearest1d.vec"): _upsample("nearest"),
    (P + "upsampling.Upsample", "aten.upsample_nearest2d.vec"): _upsample("nearest"),
    (P + "upsampling.Upsample", "aten.upsample_nearest3d.vec"): _upsample("nearest"),
    (P + "upsampling.Upsample", "aten.upsample_linear1d.vec"): _upsample("linear"),
    (P + "upsampling.Upsample", "aten.upsample_bilinear2d.vec"): _upsample("bilinear"),
    (P + "upsampling.Upsample", "aten.upsample_bicubic2d.vec"): _upsample("bicubic"),
    (P + "upsampling.Upsample", "aten.upsample_trilinear3d.vec"): _upsample("trilinear"),
    (P + "instancenorm.InstanceNorm1d", "aten.instance_norm.default"): _instance_norm(nn.InstanceNorm1d),
    (P + "instancenorm.InstanceNorm2d", "aten.instance_norm.default"): _instance_norm(nn.InstanceNorm2d),
    (P + "instancenorm.InstanceNorm3d", "aten.instance_norm.default"): _instance_norm(nn.InstanceNorm3d),
    (P + "normalization.LayerNorm", "aten.layer_norm.default"): _layer_norm,
    (P + "normalization.GroupNorm", "aten.group_norm.default"): _group_norm,
    (P + "rnn.RNN", "aten.rnn_tanh.input"): Rebuilder(_rnn(nn.RNN, 1, "tanh"), (0, 1)),
    (P + "rnn.RNN", "aten.rnn_relu.input"): Rebuilder(_rnn(nn.RNN, 1, "relu"), (0, 1)),
    (P + "rnn.GRU", "aten.gru.input"): Rebuilder(_rnn(nn.GRU, 3), (0, 1)),
    (P + "rnn.LSTM", "aten.lstm.input"): Rebuilder(_rnn(nn.LSTM, 4), (0, 1), _lstm_result),
    (P + "rnn.RNNCell", "aten.rnn_tanh_cell.default"): Rebuilder(_rnn_cell(nn.RNNCell, 1, "tanh"), (0, 1)),
    (P + "rnn.RNNCell", "aten.rnn_relu_cell.default"): Rebuilder(_rnn_cell(nn.RNNCell, 1, "relu"), (0, 1)),
    (P + "rnn.GRUCell", "aten.gru_cell.default"): Rebuilder(_rnn_cell(nn.GRUCell, 3), (0, 1)),
    (P + "rnn.LSTMCell", "aten.lstm_cell.default"): Rebuilder(_rnn_cell(nn.LSTMCell, 4), (0, 1)),
    ("torchvision.ops.deform_conv.DeformConv2d", "torchvision.deform_conv2d.default"): Rebuilder(_deform_conv, (0, 2), ignored=(3,)),
}
REBUILDERS = {key: value if isinstance(value, Rebuilder) else Rebuilder(value) for key, value in REBUILDERS.items()}


def channels_hint(args: list, channels=None) -> torch.Tensor:
    """Group norm needs the channel count: the weight's, else the input's as the export recorded it."""
    weight = next((a for a in args[1:] if isinstance(a, torch.Tensor)), None)
    if weight is not None:
        return weight.new_empty((1, weight.shape[0]))
    valid = isinstance(channels, int) and not isinstance(channels, bool) and 0 < channels <= 1 << 20
    return torch.empty(1, channels if valid else 1)


PADDING_MODES = ("reflect", "circular", "replicate")
CONV_TYPES = {P + "conv.Conv1d": 1, P + "conv.Conv2d": 2, P + "conv.Conv3d": 3}
"""Convolutions whose non-zero `padding_mode` shows up as an `aten.pad` op inside the layer."""


def conv_padding(layer_type: str, args: list) -> tuple[str, list[int]] | None:
    """(mode, pads) of an `aten.pad` op that a Conv layer runs for its padding_mode; None when it is not one.

    >>> conv_padding(P + "conv.Conv2d", [{"$node": "x"}, [1, 1, 2, 2], "reflect"])
    ('reflect', [1, 1, 2, 2])
    """
    dims = CONV_TYPES.get(layer_type)
    if dims is None or len(args) < 3 or args[2] not in PADDING_MODES:
        return None
    pads = args[1]
    if not isinstance(pads, list) or len(pads) != 2 * dims or not all(isinstance(p, int) and p >= 0 for p in pads):
        return None
    return args[2], pads


def with_padding_mode(module: nn.Module, padding: tuple[str, list[int]] | None) -> nn.Module:
    """Give a rebuilt convolution the padding_mode and padding its `aten.pad` op applied."""
    if padding is None:
        return module
    mode, pads = padding
    dims = len(pads) // 2
    module.padding_mode = mode
    module.padding = tuple(pads[2 * (dims - 1 - d)] for d in range(dims))
    module._reversed_padding_repeated_twice = list(pads)
    return module
