"""Shared fixtures. Tests never write the repository's leaderboard.csv or data/:
every leaderboard lives in tmp_path and the tensor cache in a session temp folder."""
from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "tests"
"""The tests folder (fixtures: broken/, cheats/, honest/, hostile/)."""
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ["COLUMNS"] = "200"  # rich tables unwrapped in captured output


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    os.environ["HARNESS_CACHE"] = str(tmp_path_factory.mktemp("tensor-cache"))
    yield


@pytest.fixture(scope="session")
def repo_table() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["harness"]


def _toml_value(value) -> str:
    return json.dumps(value)  # JSON scalars and lists are valid TOML values


@pytest.fixture
def write_config(tmp_path, repo_table):
    """Write a competition file like the repository's, with absolute paths and overrides."""

    def write(**overrides) -> Path:
        table = dict(repo_table)
        table["data"] = str(ROOT / repo_table["data"])
        table["reference"] = str(ROOT / repo_table["reference"])
        table.update(overrides)
        path = tmp_path / f"competition-{len(list(tmp_path.glob('competition-*')))}.toml"
        lines = ["[tool.harness]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items() if v is not None]
        path.write_text("\n".join(lines) + "\n")
        return path

    return write


@pytest.fixture(scope="session")
def cfg():
    """The repository's competition (frozen: tests derive variants with dataclasses.replace)."""
    from harness.config import load_config

    return load_config(ROOT / "pyproject.toml")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def invoke(runner):
    """Run the CLI; returns the result (output holds stdout and stderr)."""
    from harness.cli import app

    def run(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return run


@pytest.fixture
def twin_of_team4(tmp_path):
    """team4's file and weights copied under another name, with extra code appended."""
    import shutil

    def make(name: str, extra: str = "") -> Path:
        shutil.copy(ROOT / "submissions" / "team4.pt", tmp_path / f"{name}.pt")
        source = (ROOT / "submissions" / "team4.py").read_text().replace('TEAM = "team4"', f'TEAM = "{name}"')
        (tmp_path / f"{name}.py").write_text(source + "\n" + extra)
        return tmp_path / f"{name}.py"

    return make


def json_of(text: str) -> dict:
    return json.loads(text[text.index("{"): text.rindex("}") + 1])


@pytest.fixture
def key(cfg):
    from harness.data import open_dataset, read_answer_key

    return read_answer_key(open_dataset(cfg.data_dir, cfg.classes))
