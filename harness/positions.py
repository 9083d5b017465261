"""The structural rule: outside counted layers, arithmetic may not combine values taken from different positions of one tensor.

An emulated convolution or attention is a sum of shifted (rolled, sliced, padded,
gathered) copies of one tensor, each times a weight. Every tensor outside counted
layers carries *tags*: a set of (root, shift) pairs, where a root is a tensor that
came from outside (the model's input, a counted layer's output) and a shift the
sequence of position-changing ops applied to it since. Views that keep every
position (reshape, permute, a whole-range slice) and pure permutations (channel or
pixel shuffle) keep the tags; a shift op appends to each shift; any other op takes
the union of its inputs' tags. Arithmetic on two or more tensors, or a reduction,
whose inputs hold one root under two different shifts is refused. Weights, buffers
and constants carry no tags: only positions of input-dependent tensors count.

Example:
    >>> x = {(1, ())}
    >>> shifted = shift_tags(x, ("roll", 1, 2))
    >>> conflict([x, shifted])
    True
    >>> conflict([x, x]), conflict([shifted, {(2, ())}])
    (False, False)
"""
from __future__ import annotations

from itertools import chain

Tags = frozenset

_SLICING = frozenset("slice slice_copy narrow".split())
_SHIFTING = frozenset("""select select_copy roll flip constant_pad_nd pad reflection_pad1d reflection_pad2d
    reflection_pad3d replication_pad1d replication_pad2d replication_pad3d _pad_circular index index_select gather take
    unfold as_strided diagonal split split_with_sizes unbind chunk""".split())
ARITHMETIC_KINDS = frozenset({"pointwise", "reduce", "sort"})
"""Kinds (see `harness.op_costs`) that combine values; pointwise ones only with two or more tensor inputs."""


def shift_of(name: str, args: tuple, out_index: int) -> tuple | None:
    """The shift an op applies to its first input (None when it keeps every position).

    >>> import torch
    >>> x = torch.zeros(1, 2, 5, 5)
    >>> shift_of("slice", (x, 2, 0, 9223372036854775807, 1), 0) is None
    True
    >>> shift_of("slice", (x, 2, 1, 5, 1), 0)
    ('slice', 2, 1, 5, 1)
    """
    if name in _SLICING:
        x, dim = args[0], args[1] if len(args) > 1 else 0
        start = args[2] if len(args) > 2 and args[2] is not None else 0
        end = args[3] if len(args) > 3 and args[3] is not None else x.shape[dim]
        step = args[4] if len(args) > 4 else 1
        if name == "narrow":
            end = start + end
        size = x.shape[dim]
        start = start + size if start < 0 else start
        end = min(end + size if end < 0 else end, size)
        return None if (start == 0 and end == size and step == 1) else ("slice", dim, start, end, step)
    if name in _SHIFTING:
        plain = tuple(id(a) if hasattr(a, "shape") else _plain(a) for a in args[1:])
        if name in ("constant_pad_nd", "pad") and not any(args[1]):
            return None
        if name == "roll" and not any(args[1] if isinstance(args[1], (list, tuple)) else [args[1]]):
            return None
        return (name, plain, out_index)
    return None


def _plain(value):
    """An argument as a hashable key: numbers as they are, tensors (indices) by identity."""
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return id(value) if hasattr(value, "shape") else value


def shift_tags(tags: Tags, shift: tuple) -> Tags:
    """The tags of a shifted copy of a tensor with `tags`."""
    return frozenset((root, path + (shift,)) for root, path in tags)


def union(all_tags: list[Tags]) -> Tags:
    """The tags of an op's output that mixes its inputs without moving positions."""
    if len(all_tags) == 1:
        return all_tags[0]
    return frozenset(chain.from_iterable(all_tags))


def conflict(all_tags: list[Tags]) -> bool:
    """True when one root appears under two different shifts among `all_tags`."""
    seen: dict = {}
    for root, path in chain.from_iterable(all_tags):
        if seen.setdefault(root, path) != path:
            return True
    return False


SHIFT_OPS = _SLICING | _SHIFTING
"""Ops that may move positions (`shift_of` says whether one call does)."""
