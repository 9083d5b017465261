"""Count the golden models with the real ptflops 0.6.4 and 0.7.5; write tests/golden/ptflops.json.

    python scripts/golden_ptflops.py              # downloads 0.6.4's sdist once, rewrites the JSON
    python scripts/golden_ptflops.py --out /tmp/golden.json

ptflops 0.6.4 is the counter the 2021 organisers pinned. It is fetched as its source
distribution with `pip download` into a cache folder (default
~/.cache/harness/ptflops-0.6.4), extracted, and imported only in a child process whose
PYTHONPATH puts it first, so the pinned 0.7.5 installed next to the harness is never
replaced. Each counter runs in its own child process with the organisers' call:

- 0.6.4: `get_model_complexity_info(model, (3, H, W), as_strings=False,
  print_per_layer_stat=False, ignore_modules=[ReLU, PReLU, ELU, LeakyReLU, ReLU6])`;
- 0.7.5: its defaults (`backend="pytorch"`, functional patching on, nothing ignored).

Both count on the same seeded input (`tests/golden/models.py`); the counts depend on
shapes only. `tests/test_golden.py` compares harness.complexity with the file, exactly.
"""
from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS_FILE = ROOT / "tests" / "golden" / "models.py"
DEFAULT_OUT = ROOT / "tests" / "golden" / "ptflops.json"
OLD_VERSION = "0.6.4"
COUNTERS = {"2021": OLD_VERSION, "modern": "0.7.5"}


def _models_module():
    spec = importlib.util.spec_from_file_location("golden_models", MODELS_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fetch_old_ptflops(cache: Path) -> Path:
    """The extracted source of ptflops 0.6.4 (downloaded with pip on first use)."""
    source = cache / f"ptflops-{OLD_VERSION}"
    if (source / "ptflops" / "flops_counter.py").is_file():
        return source
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", f"ptflops=={OLD_VERSION}", "--no-deps",
                    "--no-binary", ":all:", "--dest", str(cache), "--quiet"], check=True)
    with tarfile.open(cache / f"ptflops-{OLD_VERSION}.tar.gz") as archive:
        archive.extractall(cache, filter="data")
    return source


def count_here(version: str) -> dict[str, int]:
    """In the child: count every golden model with the ptflops that `import ptflops` finds."""
    import ptflops
    import torch
    from torch import nn

    from importlib import metadata

    # 0.6.4 has no version attribute; it is the copy on PYTHONPATH, outside site-packages
    found = metadata.version("ptflops") if "site-packages" in ptflops.__file__ else f"{OLD_VERSION} (source)"
    if not found.startswith(version) or (version == OLD_VERSION) == hasattr(ptflops, "FLOPS_BACKEND"):
        raise SystemExit(f"expected ptflops {version}, imported {found} from {ptflops.__file__}")
    models = _models_module()
    counts = {}
    for name, (build, shape) in models.golden_models().items():
        torch.manual_seed(0)
        model = build()
        image = models.example_input(shape)
        argument = next(iter(inspect.signature(model.forward).parameters))  # 0.6.4 passes the input by keyword
        if version == OLD_VERSION:
            macs, _params = ptflops.get_model_complexity_info(
                model, shape, as_strings=False, print_per_layer_stat=False,
                input_constructor=lambda _res: {argument: image},
                ignore_modules=[nn.ReLU, nn.PReLU, nn.ELU, nn.LeakyReLU, nn.ReLU6])
        else:
            macs, _params = ptflops.get_model_complexity_info(
                model, shape, as_strings=False, print_per_layer_stat=False,
                input_constructor=lambda _res: {argument: image}, backend=ptflops.FLOPS_BACKEND.PYTORCH)
        if macs is None:
            raise SystemExit(f"ptflops {version} could not count {name}")
        counts[name] = int(macs)
    return counts


def count_in_child(version: str, old_source: Path | None) -> dict[str, int]:
    env = dict(os.environ)
    path = [str(old_source)] if version == OLD_VERSION else []
    env["PYTHONPATH"] = os.pathsep.join(path + [str(ROOT)])
    done = subprocess.run([sys.executable, __file__, "--count", version], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"counting with ptflops {version} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "harness")
    parser.add_argument("--count", help=argparse.SUPPRESS)  # internal: the child's side
    args = parser.parse_args()
    if args.count:
        print(json.dumps(count_here(args.count)))
        return
    import torch

    old_source = fetch_old_ptflops(args.cache)
    counts = {profile: count_in_child(version, old_source if version == OLD_VERSION else None)
              for profile, version in COUNTERS.items()}
    shapes = {name: list(shape) for name, (_build, shape) in _models_module().golden_models().items()}
    golden = {
        "generated_by": "scripts/golden_ptflops.py",
        "torch": torch.__version__.split("+")[0],
        "counters": {"2021": f"ptflops {OLD_VERSION}, ignore_modules=[ReLU, PReLU, ELU, LeakyReLU, ReLU6], batch 1",
                     "modern": "ptflops 0.7.5, its defaults (backend pytorch, functional patching on), batch 1"},
        "models": {name: {"input": shapes[name], "2021": counts["2021"][name], "modern": counts["modern"][name]} for name in shapes},
    }
    args.out.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {args.out}: {len(shapes)} models")


if __name__ == "__main__":
    main()
