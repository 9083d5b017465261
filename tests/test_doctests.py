"""The examples in the library's docstrings run: a stale one fails here.

Modules whose examples need a whole evaluation (a worker, a board) show plain usage
text instead of `>>>` lines; every module that has `>>>` lines is listed here.
"""
import doctest
import importlib
import pkgutil

import pytest

import harness

MODULES = sorted(m.name for m in pkgutil.iter_modules(harness.__path__) if m.name != "__main__")


def _has_examples(name: str) -> bool:
    module = importlib.import_module(f"harness.{name}")
    return bool(doctest.DocTestFinder().find(module)) and any(t.examples for t in doctest.DocTestFinder().find(module))


@pytest.mark.parametrize("name", [m for m in MODULES if _has_examples(m)])
def test_docstring_examples_run(name, monkeypatch):
    monkeypatch.chdir(harness.__path__[0] + "/..")  # examples read the repository's own files (never write them)
    module = importlib.import_module(f"harness.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
