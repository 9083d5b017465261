"""Measure charged / counted on the honest corpus and on every cheat, both profiles, through export + clean recount.

For each model: export it with `torch.export` (as the submission's worker does), rebuild
it from the graph (as the clean worker does), count it with ptflops under the trace and
read the operations charged outside counted layers (`harness.op_costs`). A model that
cannot be exported or rebuilt is measured in its own process instead (marked `own`).
Prints one row per model and profile, then the largest honest ratio, the smallest ratio
among the cheats that hide compute in charged ops (`MEASURED = True` in the file; the
others, marked `caught`, are refused by other rules whatever their ratio), and the margin.

Usage:
    PYTHONPATH=. python scripts/measure_charges.py                 # hand-written honest + cheats only
    PYTHONPATH=. python scripts/measure_charges.py --torchvision   # + every torchvision builder of tests/test_honest.py
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from harness import complexity  # noqa: E402
from harness.graph import export_model, rebuild_model  # noqa: E402
from harness.trace_rules import CHARGE_LIMIT  # noqa: E402
from harness.verify import Tracer  # noqa: E402

SMALL_FIRST = ("mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "mnasnet0_5",
               "shufflenet_v2_x0_5", "squeezenet1_1", "regnet_y_400mf", "resnet18", "efficientnet_v2_s", "vit_b_32")
"""The small builders competitors start from, measured first (the whole sweep takes long on busy cores)."""
PATCHERS = {"patch_ptflops.py", "patch_layer_class.py", "rewrite_code.py"}


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"measured_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(model: torch.nn.Module, example: torch.Tensor, profile: str) -> tuple[int, int, list[str]]:
    """(charged, credited, other findings) of one counted forward of `model` on `example`."""
    tracer = Tracer(model, profile)
    with torch.no_grad(), tracer.tracing(example) as trace:
        complexity.count_complexity(model, example, profile, functional=False)
    others = sorted({v.op for v in trace.violations if v.op != "charged"})
    return trace.elementwise, trace.credited, others


def measure_path(model: torch.nn.Module, example: torch.Tensor, profiles) -> dict[str, tuple[str, int, int, list[str]]]:
    """Per profile: through export and the clean rebuild when possible, else in the model's own process."""
    try:
        with tempfile.TemporaryDirectory() as tmp:
            export_model(model, example.expand(2, *example.shape[1:]).contiguous(), Path(tmp))
            rebuilt, _names = rebuild_model(Path(tmp))
        return {p: ("recount", *measure(rebuilt, example, p)) for p in profiles}
    except Exception as e:  # refused by export or rebuild: the verdict comes from the own process
        found = {}
        for p in profiles:
            try:
                charged, credited, others = measure(model, example, p)
                found[p] = ("own", charged, credited, others + [f"export:{type(e).__name__}"])
            except Exception as again:  # ptflops itself cannot count it (TorchScript): refused anyway
                found[p] = ("own", 0, 0, [f"count:{type(again).__name__}"])
        return found


def corpus(torchvision_too: bool):
    """(group, name, profiles, build) for every measured model."""
    for path in sorted((ROOT / "tests" / "honest").glob("*.py")):
        module = _load(path)
        profiles = getattr(module, "PROFILES", ("2021", "modern"))
        yield "honest", path.stem, profiles, module.build_model, module.INPUT_SIZE
    for path in sorted((ROOT / "tests" / "cheats").glob("*.py")):
        if path.name in PATCHERS:
            continue
        module = _load(path)
        group = "cheat" if getattr(module, "MEASURED", False) else "caught"  # caught: by a rule other than the charges
        yield group, path.stem, getattr(module, "PROFILES", ("2021", "modern")), module.build_model, module.INPUT_SIZE
    if torchvision_too:
        import test_honest

        for name in sorted(test_honest._corpus(), key=lambda n: (n not in SMALL_FIRST, n)):
            yield "honest", f"tv.{name}", test_honest._profiles(name), (lambda n=name: test_honest._build(n)[0]), \
                (test_honest.SIZES.get(name, test_honest.SIZE),) * 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torchvision", action="store_true", help="also every torchvision builder of the honest sweep")
    parser.add_argument("--only", nargs="*", default=None, help="measure only these torchvision builders")
    args = parser.parse_args()
    honest, cheats = [], []
    print(f"{'group':7} {'model':32} {'profile':7} {'path':8} {'charged':>12} {'counted':>13} {'ratio':>8}  other findings")
    for group, name, profiles, build, size in corpus(args.torchvision):
        if args.only is not None and name.startswith("tv.") and name[3:] not in args.only:
            continue
        torch.manual_seed(0)
        example = torch.randn(1, 3, *size)
        for profile, (where, charged, credited, others) in measure_path(build().eval(), example, profiles).items():
            ratio = charged / max(credited, 1)
            print(f"{group:7} {name:32} {profile:7} {where:8} {charged:12,} {credited:13,} {ratio:8.4f}  {' '.join(others)}", flush=True)
            if group == "honest":
                honest.append((ratio, name, profile))
            elif group == "cheat":
                cheats.append((ratio, name, profile))
    top, low = max(honest), min(cheats)
    print(f"\nlargest honest ratio: {top[0]:.4f} ({top[1]}, {top[2]}); smallest cheat ratio (no other finding): "
          f"{low[0]:.4f} ({low[1]}, {low[2]}); margin {low[0] / max(top[0], 1e-9):.2f}x; limit {CHARGE_LIMIT}")


if __name__ == "__main__":
    main()
