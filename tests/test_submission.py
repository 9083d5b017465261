"""Loading submission files: unique module names, no leaked state, clear contract errors."""
import sys
from pathlib import Path

import pytest

from harness.errors import SubmissionError
from harness.submission import load_submission
from conftest import ROOT



def test_two_loads_do_not_collide_or_leak():
    path_before, modules_before = list(sys.path), set(sys.modules)
    a = load_submission(ROOT / "submissions" / "team4.py")
    b = load_submission(ROOT / "submissions" / "team4.py")
    assert a.module is not b.module and a.module.__name__ != b.module.__name__
    assert sys.path == path_before
    assert not {m for m in set(sys.modules) - modules_before if m.startswith("_harness_submission")}
    assert a.team == "team4" and a.input_size == (28, 28)


def test_team_defaults_to_the_stem_and_can_be_overridden(tmp_path):
    f = tmp_path / "my-entry.py"
    f.write_text("INPUT_SIZE = (8, 8)\ndef build_model():\n    pass\n")
    assert load_submission(f).team == "my-entry"
    assert load_submission(f, team="blue").team == "blue"


@pytest.mark.parametrize(
    "source,message",
    [
        ("INPUT_SIZE = (8, 8)\ndef build_model(:\n", "syntax error"),
        ("INPUT_SIZE = (8, 8)\n", "no build_model"),
        ("def build_model():\n    pass\n", "no INPUT_SIZE"),
        ("INPUT_SIZE = (8, -1)\ndef build_model():\n    pass\n", "INPUT_SIZE must be"),
        ("import not_a_module_anywhere\n", "import failed"),
        ("raise RuntimeError('boom')\n", "RuntimeError: boom"),
    ],
)
def test_contract_errors(tmp_path, source, message):
    f = tmp_path / "entry.py"
    f.write_text(source)
    with pytest.raises(SubmissionError, match=message):
        load_submission(f)


def test_missing_file():
    with pytest.raises(SubmissionError, match="not found"):
        load_submission(Path("does/not/exist.py"))
