"""The one wrapper around ptflops: counting profiles, credited MACs per layer call.

Only this module and the tamper snapshot (`harness.tamper.Snapshot`, which records ptflops' tables) import ptflops.
Two profiles, both run by the pinned ptflops 0.7.5 at batch size 1:

- ``"2021"`` (the default): exactly what ptflops 0.6.4, the version the 2021 organisers
  pinned, counted with their call (``ignore_modules=[ReLU, PReLU, ELU, LeakyReLU, ReLU6]``,
  batch size 1): 0.6.4's module table (`TABLE_2021`) and its formulas. Module hooks only.
  Layers outside that table (LayerNorm, GroupNorm, InstanceNorm, GELU,
  MultiheadAttention, ...) count 0; Linear counts its bias once per call
  (``prod(input.shape) * out + out``); ConvTranspose counts at the output positions.
- ``"modern"``: ptflops 0.7.5's defaults (its whole table, functional patching on).

`harness.config.PROFILES_VERSION` numbers these definitions; every leaderboard row records it.

Example:
    >>> import torch
    >>> conv = torch.nn.Conv2d(3, 8, 3, bias=False)
    >>> count_complexity(conv, torch.zeros(1, 3, 10, 10), "2021").macs   # 8*8*9*3*8
    13824
    >>> sorted(t.__name__ for t in counted_types("modern") - counted_types("2021"))[:4]
    ['DeformConv2d', 'GELU', 'GroupNorm', 'InstanceNorm1d']
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
import ptflops
import torch
from ptflops import pytorch_ops
from torch import nn

from harness.config import PROFILES
from harness.errors import CountingError

COUNTER = {"2021": "ptflops 0.6.4, the 2021 competition's counter", "modern": "ptflops 0.7.5"}
IGNORED_2021 = (nn.ReLU, nn.PReLU, nn.ELU, nn.LeakyReLU, nn.ReLU6)
MAC_BEARING = (
    nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
    nn.Linear, nn.RNN, nn.GRU, nn.LSTM, nn.RNNCell, nn.GRUCell, nn.LSTMCell, nn.MultiheadAttention,
)
"""Counted layer types that do multiply-accumulates (a subclass of these counts 0)."""


@dataclass(frozen=True)
class Complexity:
    """What ptflops says of a model at batch size 1 under one profile."""

    macs: int
    params: int
    profile: str


def linear_hook_064(module, inputs, output) -> None:
    """ptflops 0.6.4's nn.Linear rule: every input element times out_features, plus the bias once."""
    out = output.shape[-1]
    module.__flops__ += int(np.prod(inputs[0].shape) * out + (out if module.bias is not None else 0))


def conv_transpose_hook_064(module, inputs, output) -> None:
    """ptflops 0.6.4's rule for ConvTranspose: its convolution rule, at the output positions."""
    batch = inputs[0].shape[0]
    per_position = int(np.prod(module.kernel_size)) * module.in_channels * (module.out_channels // module.groups)
    positions = batch * int(np.prod(output.shape[2:]))
    bias = module.out_channels * positions if module.bias is not None else 0
    module.__flops__ += int(per_position * positions + bias)


_SAME_IN_064 = (
    nn.Conv1d, nn.Conv2d, nn.Conv3d, *IGNORED_2021,
    nn.MaxPool1d, nn.AvgPool1d, nn.MaxPool2d, nn.AvgPool2d, nn.MaxPool3d, nn.AvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool3d, nn.AdaptiveAvgPool3d, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d,
    nn.Upsample, nn.RNN, nn.GRU, nn.LSTM, nn.RNNCell, nn.LSTMCell, nn.GRUCell,
)
TABLE_2021: dict[type, Callable] = {
    **{t: pytorch_ops.MODULES_MAPPING[t] for t in _SAME_IN_064},
    nn.Linear: linear_hook_064,
    nn.ConvTranspose1d: conv_transpose_hook_064,
    nn.ConvTranspose2d: conv_transpose_hook_064,
    nn.ConvTranspose3d: conv_transpose_hook_064,
}
"""ptflops 0.6.4's module table: 0.7.5's hook where 0.6.4's formula is the same, else 0.6.4's rule.

0.6.4 sums every counted module, children of a counted module included, where 0.7.5 stops
at a counted module; the verifier rejects counted layers with children, so no accepted
model tells the two apart.
"""


def _table(profile: str) -> dict[type, Callable]:
    if profile == "2021":
        return TABLE_2021
    if profile == "modern":
        return pytorch_ops.MODULES_MAPPING
    raise CountingError(f"unknown counting profile {profile!r} (known: {', '.join(PROFILES)})")


def _profile_options(profile: str) -> dict:
    table = _table(profile)
    if profile == "2021":
        outside = [t for t in pytorch_ops.MODULES_MAPPING if t not in table]
        return {
            "ignore_modules": list(IGNORED_2021) + outside,
            "custom_modules_hooks": {t: hook for t, hook in table.items() if pytorch_ops.MODULES_MAPPING.get(t) is not hook},
            "backend_specific_config": {"count_functional": False},
        }
    return {"ignore_modules": [], "custom_modules_hooks": {}, "backend_specific_config": {"count_functional": True}}


def counted_types(profile: str | None = None) -> frozenset[type]:
    """The layer types `profile` counts (matched by exact type); every type either profile counts when None.

    >>> nn.LayerNorm in counted_types("modern"), nn.LayerNorm in counted_types("2021")
    (True, False)
    """
    if profile not in _COUNTED:
        _table(profile)  # raises for an unknown profile
    return _COUNTED[profile]


_COUNTED: dict[str | None, frozenset[type]] = {
    "2021": frozenset(TABLE_2021),
    "modern": frozenset(pytorch_ops.MODULES_MAPPING),
    None: frozenset(pytorch_ops.MODULES_MAPPING) | frozenset(TABLE_2021),
}
"""Taken at import, before any submission code runs; the verifier looks these up per module call."""


def module_mapping_snapshot() -> dict[type, Callable]:
    """A copy of ptflops' type -> hook table, to detect later tampering."""
    return dict(pytorch_ops.MODULES_MAPPING)


def is_counted(module: nn.Module, profile: str | None = None) -> bool:
    """True when `profile` counts this module (its exact type is in the profile's table).

    With no profile: when any profile counts it.
    """
    return type(module) in counted_types(profile)


def uncounted_reason(module: nn.Module, profile: str) -> str | None:
    """Why a layer that another profile counts is not counted under `profile`, or None.

    >>> uncounted_reason(nn.MultiheadAttention(16, 2), "2021")[:60]
    'MultiheadAttention is not in the table of ptflops 0.6.4, the'
    """
    if is_counted(module, profile) or not is_counted(module):
        return None
    others = [p for p in PROFILES if p != profile and is_counted(module, p)]
    return (f"{type(module).__name__} is not in the table of {COUNTER[profile]}: profile {profile!r} counts it as 0 MACs"
            + (f"; profile {others[0]!r} ({COUNTER[others[0]]}) counts it" if others else ""))


def credit_hook(module: nn.Module, profile: str) -> Callable | None:
    """The hook that credits one call of `module` under `profile`, or None."""
    if profile == "2021" and type(module) in IGNORED_2021:
        return None
    return _table(profile).get(type(module))


class _Tally:
    """Stands in for a module so that a ptflops hook can run without touching it."""

    def __init__(self, module: nn.Module):
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "__flops__", 0)

    def __getattr__(self, name):
        return getattr(object.__getattribute__(self, "_module"), name)


def credited_macs(module: nn.Module, inputs: tuple, output, profile: str) -> int:
    """MACs ptflops credits for one call of `module` with these inputs and output."""
    hook = credit_hook(module, profile)
    if hook is None:
        return 0
    tally = _Tally(module)
    hook(tally, inputs, output)
    return int(tally.__flops__)


def counts_functional(profile: str) -> bool:
    """True when `profile` also counts functional calls (F.relu, torch.matmul, ...) besides layer hooks."""
    return bool(_profile_options(profile)["backend_specific_config"]["count_functional"])


def count_complexity(model: nn.Module, example: torch.Tensor, profile: str, functional: bool = True) -> Complexity:
    """Count `model` with ptflops on `example` (a real preprocessed batch of one image).

    `functional=False` leaves out the functional calls a profile counts, keeping only
    what the layers' hooks credit. Raises CountingError with ptflops' own exception
    message when counting fails.
    """
    if example.ndim != 4 or example.shape[0] != 1:
        raise CountingError(f"MACs are counted on one image N=1 x C x H x W, got shape {tuple(example.shape)}")
    options = _profile_options(profile)
    if not functional:
        options["backend_specific_config"] = {"count_functional": False}
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
        try:
            macs, params = ptflops.get_model_complexity_info(
                model,
                tuple(example.shape[1:]),
                print_per_layer_stat=False,
                as_strings=False,
                input_constructor=lambda _shape: example,
                verbose=False,
                backend="pytorch",
                **options,
            )
        except Exception as e:  # ptflops itself failed outside its own try block
            raise CountingError(f"ptflops could not count the model: {type(e).__name__}: {e}") from None
    if macs is None:
        reason = next(
            (line.strip() for line in captured.getvalue().splitlines() if line.startswith("<class")),
            "the forward pass raised",
        )
        raise CountingError(f"ptflops could not count the model: {reason}")
    return Complexity(macs=int(macs), params=int(params), profile=profile)
