"""What runs next to the submission's code: count, verify, predict, check.

These functions import and run untrusted code; the harness calls them inside the
isolated worker (`harness.worker`), never in the process that holds the labels.
They are plain functions so that tests can call them directly too.

Example:
    >>> from pathlib import Path
    >>> from harness.submission import load_submission
    >>> snapshot = Snapshot.take()
    >>> sub = load_submission(Path("submissions/team4.py"))
    >>> model = prepare_model(sub)
    >>> images = np.zeros((2, 3, 28, 28), dtype=np.float32)
    >>> report, logits = analyse(sub, model, images, "2021", batch_size=2, num_classes=9, snapshot=snapshot)
    >>> report.macs, report.violations, logits.shape
    (191345, (), (2, 9))
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

from harness import complexity
from harness.config import PROFILES
from harness.errors import SubmissionError
from harness.metrics import effective_batch_size, predict_logits
from harness.submission import Submission, weights_size
from harness.report import ModelReport, Violation
from harness.tamper import Snapshot, source_violations
from harness.verify import Tracer, compare_signatures, static_check

SPARSITY_NOTE = 0.5
NUMERIC_TOLERANCE = 1e-4
"""Logits may differ by this share of their largest magnitude (at least 1) between equivalent forwards."""


def prepare_model(sub: Submission, device: str = "cpu") -> torch.nn.Module:
    """Build the model, put it in eval mode on `device`."""
    model = sub.build_model()
    try:
        return model.to(device).eval()
    except RuntimeError as e:
        raise SubmissionError(f"{sub.path.name}: cannot move the model to {device}: {e}") from None


def sparsity(model: torch.nn.Module) -> float:
    """Share of exactly-zero weights over all parameters."""
    total = zeros = 0
    for p in model.parameters():
        total += p.numel()
        zeros += int((p == 0).sum())
    return zeros / total if total else 0.0


def _state(model: torch.nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for t in list(model.parameters()) + list(model.buffers())]


def analyse(
    sub: Submission,
    model: torch.nn.Module,
    images: np.ndarray,
    profile: str,
    batch_size: int,
    num_classes: int,
    snapshot: Snapshot,
    device: str = "cpu",
    on_advance: Callable[[int], None] | None = None,
) -> tuple[ModelReport, np.ndarray | None]:
    """Count, verify and predict: (report, logits), logits None when rejected.

    `images` are preprocessed images, N x 3 x H x W float32. Every prediction runs under
    the verifier's trace, so the logits that get scored come from exactly the computation
    that was checked.
    """
    batch_size = effective_batch_size(batch_size, images.shape[1:])
    violations = source_violations(sub.path) + snapshot.tampering()
    static, notes = static_check(model, snapshot, profile)
    violations += static
    example = torch.from_numpy(np.array(images[:1], dtype=np.float32)).to(device)
    tracer = Tracer(model, profile)
    if any(v.op == "script" for v in static):  # ptflops cannot hook it at all: nothing more to learn
        return _rejected_report(sub, model, profile, violations, notes), None
    scored, counted_trace, found = _count_under_trace(model, example, profile, tracer)
    violations += found
    profile_macs = {p: (scored.macs if p == profile else complexity.count_complexity(model, example, p).macs) for p in PROFILES}
    violations += snapshot.tampering()
    start = time.perf_counter()
    logits = _traced_prediction(model, tracer, counted_trace, images, batch_size, num_classes, device, on_advance, violations)
    elapsed = time.perf_counter() - start
    violations = list(dict.fromkeys(violations + snapshot.tampering()))  # each finding once, in order
    weight_sparsity = sparsity(model)
    if weight_sparsity >= SPARSITY_NOTE:
        notes.append(f"{weight_sparsity:.0%} of the weights are zero: unstructured pruning does not lower the counted MACs "
                     "(ptflops counts layer shapes); remove channels or layers instead")
    report = ModelReport(
        team=sub.team,
        input_size=sub.input_size,
        macs=scored.macs,
        params=scored.params,
        profile=profile,
        profile_macs=profile_macs,
        aten_macs=counted_trace.aten_macs,
        weights_bytes=weights_size(sub.path),
        sparsity=weight_sparsity,
        violations=tuple(violations),
        notes=tuple(notes),
        layers=tuple(counted_trace.layers.values()),  # in call order
        seconds_per_image=elapsed / max(len(images), 1) if logits is not None else 0.0,
    )
    return report, (None if violations else logits)


def _count_under_trace(model: torch.nn.Module, example: torch.Tensor, profile: str, tracer: Tracer):
    """ptflops' count of one image, traced: (its Complexity, the trace, what the trace found).

    The trace credits layer hooks only; under a profile that also counts functional calls
    the hook credit is compared with a second, hooks-only count.
    """
    with tracer.tracing(example) as counted_trace:
        scored = complexity.count_complexity(model, example, profile)
    tracer.finish(counted_trace)
    found = list(counted_trace.violations)
    hooked = scored.macs
    if complexity.counts_functional(profile):
        hooked = complexity.count_complexity(model, example, profile, functional=False).macs
    if counted_trace.credited != hooked:
        found.append(Violation("<model>", type(model).__name__, "count", abs(hooked - counted_trace.credited),
                               f"ptflops reported {hooked:,} MACs from layer hooks but its hooks credit {counted_trace.credited:,} for the layers called"))
    return scored, counted_trace, found


def _traced_prediction(model, tracer: Tracer, counted_trace, images: np.ndarray, batch_size: int, num_classes: int,
                       device: str, on_advance, violations: list[Violation]) -> np.ndarray | None:
    """Predict every image under the trace; each batch must do what the counted call did.

    New findings are appended to `violations` (each once); the logits, or None at the
    first batch with a finding (every batch is still traced up to there).
    """
    seen: set = set()

    def traced_forward(batch: torch.Tensor):
        with tracer.tracing(batch, record_layers=False) as trace:
            output = model(batch)
            produced = tracer.output_is_known(output)
        tracer.finish(trace)
        found = list(trace.violations) + compare_signatures(counted_trace, trace, f"when evaluated on a batch of {len(batch)}")
        if not produced:
            found.append(Violation("<model>", type(model).__name__, "output", 0, "returns logits that no torch op produced (computed outside torch?)"))
        for v in found:
            key = (v.module, v.op, v.reason)
            if key not in seen:
                seen.add(key)
                violations.append(v)
        if found:
            raise _Rejected()
        return output

    try:  # even a model already rejected is traced, so that every violation gets reported
        with tracer.installed():
            return predict_logits(traced_forward, images, batch_size, num_classes, device, on_advance)
    except _Rejected:
        return None


def _rejected_report(sub: Submission, model, profile: str, violations, notes) -> ModelReport:
    return ModelReport(team=sub.team, input_size=sub.input_size, macs=0, params=0, profile=profile, profile_macs={},
                       aten_macs=0, weights_bytes=weights_size(sub.path), sparsity=sparsity(model),
                       violations=tuple(violations), notes=tuple(notes), layers=(), seconds_per_image=0.0)


class _Rejected(Exception):
    """Internal: stop predicting once the verifier has rejected the model."""


def pre_submission_checks(
    sub: Submission,
    model: torch.nn.Module,
    images: np.ndarray,
    num_classes: int,
    device: str = "cpu",
) -> tuple[dict[str, bool], dict[str, str]]:
    """The checks of `harness check` beyond the verifier, on a few real images.

    Returns (check name -> passed, check name -> reason when failed).
    """
    passed, reasons = {}, {}

    def record(name: str, ok: bool, reason: str = "") -> None:
        passed[name] = ok
        if not ok:
            reasons[name] = reason

    batch = torch.from_numpy(np.array(images, dtype=np.float32)).to(device)
    before = _state(model)
    try:
        with torch.inference_mode():
            first = model(batch)
            second = model(batch)
            singles = [model(batch[i:i + 1]) for i in range(len(batch))]
    except Exception as e:
        record("output", False, f"the forward pass raised {type(e).__name__}: {e}")
        return passed, reasons
    expected = (len(batch), num_classes)
    shape_ok = isinstance(first, torch.Tensor) and tuple(first.shape) == expected
    record("output", shape_ok and bool(torch.isfinite(first).all()),
           f"logits must be a finite tensor of shape {expected}, got "
           f"{tuple(first.shape) if isinstance(first, torch.Tensor) else type(first).__name__}")
    if not shape_ok:
        return passed, reasons
    tolerance = NUMERIC_TOLERANCE * max(1.0, float(first.abs().max()))  # relative to the logits' scale
    gap = float((first - second).abs().max())
    record("determinism", gap <= tolerance, f"the same images gave logits differing by up to {gap:.3g} (logits up to {float(first.abs().max()):.3g})")
    gap = float((torch.cat(singles) - first).abs().max())
    record("batch_invariance", gap <= tolerance,
           f"an image's logits change with the other images in its batch (by up to {gap:.3g}, logits up to "
           f"{float(first.abs().max()):.3g}); is BatchNorm in train mode?")
    after = _state(model)
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if not torch.equal(a, b)]
    record("no_state_change", not changed,
           f"{len(changed)} parameter or buffer tensors changed during inference (BatchNorm running stats in train mode?)")
    return passed, reasons


def check_transform(sub: Submission, sample: np.ndarray) -> str | None:
    """Check the submission's own preprocessing on one raw image; the reason when it fails."""
    pipeline = sub.transform()
    if pipeline is None:
        return None
    try:
        out = pipeline(image=sample)["image"]
    except Exception as e:
        return f"transform(input_size) pipeline raised {type(e).__name__}: {e}"
    out = np.asarray(out)
    if out.shape != (*sub.input_size, 3):
        return f"transform(input_size) produced shape {out.shape}; expected {(*sub.input_size, 3)} (H x W x 3)"
    if out.dtype != np.float32:
        return f"transform(input_size) produced dtype {out.dtype}; expected float32 (include A.Normalize)"
    return None
