"""Untrusted text is text: team names and messages from submissions and board files reach
terminals, CSV files, plots and HTML only as literal text (hostile names, no workers)."""
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import ROOT
from harness.errors import RulesError
from harness.evaluate import new_entry
from harness.leaderboard import append_entry, read_entries, restore_text, neutralise_text
from harness.names import MAX_TEAM_LENGTH, skeleton, validate_team
from test_board import add
from test_page import _parse

MARKUP, LINK = "[/x]", "[link=https://evil.example]team4[/link]"
FORMULA, MATH = '=HYPERLINK("http://x")', r"x $\undefinedmacro$"
LOOKALIKE = "tеam4"  # Cyrillic е
HOSTILE = (MARKUP, LINK, FORMULA, MATH, LOOKALIKE)


@pytest.fixture
def hostile_board(tmp_path, cfg, key):
    """A board file whose team names were never validated (written with the library)."""
    lb = tmp_path / "lb.csv"
    add(lb, cfg, key, "team4", 190_000, 0.10, seed=1)
    for i, name in enumerate(HOSTILE):
        add(lb, cfg, key, name, 120_000 + 10_000 * i, 0.05 + 0.02 * i, seed=2 + i)
    append_entry(lb, replace(new_entry(ROOT / "submissions" / "team4.py", FORMULA, cfg, read_entries(lb)[0].time),
                             failure="crashed", message="@SUM(A1:A9) [bold]loud[/bold]"))
    return lb


def test_every_view_shows_hostile_names_literally(hostile_board, invoke, tmp_path):
    board = invoke("leaderboard", "--leaderboard", hostile_board)
    attempts = invoke("leaderboard", "--leaderboard", hostile_board, "--all")
    forecast = invoke("forecast", "--leaderboard", hostile_board, "--draws", "50", "--plot", tmp_path / "ranks.png")
    for result in (board, attempts, forecast):
        assert result.exit_code == 0, result.output
        for name in HOSTILE:
            assert name in result.output, (name, result.output)
    assert "@SUM(A1:A9) [bold]loud[/bold]" in attempts.output
    plotted = invoke("leaderboard", "--leaderboard", hostile_board, "--plot", tmp_path / "board.png", "--html", tmp_path / "b.html")
    assert plotted.exit_code == 0, plotted.output
    assert (tmp_path / "board.png").stat().st_size > 10_000 and (tmp_path / "ranks.png").stat().st_size > 10_000
    page = (tmp_path / "b.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "<a " not in page and "[link=https://evil.example]team4[/link]" in page
    teams = [row[2] for row in _parse(page).tables[0][1:]]
    assert sorted(teams) == sorted(("team4",) + HOSTILE)


def test_csv_cells_that_start_a_formula_are_neutralised_and_read_back(hostile_board, cfg, key):
    raw = hostile_board.read_text()
    assert "\n" + "'=HYPERLINK" not in raw  # quoted by csv (it holds quotes), so look inside the cell
    assert '"\'=HYPERLINK(""http://x"")"' in raw and ",'@SUM(A1:A9)" in raw
    assert ',=' not in raw and ',"=' not in raw and ',@' not in raw
    negative = add(hostile_board, cfg, key, "tiny", 1_000, 0.0, seed=9)
    assert negative.public_score < 0
    assert f",{negative.public_score!r}," in hostile_board.read_text()  # a negative number stays a number
    entries = read_entries(hostile_board)
    assert [e.team for e in entries] == ["team4", *HOSTILE, FORMULA, "tiny"]
    assert entries[-2].message == "@SUM(A1:A9) [bold]loud[/bold]" and entries[-1].public_score == negative.public_score


@pytest.mark.parametrize("text", ["", "'", "''", "'=1", "''=1", "=1", "+1", "-1", "@a", "\tx", "\rx", "'quoted", "a=b", "-", "'-"])
def test_neutralised_text_round_trips(text, tmp_path, cfg):
    assert restore_text(neutralise_text(text)) == text
    assert not neutralise_text(text).startswith(("=", "+", "-", "@", "\t", "\r"))
    lb = tmp_path / "lb.csv"
    append_entry(lb, replace(new_entry(ROOT / "submissions" / "team4.py", "t", cfg, datetime(2026, 1, 1, 12, tzinfo=timezone.utc)),
                             failure="crashed", message=text))
    assert read_entries(lb)[0].message == text


@pytest.mark.parametrize("name, why", [
    (MARKUP, "character '['"), (LINK, "character '['"), (FORMULA, "character '='"), (MATH, "character '$'"),
    (LOOKALIKE, "mixes CYRILLIC and LATIN"), ("team\u202e4", "character '\\u202e'"), ("team\u200d4", "character '\\u200d'"),
    ("te\x00am", "character '\\x00'"), ("x" * (MAX_TEAM_LENGTH + 1), "longer than"), ("  ", "empty"),
])
def test_the_validator_refuses_with_one_line(name, why):
    with pytest.raises(RulesError) as raised:
        validate_team(name)
    assert why in raised.value.message and "\n" not in raised.value.message


def test_the_validator_accepts_any_script_and_refuses_look_alikes():
    assert validate_team(" team_4.v2-final ") == "team_4.v2-final"
    assert validate_team("команда") == "команда" and validate_team("ομάδα 3") == "ομάδα 3" and validate_team("チーム") == "チーム"
    assert validate_team("ｔｅａｍ４") == "team4"  # NFKC: full-width letters are the ASCII name
    for look_alike in ("Team4", "TEAM4", "teаm4".replace("а", "a"), "ТЕАМ4", "ΤΕΑΜ4", "team4"):
        assert skeleton(look_alike) == "team4"
    with pytest.raises(RulesError, match="looks like the existing team 'team4'"):
        validate_team("Team4", ["team4"])
    with pytest.raises(RulesError, match="looks like"):
        validate_team("ТЕАМ4", ["team4"])  # all Cyrillic: one script, but the same skeleton
    with pytest.raises(RulesError, match="looks like"):
        validate_team("teamO", ["team0"])
    assert validate_team("team4", ["team4", "team7"]) == "team4"


def test_commands_refuse_bad_names_before_running_anything(invoke, hostile_board, tmp_path, twin_of_team4):
    sub = ROOT / "submissions" / "team4.py"
    for name in (MARKUP, LINK, FORMULA, MATH):
        result = invoke("evaluate", sub, "--team", name, "--leaderboard", hostile_board)
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert result.exit_code == 7 and len(errors) == 1 and "is refused" in errors[0] and "Traceback" not in result.output
    look_alike = twin_of_team4(LOOKALIKE)  # the literal TEAM and the file stem both carry the Cyrillic е
    result = invoke("evaluate", look_alike, "--leaderboard", hostile_board)
    assert result.exit_code == 7 and "mixes CYRILLIC and LATIN" in result.output
    result = invoke("evaluate", sub, "--team", "TEAM4", "--leaderboard", hostile_board)
    assert result.exit_code == 7 and "looks like the existing team 'team4'" in result.output
    assert len(read_entries(hostile_board)) == len(HOSTILE) + 2  # nothing appended
    assert invoke("select", MARKUP, "1", "--leaderboard", hostile_board).exit_code == 7
    assert invoke("history", LINK, "--leaderboard", hostile_board).exit_code == 7
    assert "Traceback" not in result.output


def test_a_plot_failure_never_blocks_the_board_or_the_page(tmp_path, cfg, key, invoke):
    lb = tmp_path / "lb.csv"
    add(lb, cfg, key, "steady", 150_000, 0.10, seed=2)
    add(lb, cfg, key, "nothing", 0, 0.10, seed=3)  # a board file with 0 MACs: no log scale can hold it
    with pytest.warns(RuntimeWarning):
        result = invoke("leaderboard", "--leaderboard", lb, "--plot", tmp_path / "b.png", "--html", tmp_path / "b.html")
    assert result.exit_code == 1 and "cannot draw the board plot" in result.output and "Traceback" not in result.output
    assert "steady" in result.output and "page written to" in result.output and not (tmp_path / "b.png").exists()
    page = (tmp_path / "b.html").read_text()
    assert "This plot is missing: cannot draw the board plot" in page and page.count("data:image/png;base64,") == 1
