"""The one wrapper around ptflops: counting profiles, credited MACs per layer call.

Nothing else in the harness imports ptflops. Two profiles:

- ``"2021"`` (the default, the original competition's rules): module hooks only
  (``count_functional=False``), the ReLU family ignored, ``nn.Linear`` without bias.
- ``"modern"``: ptflops 0.7.5's defaults (functional patching on, Linear with bias).

Example:
    >>> import torch
    >>> conv = torch.nn.Conv2d(3, 8, 3, bias=False)
    >>> count_complexity(conv, torch.zeros(1, 3, 10, 10), "2021").macs   # 8*8*9*3*8
    13824
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

from harness.errors import CountingError

PTFLOPS_VERSION = "0.7.5"
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


def linear_without_bias_hook(module, inputs, output) -> None:
    """ptflops 0.6's nn.Linear rule: in_features * out_features per row, no bias."""
    rows = int(np.prod(inputs[0].shape[:-1], dtype=np.int64))
    module.__flops__ += int(inputs[0].shape[-1] * output.shape[-1] * rows)


def _profile_options(profile: str) -> dict:
    if profile == "2021":
        return {
            "ignore_modules": list(IGNORED_2021),
            "custom_modules_hooks": {nn.Linear: linear_without_bias_hook},
            "backend_specific_config": {"count_functional": False},
        }
    if profile == "modern":
        return {"ignore_modules": [], "custom_modules_hooks": {}, "backend_specific_config": {"count_functional": True}}
    raise CountingError(f"unknown counting profile {profile!r}")


def counted_types(profile: str | None = None) -> frozenset[type]:
    """The layer types ptflops hooks under `profile` (matched by exact type); every type it knows when None.

    Both profiles hook the same types today (the 2021 profile credits the ReLU family 0).
    """
    if profile is not None:
        _profile_options(profile)  # an unknown profile is an error
    return frozenset(pytorch_ops.MODULES_MAPPING)


def module_mapping_snapshot() -> dict[type, Callable]:
    """A copy of ptflops' type -> hook table, to detect later tampering."""
    return dict(pytorch_ops.MODULES_MAPPING)


def is_counted(module: nn.Module, profile: str | None = None) -> bool:
    """True when ptflops hooks this module under `profile`: its exact type is in the table."""
    return type(module) in counted_types(profile)


def credit_hook(module: nn.Module, profile: str) -> Callable | None:
    """The ptflops hook that credits one call of `module` under `profile`, or None."""
    options = _profile_options(profile)
    if type(module) in options["ignore_modules"]:
        return None
    if type(module) in options["custom_modules_hooks"]:
        return options["custom_modules_hooks"][type(module)]
    return pytorch_ops.MODULES_MAPPING.get(type(module))


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
