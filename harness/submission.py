"""Loading a submission file under a unique module name, and its contract.

A submission is one Python file that defines:

- ``build_model() -> torch.nn.Module``: the model with its weights loaded;
- ``INPUT_SIZE = (H, W)``: the size every image is resized to;
- optional ``TEAM = "name"`` (default: the file's stem);
- optional ``transform(input_size)``: an albumentations pipeline replacing the
  default preprocessing (resize + normalise); it must output H x W x 3 float32.

Example:
    >>> sub = load_submission(Path("submissions/team4.py"))
    >>> sub.team, sub.input_size
    ('team4', (28, 28))
"""
from __future__ import annotations

import importlib.util
import itertools
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from harness.errors import SubmissionError
from harness.protocol import one_line

_counter = itertools.count()


@dataclass(frozen=True)
class Submission:
    """A loaded submission: its module, identity and declared contract values."""

    path: Path
    team: str
    input_size: tuple[int, int]
    module: ModuleType
    has_transform: bool

    def build_model(self):
        """Call the submission's `build_model()` and check it returns an nn.Module."""
        import torch

        try:
            model = self.module.build_model()
        except FileNotFoundError as e:
            raise SubmissionError(f"{self.path.name}: build_model() could not find a file: {e.filename or e}") from None
        except Exception as e:
            raise SubmissionError(f"{self.path.name}: build_model() failed: {type(e).__name__}: {one_line(e)}") from None
        if not isinstance(model, torch.nn.Module):
            raise SubmissionError(f"{self.path.name}: build_model() returned {type(model).__name__}, not a torch.nn.Module")
        return model

    def transform(self):
        """The submission's own preprocessing pipeline, or None for the default."""
        if not self.has_transform:
            return None
        try:
            return self.module.transform(self.input_size)
        except Exception as e:
            raise SubmissionError(f"{self.path.name}: transform(input_size) failed: {type(e).__name__}: {one_line(e)}") from None


def file_hashes(path: Path) -> tuple[str, str]:
    """sha256 of the submission file and of its weights, read through the one door (`harness.staging`)."""
    from harness.staging import staged

    with staged(path) as submission:
        return submission.file_sha256, submission.weights_sha256


def weights_size(path: Path) -> int:
    """Bytes of the regular weight files next to the submission whose names start with its stem and a dot."""
    import os
    import stat

    from harness.staging import WEIGHT_SUFFIXES, is_sibling

    path = Path(path)
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return 0
    return sum(e.stat(follow_symlinks=False).st_size for e in entries
               if is_sibling(e.name, path.stem) and e.name != path.name and Path(e.name).suffix in WEIGHT_SUFFIXES
               and stat.S_ISREG(e.stat(follow_symlinks=False).st_mode))


def _parse_input_size(value, name: str) -> tuple[int, int]:
    if (
        not isinstance(value, tuple | list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 4096 for v in value)
    ):
        raise SubmissionError(f"{name}: INPUT_SIZE must be a pair of positive ints (H, W), got {value!r}")
    return int(value[0]), int(value[1])


def load_submission(path: Path, team: str | None = None) -> Submission:
    """Import a submission file under a unique module name and check its contract.

    The module is registered in `sys.modules` only while it executes (so dataclasses
    and pickling work) and removed afterwards; `sys.path` is never touched.
    """
    path = Path(path)
    if not path.is_file():
        raise SubmissionError(f"submission not found: {path}")
    if path.suffix != ".py":
        raise SubmissionError(f"{path}: a submission is a .py file")
    module_name = f"_harness_submission_{next(_counter)}_{path.stem.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SubmissionError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise SubmissionError(f"{path.name}:{e.lineno}: syntax error: {e.msg}") from None
    except ImportError as e:
        raise SubmissionError(f"{path.name}: import failed: {one_line(e)}") from None
    except Exception as e:
        raise SubmissionError(f"{path.name}: importing it raised {type(e).__name__}: {one_line(e)}") from None
    finally:
        sys.modules.pop(module_name, None)
    if not callable(getattr(module, "build_model", None)):
        raise SubmissionError(f"{path.name}: no build_model() function defined (see the submission contract in the README)")
    if not hasattr(module, "INPUT_SIZE"):
        raise SubmissionError(f"{path.name}: no INPUT_SIZE = (H, W) defined (see the submission contract in the README)")
    input_size = _parse_input_size(module.INPUT_SIZE, path.name)
    declared_team = getattr(module, "TEAM", None)
    if declared_team is not None and (not isinstance(declared_team, str) or not declared_team.strip()):
        raise SubmissionError(f"{path.name}: TEAM must be a non-empty string, got {declared_team!r}")
    has_transform = hasattr(module, "transform")
    if has_transform and not callable(module.transform):
        raise SubmissionError(f"{path.name}: transform must be a function transform(input_size)")
    return Submission(
        path=path.resolve(),
        team=(team or declared_team or path.stem).strip(),
        input_size=input_size,
        module=module,
        has_transform=has_transform,
    )
