"""The honest corpus: standard architectures with random weights are accepted, attention done
outside counted layers is refused with the op and the module named.

The whole torchvision sweep is marked `honest` (run it with `make honest`); a few
representatives run in `make test`.
"""
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from harness.complexity import count_complexity
from harness.graph import export_model, rebuild_model
from harness.inspection import analyse, pre_submission_checks
from harness.submission import Submission
from harness.tamper import Snapshot

SIZE = 64
SIZES = {"inception_v3": 80}
"""Input side per builder: 64 px, or the smallest size a builder accepts."""
MODERN_ONLY = ("vit_",)
"""Builders counted fully only by ptflops 0.7.5 (nn.MultiheadAttention counts 0 in ptflops 0.6.4's table)."""
REFUSED = {
    "swin_t": "ShiftedWindowAttention", "swin_s": "ShiftedWindowAttention", "swin_b": "ShiftedWindowAttention",
    "swin_v2_t": "ShiftedWindowAttentionV2", "swin_v2_s": "ShiftedWindowAttentionV2", "swin_v2_b": "ShiftedWindowAttentionV2",
    "maxvit_t": "RelativePositionalMultiHeadAttention",
}
"""Attention through F.linear and bmm inside custom modules: ptflops counts none of it."""
REFUSED_SIZES = {"maxvit_t": 224}
"""maxvit_t partitions its input into 7x7 windows at every stage: 224 px is the smallest it accepts."""
TOO_SLOW = frozenset({"vit_h_14", "regnet_y_128gf"})
"""Measured on 2 busy cores: vit_h_14 did not finish in 150 s, regnet_y_128gf (637M parameters) took 29 s."""
FAST = ["alexnet", "vgg11_bn", "mobilenet_v3_small", "shufflenet_v2_x0_5", "squeezenet1_1"]
"""Representatives run by `make test`."""


def _corpus() -> list[str]:
    names = torchvision.models.list_models(module=torchvision.models)
    return [n for n in names if n not in TOO_SLOW and n not in REFUSED]


def _profiles(name: str) -> tuple[str, ...]:
    return ("modern",) if name.startswith(MODERN_ONLY) else ("2021", "modern")


def _build(name: str, size: int | None = None) -> tuple[torch.nn.Module, int]:
    size = size or SIZES.get(name, SIZE)
    kwargs = {"aux_logits": False, "init_weights": True} if name in ("inception_v3", "googlenet") else {}
    if name.startswith("vit_"):
        kwargs["image_size"] = size
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(num_classes=9, **kwargs).eval(), size


def _check(name: str, profile: str, tmp_path: Path, images: int = 3, size: int | None = None):
    model, size = _build(name, size)
    batch = np.random.default_rng(0).standard_normal((images, 3, size, size)).astype(np.float32)
    stub = tmp_path / f"{name}.py"
    stub.write_text(f"INPUT_SIZE = ({size}, {size})\n")
    sub = Submission(stub, name, (size, size), None, False)
    report, logits = analyse(sub, model, batch, profile, 2, 9, Snapshot.take())
    return model, batch, sub, report, logits


def _assert_accepted(name: str, profile: str, tmp_path: Path) -> None:
    """Accepted in its own process and through the path that scores it: export, clean rebuild, recount."""
    model, batch, sub, report, logits = _check(name, profile, tmp_path)
    assert report.violations == (), [str(v) for v in report.violations]
    assert logits is not None and logits.shape == (len(batch), 9)
    assert report.macs == count_complexity(model, torch.from_numpy(batch[:1]), profile).macs
    passed, reasons = pre_submission_checks(sub, model, batch[:2], 9)
    assert all(passed.values()), reasons
    export_model(model, torch.from_numpy(batch[:2]), tmp_path)
    rebuilt, _names = rebuild_model(tmp_path)
    clean, clean_logits = analyse(sub, rebuilt, batch, profile, 2, 9, Snapshot.take())
    assert clean.violations == (), [str(v) for v in clean.violations]
    assert clean.macs == report.macs, "the clean recount counts what the submission's own process counted"
    assert np.allclose(clean_logits, logits, atol=1e-4 * max(1.0, float(np.abs(logits).max())))


@pytest.mark.parametrize("name,profile", [(n, p) for n in FAST for p in _profiles(n)])
def test_representative_torchvision_models_are_accepted(name, profile, tmp_path):
    _assert_accepted(name, profile, tmp_path)


@pytest.mark.honest
@pytest.mark.parametrize("name,profile", [(n, p) for n in _corpus() if n not in FAST for p in _profiles(n)])
def test_torchvision_corpus_is_accepted(name, profile, tmp_path):
    _assert_accepted(name, profile, tmp_path)


@pytest.mark.honest
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_attention_outside_counted_layers_is_refused_naming_op_and_module(name, tmp_path):
    _model, _batch, _sub, report, logits = _check(name, "2021", tmp_path, images=1, size=REFUSED_SIZES.get(name))
    assert logits is None
    named = [v for v in report.violations if v.module_type == REFUSED[name] and v.op in ("addmm", "bmm", "mm")]
    assert named, [str(v) for v in report.violations]
    assert all("outside any counted layer" in v.reason and "attn" in v.module for v in named)


def test_large_logits_pass_the_numeric_checks(tmp_path):
    """inception_v3 at 80 px with random weights gives logits around 1e7: tolerances follow their scale."""
    model, size = _build("inception_v3")
    batch = np.random.default_rng(0).standard_normal((4, 3, size, size)).astype(np.float32)
    with torch.inference_mode():
        assert float(model(torch.from_numpy(batch)).abs().max()) > 1e4
    stub = tmp_path / "inception.py"
    stub.write_text(f"INPUT_SIZE = ({size}, {size})\n")
    passed, reasons = pre_submission_checks(Submission(stub, "inception", (size, size), None, False), model, batch, 9)
    assert all(passed.values()), reasons
