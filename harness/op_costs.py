"""The one op table: what each aten op outside counted layers costs, and the allow-list it defines.

Charging follows what an op does, never where its operands came from (a Python float,
a constant, a factory tensor and a counted layer's output are operands like any other):

| kind | cost |
|---|---|
| `free` | 0: views, copies, casts, concatenation, padding, shuffles, constant factories |
| `pointwise` | output elements (any op torch tags pointwise, and the activations below) |
| `reduce` | input elements (sums, means, norms, pooling, argmax, ...) |
| `index` | output elements (index, gather, scatter, embedding, nearest upsampling) |
| `sort` | n log2 n over the sorted dimension |
| `mac` | the op's MACs: convolution, matmul and attention kernels, refused outside counted layers |

Some kinds carry a factor (a softmax does about four operations per element, a
bilinear upsample four per output). An aten op neither tagged pointwise, nor a view,
nor in `OP_TABLE` is refused: the table is also the clean worker's allow-list (no file
or storage ops, no scalar extraction, no data-dependent shapes).

Example:
    >>> op_kind("aten", "sort", pointwise=False, is_view=False)
    ('sort', 1)
    >>> op_kind("aten", "_local_scalar_dense", pointwise=False, is_view=False) is None
    True
    >>> op_cost(("reduce", 1), in_numel=100, out_numel=1, sorted_len=0)
    100
"""
from __future__ import annotations

import math

_FREE = """
    clone copy_ copy _to_copy to contiguous _unsafe_view detach alias lift_fresh lift_fresh_copy _assert_tensor_metadata
    _assert_scalar sym_size sym_numel sym_stride sym_storage_offset
    cat stack constant_pad_nd pad reflection_pad1d reflection_pad2d reflection_pad3d replication_pad1d replication_pad2d
    replication_pad3d _pad_circular flip roll repeat tile
    split split_with_sizes unbind chunk channel_shuffle native_channel_shuffle pixel_shuffle pixel_unshuffle
    squeeze_copy unsqueeze_copy permute_copy view_copy detach_copy transpose_copy expand_copy slice_copy select_copy t_copy
    zeros zeros_like ones ones_like empty empty_like full full_like fill fill_ zero_ scalar_tensor new_zeros new_empty
    new_ones new_full empty_strided empty_permuted dropout native_dropout feature_dropout alpha_dropout
"""
_POINTWISE = """
    hardswish hardswish_ hardsigmoid hardsigmoid_ hardtanh hardtanh_ silu silu_ gelu elu elu_ leaky_relu leaky_relu_
    relu relu_ relu6 _prelu_kernel prelu mish softplus masked_fill masked_fill_ where clamp clamp_ arange
"""
_REDUCE = """
    argmax argmin max min amax amin mean sum prod std var var_mean logsumexp norm linalg_vector_norm cumsum
    max_pool1d max_pool2d max_pool3d max_pool2d_with_indices max_pool3d_with_indices avg_pool1d avg_pool2d avg_pool3d
    _adaptive_avg_pool2d adaptive_avg_pool1d adaptive_avg_pool2d _adaptive_avg_pool3d adaptive_max_pool1d
    adaptive_max_pool2d adaptive_max_pool3d
"""
_INDEX = """
    index index_select gather scatter scatter_add scatter_reduce index_put index_add embedding take
    upsample_nearest1d upsample_nearest2d upsample_nearest3d _upsample_nearest_exact1d _upsample_nearest_exact2d
    _upsample_nearest_exact3d
"""
_FACTORED = {  # name -> (kind, operations per element)
    "_native_batch_norm_legit_no_training": ("reduce", 2), "native_batch_norm": ("reduce", 2),
    "_native_batch_norm_legit": ("reduce", 2), "batch_norm": ("reduce", 2),
    "native_layer_norm": ("reduce", 4), "native_group_norm": ("reduce", 4), "layer_norm": ("reduce", 4),
    "group_norm": ("reduce", 4),
    "_softmax": ("reduce", 4), "_log_softmax": ("reduce", 4), "softmax": ("reduce", 4), "log_softmax": ("reduce", 4),
    "_safe_softmax": ("reduce", 4),
    "upsample_linear1d": ("pointwise", 2), "upsample_bilinear2d": ("pointwise", 4),
    "_upsample_bilinear2d_aa": ("pointwise", 4), "upsample_trilinear3d": ("pointwise", 8),
    "upsample_bicubic2d": ("pointwise", 16), "_upsample_bicubic2d_aa": ("pointwise", 16),
    "sort": ("sort", 1), "topk": ("sort", 1),
}

OP_TABLE: dict[str, tuple[str, int]] = {
    **{name: ("free", 0) for name in _FREE.split()},
    **{name: ("pointwise", 1) for name in _POINTWISE.split()},
    **{name: ("reduce", 1) for name in _REDUCE.split()},
    **{name: ("index", 1) for name in _INDEX.split()},
    **_FACTORED,
}
"""aten op name (overload packet) -> (kind, operations per element), besides views and ops tagged pointwise."""

REFUSED = frozenset("_local_scalar_dense item from_file set_ resize_ nonzero masked_select unique".split())
"""Ops never allowed outside counted layers, even when torch tags them pointwise."""


def op_kind(namespace: str, name: str, pointwise: bool, is_view: bool) -> tuple[str, int] | None:
    """(kind, factor) of an aten op outside counted layers; None when the op is not allowed there.

    `pointwise` is torch's own tag (pointwise); `is_view` whether the overload is a view.
    """
    if namespace != "aten" or name in REFUSED:
        return None
    if name in OP_TABLE:
        return OP_TABLE[name]
    if is_view:
        return ("free", 0)
    if pointwise:
        return ("pointwise", 1)
    return None


def op_cost(kind: tuple[str, int], in_numel: int, out_numel: int, sorted_len: int) -> int:
    """Operations charged for one op of this kind and these sizes (`sorted_len`: the sorted dimension)."""
    what, factor = kind
    if what in ("pointwise", "index"):
        return factor * out_numel
    if what == "reduce":
        return factor * in_numel
    if what == "sort":
        return int(in_numel * math.log2(max(sorted_len, 2)))
    return 0


_POOLS = """
    max_pool1d max_pool2d max_pool3d max_pool2d_with_indices max_pool3d_with_indices avg_pool1d avg_pool2d avg_pool3d
"""
_ADAPTIVE = """
    _adaptive_avg_pool2d adaptive_avg_pool1d adaptive_avg_pool2d _adaptive_avg_pool3d adaptive_max_pool1d
    adaptive_max_pool2d adaptive_max_pool3d
"""
WINDOW_OPS = frozenset((_POOLS + _ADAPTIVE).split()) | frozenset(
    name for name, (kind, _) in OP_TABLE.items() if name.startswith(("upsample", "_upsample")))
"""Ops whose work is their output times a window (a pooling kernel, interpolation taps), whatever ptflops credits."""


def _adaptive_taps(size_in: int, size_out: int) -> int:
    """Input positions read over all outputs of one adaptive-pooling dimension (torch's start/end rule)."""
    return sum(-((-(i + 1) * size_in) // size_out) - (i * size_in) // size_out for i in range(size_out))


def window_work(name: str, args, out_numel: int) -> int:
    """What a window op really does: output elements times the window it reads (pooling) or its taps (interpolation).

    >>> import torch
    >>> x = torch.zeros(1, 1, 28, 28)
    >>> window_work("avg_pool2d", (x, [27, 27], [1, 1], [13, 13]), 28 * 28)   # a 27x27 box filter
    571536
    >>> window_work("max_pool2d", (x, [2, 2], [2, 2]), 14 * 14)                # = the input elements ptflops credits
    784
    >>> window_work("adaptive_avg_pool2d", (x, [1, 1]), 1)
    784
    """
    if name in _ADAPTIVE.split():
        x, sizes = args[0], list(args[1])
        spatial = list(x.shape[-len(sizes):])
        reads = math.prod(_adaptive_taps(a, max(int(b), 1)) for a, b in zip(spatial, sizes))
        return out_numel // max(math.prod(int(b) for b in sizes), 1) * reads
    if name in _POOLS.split():
        dims = int(name.split("pool")[1][0])
        kernel = args[1] if len(args) > 1 else [1]
        kernel = [int(k) for k in (kernel if isinstance(kernel, (list, tuple)) else [kernel])]
        return out_numel * math.prod(kernel * dims if len(kernel) == 1 else kernel)
    kind = OP_TABLE.get(name)
    return op_cost(kind, 0, out_numel, 0) if kind else 0


ATTENTION_KERNELS = frozenset("""scaled_dot_product_attention _scaled_dot_product_attention_math
    _scaled_dot_product_flash_attention_for_cpu _scaled_dot_product_fused_attention_overrideable""".split())
"""Fused attention kernels torch's flop counter has no formula for (it reports 0 for the CPU kernel)."""


def attention_macs(args) -> int:
    """MACs of a fused attention kernel on q (... x L x E), k (... x S x E), v (... x S x Ev): QK^T plus AV.

    >>> import torch
    >>> q = k = v = torch.zeros(2, 4, 10, 8)
    >>> attention_macs((q, k, v))   # 2*4 * 10*10 * (8 + 8)
    12800
    """
    q, k, v = args[:3]
    batch = math.prod(q.shape[:-2])
    return int(batch * q.shape[-2] * k.shape[-2] * (q.shape[-1] + v.shape[-1]))


def graph_op_refusal(op) -> str | None:
    """Why the clean worker may not run this aten op overload outside counted layers; None when it may.

    Convolutions and matmuls may be built (the verifier then names them as uncounted compute);
    anything else must be in the op table, and an op that writes its first argument in place is refused.

    >>> import torch
    >>> graph_op_refusal(torch.ops.aten.add.Tensor) is None
    True
    >>> graph_op_refusal(torch.ops.aten.from_file.default)
    'not in the op table'
    >>> graph_op_refusal(torch.ops.aten.add_.Tensor)
    'writes in place'
    """
    import torch
    from torch.utils.flop_counter import flop_registry

    packet = op._overloadpacket
    args = op._schema.arguments
    if args and args[0].alias_info is not None and args[0].alias_info.is_write:
        return "writes in place"
    if packet in flop_registry or packet.__name__ in ATTENTION_KERNELS:
        return None
    kind = op_kind(getattr(op, "namespace", ""), packet.__name__, torch.Tag.pointwise in op.tags, op.is_view)
    return None if kind is not None else "not in the op table"
