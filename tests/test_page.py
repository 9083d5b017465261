"""`harness leaderboard --html`: one self-contained page, checked as text and rendered in headless Chromium."""
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from harness.board import public_board
from harness.leaderboard import read_entries
from test_board import add

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs the Debian package `chromium`)")


class _Tables(HTMLParser):
    """Every table as rows of cell texts, and every attribute that could load something."""

    def __init__(self):
        super().__init__()
        self.tables, self.links, self.tags = [], [], set()
        self._cell = None

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.links += [(tag, name, value) for name, value in attrs if name in ("src", "href", "srcset", "action", "data", "poster")]
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(self._cell.strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _parse(text: str) -> _Tables:
    parser = _Tables()
    parser.feed(text)
    return parser


@pytest.fixture
def board(tmp_path, cfg, key):
    lb = tmp_path / "lb.csv"
    add(lb, cfg, key, "overfit", 100_000, 0.02, 0.40, seed=1)
    add(lb, cfg, key, "steady", 150_000, 0.10, 0.08, seed=2)
    add(lb, cfg, key, "<b>tricky</b> & co", 150_000, 0.11, 0.11, seed=3)
    add(lb, cfg, key, "slow", 1_800_000, 0.2, 0.2, seed=4)
    return lb


def assert_self_contained(text: str) -> None:
    parsed = _parse(text)
    assert all(value.startswith("data:image/png;base64,") for _, _, value in parsed.links), parsed.links
    assert not {"script", "link", "iframe", "object", "embed", "base"} & parsed.tags
    rest = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text).lower()
    for needle in ("http:", "https:", "//", "@import", "@font-face", "url(", "javascript:", "<script"):
        assert needle not in rest, needle


def test_page_is_self_contained_escaped_and_private_only_on_request(board, invoke, tmp_path):
    public_only, with_private = tmp_path / "public.html", tmp_path / "private.html"
    result = invoke("leaderboard", "--leaderboard", board, "--html", public_only)
    assert result.exit_code == 0 and f"page written to {public_only}" in result.output
    assert invoke("leaderboard", "--leaderboard", board, "--html", with_private, "--private").exit_code == 0
    text = public_only.read_text()
    assert_self_contained(text)
    assert_self_contained(with_private.read_text())
    assert "<b>tricky</b>" not in text and "&lt;b&gt;tricky&lt;/b&gt; &amp; co" in text
    assert text.count("data:image/png;base64,") == 2  # the Pareto plot and the forecast's heat map
    assert "Shake-up forecast" in text and "Private board" not in text and "private score" in text.split("Shake-up forecast")[1]
    assert "Private board" in with_private.read_text()
    public_table = _parse(text).tables[0]
    assert public_table[0][:3] == ["#", "tie group", "team"]
    assert [row[2] for row in public_table[1:]] == ["overfit", "steady", "<b>tricky</b> & co", "slow"]
    assert public_only.stat().st_mode & 0o777 == 0o644


def test_page_errors(tmp_path, invoke, board):
    empty = invoke("leaderboard", "--leaderboard", tmp_path / "none.csv", "--html", tmp_path / "x.html")
    assert empty.exit_code == 1 and "nothing to publish" in empty.output and not (tmp_path / "x.html").exists()
    both = invoke("leaderboard", "--leaderboard", board, "--html", tmp_path / "x.html", "--all")
    assert both.exit_code == 1 and "--all" in both.output
    nested = invoke("leaderboard", "--leaderboard", board, "--html", tmp_path / "new" / "folder" / "x.html")
    assert nested.exit_code == 0 and (tmp_path / "new" / "folder" / "x.html").is_file()
    (tmp_path / "file").write_text("")
    blocked = invoke("leaderboard", "--leaderboard", board, "--html", tmp_path / "file" / "x.html")
    assert blocked.exit_code == 1 and "cannot write page" in blocked.output and "Traceback" not in blocked.output


@needs_chromium
def test_page_renders_in_headless_chromium(board, invoke, tmp_path, cfg, key):
    page = tmp_path / "board.html"
    assert invoke("leaderboard", "--leaderboard", board, "--html", page, "--private").exit_code == 0
    browser = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
               "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*browser, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    tables = _parse(dom.stdout).tables
    assert len(tables) == 3  # public board, forecast, private board
    rendered = {row[2]: row for row in tables[0][1:]}
    for s in public_board(read_entries(board), cfg, key):
        row = rendered[s.team]
        assert row[0] == str(s.rank) and row[1] == str(s.tie_group) and row[6] == f"{s.score:.4f}"
        assert re.fullmatch(rf"{s.ci_low:.3f}.{s.ci_high:.3f}", row[7])
    forecast_teams = [row[1] for row in tables[1][1:]]
    assert forecast_teams == [s.team for s in public_board(read_entries(board), cfg, None)]
    private_rows = {row[2]: row for row in tables[2][1:]}
    assert private_rows["overfit"][-1].startswith("-")  # first on the public board, not on the private one
    shot = tmp_path / "board.png"
    taken = subprocess.run([*browser, f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri()],
                           capture_output=True, text=True, timeout=120)
    assert taken.returncode == 0 and shot.stat().st_size > 20_000, taken.stderr[-2000:]
