"""Every command documents itself with an example (`--help` is the manual), and the README
documents every command and JSON view."""

import pytest
import typer.main

from harness.cli import app
from conftest import ROOT

COMMANDS = ["evaluate", "check", "leaderboard", "select", "history", "forecast", "rescore", "reference", "data init", "data verify", "data manifest", "init", "kit"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_an_example(invoke, command):
    result = invoke(*command.split(), "--help")
    assert result.exit_code == 0
    assert "Example" in result.output and f"harness {command}" in result.output


def test_every_registered_command_is_listed_here():
    click_app = typer.main.get_command(app)
    names = set(click_app.commands)
    assert names == {c.split()[0] for c in COMMANDS}


def test_readme_has_two_quick_start_commands_and_the_contract():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("##", 1)[0]
    assert "make demo" in quick and "make test" in quick
    for name in ("build_model()", "INPUT_SIZE", "TEAM", "transform(input_size)"):
        assert name in readme
