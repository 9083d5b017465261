"""The countable-layer verifier: every cheat caught with its message, every honest model accepted."""
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from conftest import HERE, ROOT, json_of
from harness.complexity import count_complexity
from harness.inspection import analyse, pre_submission_checks, prepare_model
from harness.submission import Submission, load_submission
from harness.tamper import Snapshot, source_violations

CHEATS = sorted(p for p in (HERE / "cheats").glob("*.py") if "TRANSFORM_ONLY" not in p.read_text())
"""Cheats in the model; the ones in the transform are in `test_filters_in_the_transform_are_refused`."""
PATCHERS = {"patch_ptflops.py", "patch_layer_class.py", "rewrite_code.py"}  # they change global state: only in a worker
HONEST = sorted((HERE / "honest").glob("*.py"))


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.standard_normal((12, 3, 28, 28)).astype(np.float32)


def _profiles(path: Path, default: tuple[str, ...] = ("2021", "modern")) -> tuple[str, ...]:
    """The profiles a fixture runs under: `default`, unless it names them (PROFILES = (...))."""
    line = next((line for line in path.read_text().splitlines() if line.startswith("PROFILES")), None)
    return tuple(eval(line.split("=", 1)[1])) if line else default


def _analyse(path: Path, images, batch_size=4):
    snapshot = Snapshot.take()
    sub = load_submission(path)
    report, logits = analyse(sub, prepare_model(sub), images, "2021", batch_size, 9, snapshot)
    assert not Snapshot.take().tampering() or path.name in PATCHERS
    return sub, report, logits


@pytest.mark.parametrize("path,profile", [(p, profile) for p in CHEATS if p.name not in PATCHERS for profile in _profiles(p, ("2021",))],
                         ids=lambda v: getattr(v, "stem", v))
def test_cheat_is_caught_with_its_message(path, profile):
    """Every finding of the verifier, and of the checks `evaluate` applies too (determinism, batch invariance)."""
    snapshot = Snapshot.take()
    sub = load_submission(path)
    images = np.random.default_rng(0).standard_normal((12, 3, *sub.input_size)).astype(np.float32)
    model = prepare_model(sub)
    report, logits = analyse(sub, model, images, profile, 4, 9, snapshot)
    passed, reasons = pre_submission_checks(sub, model, images[:8], 9)
    messages = [str(v) for v in report.violations] + list(reasons.values())
    assert logits is None or not all(passed.values()), "a rejected model's logits are never returned"
    assert any(sub.module.EXPECT in m for m in messages), messages
    assert all(v.module for v in report.violations), "every violation names a module"


@pytest.mark.parametrize("name", sorted(PATCHERS))
def test_patching_cheats_are_caught_in_the_worker(invoke, name):
    result = invoke("check", HERE / "cheats" / name, "--json")
    assert result.exit_code == 1, result.output
    d = json_of(result.output)
    assert d["passed"] is False and d["checks"]["verifier"] is False
    expect = load_expect(HERE / "cheats" / name)
    assert any(expect in v["reason"] or expect in v["message"] for v in d["violations"]), d["violations"]


def load_expect(path: Path) -> str:
    line = next(line for line in path.read_text().splitlines() if line.startswith("EXPECT"))
    return line.split("=", 1)[1].strip().strip('"')


@pytest.mark.parametrize("path,profile", [(p, profile) for p in HONEST for profile in _profiles(p)],
                         ids=lambda v: getattr(v, "stem", v))
def test_honest_submissions_pass(path, profile):
    snapshot = Snapshot.take()
    sub = load_submission(path)
    images = np.random.default_rng(0).standard_normal((6, 3, *sub.input_size)).astype(np.float32)
    model = prepare_model(sub)
    report, logits = analyse(sub, model, images, profile, 4, 9, snapshot)
    assert report.violations == (), [str(v) for v in report.violations]
    assert logits is not None and logits.shape == (len(images), 9)
    passed, reasons = pre_submission_checks(sub, model, images[:3], 9)
    assert all(passed.values()), reasons


TORCHVISION = ["shufflenet_v2_x0_5", "mobilenet_v3_small", "mobilenet_v2", "resnet18", "efficientnet_b0", "squeezenet1_1"]


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_models_pass_with_plain_ptflops_macs(name, tmp_path):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(num_classes=9).eval()
    images = np.random.default_rng(1).standard_normal((3, 3, 64, 64)).astype(np.float32)
    stub = tmp_path / f"{name}.py"
    stub.write_text("INPUT_SIZE = (64, 64)\n")
    sub = Submission(stub, name, (64, 64), None, False)
    report, logits = analyse(sub, model, images, "2021", 2, 9, Snapshot.take())
    assert report.violations == (), [str(v) for v in report.violations]
    plain = count_complexity(model, torch.from_numpy(images[:1]), "2021").macs
    assert report.macs == plain
    assert sum(row.macs for row in report.layers) == plain
    assert 0.9 <= report.aten_macs / report.macs <= 1.1


def test_source_scan_ignores_docstrings_and_comments(tmp_path):
    f = tmp_path / "entry.py"
    f.write_text('"""Counted by ptflops, like everyone."""\n# ptflops.MODULES_MAPPING is not touched here\nX = 1\n')
    assert source_violations(f) == []
    f.write_text("import ptflops\n")
    assert source_violations(f)[0].op == "ptflops"


def test_sparse_weights_get_a_note(tmp_path, images):
    f = tmp_path / "sparse.py"
    f.write_text(
        "import torch\nfrom torch import nn\nINPUT_SIZE = (28, 28)\n"
        "def build_model():\n"
        "    m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 9))\n"
        "    with torch.no_grad():\n"
        "        for p in m.parameters():\n"
        "            p.mul_((torch.rand_like(p) > 0.9).float())\n"
        "    return m.eval()\n"
    )
    _, report, _ = _analyse(f, images)
    assert report.sparsity > 0.5
    assert any("unstructured pruning does not lower the counted MACs" in n for n in report.notes)


def test_check_accepts_team4_and_reports_everything(invoke):
    result = invoke("check", ROOT / "submissions" / "team4.py", "--json")
    assert result.exit_code == 0, result.output
    d = json_of(result.output)
    assert d["passed"] is True and d["violations"] == []
    assert set(d["checks"]) >= {"contract", "weights_load", "transform", "output", "determinism",
                                "batch_invariance", "no_state_change", "verifier"}
    assert all(d["checks"].values())
    assert d["macs"] > 0 and d["params"] > 0 and d["weights_bytes"] > 0
    layers = invoke("check", ROOT / "submissions" / "team4.py", "--layers")
    assert layers.exit_code == 0 and "Conv2d" in layers.output and "share" in layers.output


@pytest.mark.parametrize(
    "name,check",
    [("sticky_train_bn.py", "no_state_change"), ("batch_dependent.py", "batch_invariance")],
)
def test_check_catches_state_and_batch_problems(invoke, name, check):
    result = invoke("check", HERE / "broken" / name, "--json")
    assert result.exit_code == 1
    assert json_of(result.output)["checks"][check] is False


def test_check_reports_a_contract_failure(invoke):
    result = invoke("check", HERE / "broken" / "no_build_model.py", "--json")
    assert result.exit_code == 1
    d = json_of(result.output)
    assert d["passed"] is False and d["checks"] == {"contract": False}


def test_evaluate_refuses_a_rejected_submission(invoke, tmp_path):
    from harness.leaderboard import read_entries

    lb = tmp_path / "lb.csv"
    result = invoke("evaluate", HERE / "cheats" / "functional_conv.py", "--leaderboard", lb)
    assert result.exit_code == 2
    assert "rejected by the verifier" in result.output and "convolution" in result.output
    entries = read_entries(lb)
    assert [e.status for e in entries] == ["failed"] and entries[0].failure == "rejected"


class _Elementwise(torch.nn.Module):
    """A counted conv, then one elementwise expression outside counted layers."""

    def __init__(self, expression):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.scale = torch.nn.Parameter(torch.randn(1, 4, 1, 1))
        self.register_buffer("offset", torch.randn(1, 4, 1, 1))
        self.expression = expression

    def forward(self, x):
        return self.expression(self, self.conv(x))


@pytest.mark.parametrize("expression,charged", [
    (lambda m, y: y * torch.sigmoid(y), 2 * 144),                   # a gate of activations: sigmoid and mul
    (lambda m, y: y + torch.relu(y), 2 * 144),                      # a residual add
    (lambda m, y: y * 2.0, 144),                                    # a Python scalar is an operand like any other
    (lambda m, y: y * m.scale, 144),                                # a parameter
    (lambda m, y: y.sum(), 144),                                    # a reduction: its input elements
    (lambda m, y: y.reshape(-1).permute(0).contiguous(), 0),        # views and copies are free
])
def test_every_op_is_charged_by_what_it_does(expression, charged):
    from harness.verify import Tracer

    model = _Elementwise(expression).eval()
    x = torch.randn(1, 3, 6, 6)
    tracer = Tracer(model, "2021")
    with torch.no_grad(), tracer.tracing(x) as trace:
        model(x)
    assert trace.elementwise == charged


@pytest.mark.parametrize("expression,mixes", [
    (lambda m, y: y + torch.roll(y, 1, 2), True),                   # a shifted copy of the same tensor
    (lambda m, y: y[:, :, 1:] - y[:, :, :-1], True),                # two slices at different positions
    (lambda m, y: torch.stack([y, y.flip(3)]).sum(0), True),        # a reduction over stacked copies
    (lambda m, y: y * y.mean((2, 3), keepdim=True), False),         # a global reduction
    (lambda m, y: y + y.permute(0, 1, 3, 2).permute(0, 1, 3, 2), False),  # a pure permutation
    (lambda m, y: y[:, :, :] * m.scale[:, :, :1], False),           # a slice of a weight and a whole-range slice
])
def test_arithmetic_across_positions_of_one_tensor_is_refused(expression, mixes):
    from harness.verify import Tracer

    model = _Elementwise(expression).eval()
    x = torch.randn(1, 3, 6, 6)
    tracer = Tracer(model, "2021")
    with torch.no_grad(), tracer.tracing(x) as trace:
        model(x)
    assert any("different positions of one tensor" in v.reason for v in trace.violations) == mixes


def test_an_in_place_write_to_the_input_is_refused():
    from harness.verify import Tracer

    model = _Elementwise(lambda m, y: y).eval()
    x = torch.randn(1, 3, 6, 6)
    tracer = Tracer(model, "2021")
    with torch.no_grad(), tracer.tracing(x) as trace:
        x.mul_(2)
    assert any("writes in place (mul_)" in v.reason for v in trace.violations)


@pytest.mark.parametrize("name,profile", [("adaptive_max_pool.py", "2021"), ("tiny_vit.py", "modern"), ("threshold_gate.py", "2021")])
def test_check_accepts_honest_models_through_the_clean_recount(invoke, write_config, name, profile):
    result = invoke("check", HERE / "honest" / name, "--json", "--config", write_config(profile=profile))
    assert result.exit_code == 0, result.output
    d = json_of(result.output)
    assert d["passed"] is True and d["checks"]["clean_recount"] is True and d["violations"] == []


@pytest.mark.parametrize("extra,refused", [
    ("A.GaussianBlur(blur_limit=(3, 3), p=1.0)", "A.GaussianBlur"), ("A.Sharpen(p=1.0)", "A.Sharpen"),
    ("A.Emboss(p=1.0)", "A.Emboss"), ("A.CLAHE(p=1.0)", "A.CLAHE"), ("A.HorizontalFlip(p=1.0)", None),
    ("A.PadIfNeeded(30, 30)", None),
])
def test_filters_in_the_transform_are_refused(extra, refused):
    import albumentations as A

    from harness.preprocess import check_pipeline

    pipeline = A.Compose([eval(extra), A.Resize(28, 28), A.Normalize()])
    sample = np.random.default_rng(0).integers(0, 256, (28, 28, 3), dtype=np.uint8)
    problem = check_pipeline(pipeline, sample, (28, 28))
    assert (problem is None) if refused is None else (f"uses {refused}:" in problem and "\n" not in problem)


@pytest.mark.slow
def test_evaluate_refuses_compute_in_the_transform(invoke, tmp_path):
    lb = tmp_path / "lb.csv"
    result = invoke("evaluate", HERE / "cheats" / "filter_transform.py", "--leaderboard", lb)
    assert result.exit_code != 0 and "only geometric and normalising transforms are allowed" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_evaluate_refuses_what_check_refuses_attention_across_the_batch(invoke, write_config, tmp_path):
    config = write_config(profile="modern")
    path = HERE / "cheats" / "batch_attention.py"
    checked = invoke("check", path, "--json", "--config", config)
    assert checked.exit_code == 1 and json_of(checked.output)["checks"]["batch_invariance"] is False
    result = invoke("evaluate", path, "--leaderboard", tmp_path / "lb.csv", "--config", config)
    assert result.exit_code != 0 and "batch_invariance" in result.output, result.output
