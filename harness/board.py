"""The leaderboard simulator: public and private boards, final picks, confidence, rescoring.

Usage:
    entries = read_entries(Path("leaderboard.csv"))
    board = public_board(entries, cfg, key)
    board[0].rank, board[0].tie_group
    # -> (1, 1)
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from harness.config import PROFILE_CHANGED_IN, Competition
from harness.data import AnswerKey
from harness.errors import LeaderboardError
from harness.fileio import atomic_write
from harness.leaderboard import Entry, check_competition, check_split, locked, decode_predictions, profile_macs, read_entries, rewrite_entries
from harness.metrics import bootstrap_counts, bootstrap_macro_f1, metric_value, weighted_metric
from harness.scoring import Part, Reference, Rule, config_id, total

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Standing:
    """One team's line on a board. Private boards fill the rank-change fields."""

    rank: int
    team: str
    entry_id: int
    macs: int
    params: int
    f1: float
    score: float
    ci_low: float | None
    ci_high: float | None
    tie_group: int | None
    submissions: int
    public_rank: int | None = None
    private_rank: int | None = None
    change: int | None = None

    def to_dict(self, private: bool = False) -> dict:
        """JSON fields; the public board's carry nothing about the private part."""
        d = asdict(self)
        if not private:
            for name in ("public_rank", "private_rank", "change"):
                d.pop(name)
        return d


def picks_path(leaderboard: Path) -> Path:
    return Path(str(leaderboard) + ".picks.json")


def read_picks(leaderboard: Path) -> dict[str, list[int]]:
    """Each team's manual final selection (entry ids)."""
    path = picks_path(leaderboard)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        return {str(team): [int(i) for i in ids] for team, ids in data.items()}
    except (ValueError, TypeError, AttributeError):
        raise LeaderboardError(f"{path}: not a valid selection file (expected {{team: [ids]}}); it was not changed") from None


def select_final(leaderboard: Path, team: str, ids: list[int], limit: int, competition: str | None = None) -> list[int]:
    """Mark up to `limit` scored submissions of `team` for the private board.

    With `competition`, a board holding rows of another competition is refused.
    """
    if not ids:
        raise LeaderboardError("give at least one submission id")
    if len(ids) > limit:
        raise LeaderboardError(f"a team may select at most {limit} submissions, got {len(ids)}")
    with locked(leaderboard):
        entries = read_entries(leaderboard)
        if competition is not None:
            check_competition(entries, competition, leaderboard)
        check_split(entries, "test", leaderboard)  # a validation board has no private board to pick for
        rows = {e.id: e for e in entries}
        for i in ids:
            if i not in rows:
                raise LeaderboardError(f"no submission with id {i} in {leaderboard}")
            if rows[i].team != team:
                raise LeaderboardError(f"submission {i} belongs to {rows[i].team!r}, not {team!r}")
            if not rows[i].scored:
                raise LeaderboardError(f"submission {i} failed ({rows[i].failure}); only scored submissions can be selected")
        picks = read_picks(leaderboard)
        picks[team] = sorted(set(ids))
        atomic_write(picks_path(leaderboard), json.dumps(picks, indent=1, sort_keys=True))
    return picks[team]


def ranked(e: Entry, rule: Rule) -> bool:
    """A row that takes part in the boards of `rule`'s format: scored, and scored under that format."""
    return e.scored and e.scoring == rule.label


def final_entries(entries: list[Entry], picks: dict[str, list[int]], limit: int, rule: Rule = Rule()) -> dict[str, list[Entry]]:
    """Per team: its manual picks, else its `limit` best public submissions (as on Kaggle)."""
    by_team: dict[str, list[Entry]] = {}
    for e in entries:
        if ranked(e, rule):
            by_team.setdefault(e.team, []).append(e)
    chosen = {}
    for team, rows in by_team.items():
        manual = [e for e in rows if e.id in set(picks.get(team, []))]
        chosen[team] = manual or sorted(rows, key=lambda e: (rule.order(e.public_score), e.time_utc))[:limit]
    return chosen


def bootstrap_scores(entries: list[Entry], key: AnswerKey, part: str, ref: Reference, resamples: int, seed: int, num_classes: int,
                     rule: Rule = Rule()) -> dict[int, tuple[float, float]]:
    """A 95% percentile interval of each entry's score over image resamples.

    The same seeded draws are used for every entry (a paired bootstrap), so
    intervals of different teams are comparable. Vectorised per entry.
    """
    mask = key.public if part == "public" else key.private
    labels = key.labels[mask]
    out = {}
    for e in entries:
        predictions = decode_predictions(e.predictions)
        if len(predictions) != len(key.labels):
            continue
        if rule.scoring == "2021":
            f1s = bootstrap_macro_f1(labels, predictions[mask], num_classes, resamples, seed)
            scores = total(e.macs, f1s, ref)
        else:
            counts = bootstrap_counts(len(labels), resamples, seed)
            scores = rule.score(e.macs, weighted_metric(rule.metric, labels, predictions[mask], counts, num_classes), ref)
        low, high = np.quantile(scores, [(1 - CONFIDENCE) / 2, 1 - (1 - CONFIDENCE) / 2])
        out[e.id] = (float(low), float(high))
    return out


def tie_groups(intervals: list[tuple[float, float]]) -> list[int]:
    """Group rows (sorted best first) whose interval overlaps their group leader's.

    >>> tie_groups([(0.1, 0.3), (0.2, 0.4), (0.35, 0.5), (0.6, 0.7)])
    [1, 1, 2, 3]
    """
    groups, group, leader_high = [], 0, None
    for low, high in intervals:
        if leader_high is None or low > leader_high:
            group += 1
            leader_high = high
        groups.append(group)
    return groups


def _standings(rows: list[Entry], part: str, counts: dict[str, int], cfg: Competition, key: AnswerKey | None, seed: int) -> list[Standing]:
    rule = cfg.rule
    rows = sorted(rows, key=lambda e: (rule.order(e.score(part)), e.time_utc))
    intervals = bootstrap_scores(rows, key, part, cfg.reference_for(part), cfg.bootstrap_resamples, seed, cfg.num_classes,
                                 rule) if key is not None else {}
    ordered = [intervals[e.id] if not rule.higher_is_better else (-intervals[e.id][1], -intervals[e.id][0])
               for e in rows if e.id in intervals]
    groups = tie_groups(ordered) if len(intervals) == len(rows) else [None] * len(rows)
    return [
        Standing(rank=i + 1, team=e.team, entry_id=e.id, macs=e.macs, params=e.params, f1=e.f1(part), score=e.score(part),
                 ci_low=intervals.get(e.id, (None, None))[0], ci_high=intervals.get(e.id, (None, None))[1],
                 tie_group=g, submissions=counts.get(e.team, 0))
        for i, (e, g) in enumerate(zip(rows, groups))
    ]


def _counts(entries: list[Entry]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in entries:
        if e.scored:
            counts[e.team] = counts.get(e.team, 0) + 1
    return counts


def public_board(entries: list[Entry], cfg: Competition, key: AnswerKey | None, seed: int = 0) -> list[Standing]:
    """Best public row per team, ranked, with intervals on the public images only."""
    best: dict[str, Entry] = {}
    order = cfg.rule.order
    for e in entries:
        if ranked(e, cfg.rule) and (e.team not in best or order(e.public_score) < order(best[e.team].public_score)):
            best[e.team] = e
    return _standings(list(best.values()), "public", _counts(entries), cfg, key, seed)


def private_board(entries: list[Entry], picks: dict[str, list[int]], cfg: Competition, key: AnswerKey | None, seed: int = 0) -> list[Standing]:
    """Final standings: each team's best private score among its final picks, with shake-up."""
    public_ranks = {s.team: s.rank for s in public_board(entries, cfg, None)}
    chosen = final_entries(entries, picks, cfg.final_picks, cfg.rule)
    best = [min(rows, key=lambda e: (cfg.rule.order(e.private_score), e.time_utc)) for rows in chosen.values()]
    board = _standings(best, "private", _counts(entries), cfg, key, seed)
    return [replace(s, public_rank=public_ranks.get(s.team), private_rank=s.rank,
                    change=(public_ranks[s.team] - s.rank) if s.team in public_ranks else None) for s in board]


def history(entries: list[Entry], team: str, rule: Rule = Rule()) -> list[dict]:
    """Every attempt of a team in time order, with the best public score so far (under `rule`'s format)."""
    rows, best = [], None
    for e in sorted((e for e in entries if e.team == team), key=lambda e: e.time_utc):
        if ranked(e, rule) and (best is None or rule.order(e.public_score) < rule.order(best)):
            best = e.public_score
        rows.append({"id": e.id, "time_utc": e.time_utc, "status": e.status, "failure": e.failure, "macs": e.macs,
                     "f1": e.public_f1, "score": e.public_score, "best_so_far": best, "submission": e.submission})
    return rows


@dataclass(frozen=True)
class Rescored:
    """What `rescore` did: rows rescored, rows left as they were, and the backup."""

    done: int
    missing: int
    """Scored rows with no MACs recorded for the configured profile."""
    outdated: int
    """Scored rows whose MACs for the configured profile come from an older definition of it."""
    backup: Path
    over_budget: int = 0
    """Under scoring = "budget": scored rows over a cap (or of unknown size under a byte cap), now failed rows."""


def part_scores(e: Entry, macs: int, cfg: Competition, key: AnswerKey | None) -> tuple[float, float]:
    """An entry's public and private score under the configured format, from its recorded F1 or predictions."""
    rule = cfg.rule
    if rule.scoring == "2021" or rule.metric == "macro_f1":  # a validation row has no private part: it stays without
        return (rule.score(macs, e.public_f1, cfg.reference_for("public")),
                None if e.private_f1 is None else rule.score(macs, e.private_f1, cfg.reference_for("private")))
    if key is None:
        raise LeaderboardError(f"rescoring by {rule.metric} needs the answer key: run where the data set is")
    predictions = decode_predictions(e.predictions)
    return tuple(metric_value(rule.metric, key.labels[m], predictions[m], cfg.num_classes) for m in (key.public, key.private))


def _over_budget(e: Entry, macs: int, cfg: Competition) -> str:
    """Why a row does not fit the configured caps, or "" when it does."""
    if cfg.rule.caps.max_weights_bytes is not None and e.stored_bytes is None:
        return "over budget: the stored bytes were not recorded (evaluated before sizes were); evaluate it again"
    over = cfg.rule.breaches({"weights_bytes": e.stored_bytes or 0, "params": e.params, "macs": macs})
    return "over budget: " + "; ".join(c.line() for c in over) if over else ""


def _rescorable_macs(e: Entry, cfg: Competition) -> int | None:
    """The row's MACs under the configured profile, when counted by its current definition; else None."""
    macs = profile_macs(e).get(cfg.profile)
    return macs if macs is not None and e.profile_version >= PROFILE_CHANGED_IN[cfg.profile] else None


def _under_current_values(e: Entry, macs: int, cfg: Competition) -> Entry:
    """The row's scores recomputed from its stored F1 values under the current profile and references."""
    public_score, private_score = part_scores(e, macs, cfg, None)
    return replace(e, macs=macs, profile=cfg.profile, ref_macs=cfg.reference.macs, ref_f1=cfg.reference.f1,
                   public_score=public_score, private_score=private_score)


@dataclass(frozen=True)
class CurrentBoard:
    """The board's rows as every view shows them: scored under the current values.

    `rescored` rows were stored under other values and are shown recomputed (the file is
    unchanged; `harness rescore` writes them); `stale` rows cannot be recomputed (no MACs
    for the configured profile, or counted by an older definition of it) and keep the
    values they were scored under.
    """

    entries: list[Entry]
    rescored: int
    stale: int


def on_current_values(entries: list[Entry], cfg: Competition) -> CurrentBoard:
    """Every scored row recomputed under the current profile and reference values, in memory.

    A row already under them is returned unchanged (so its scores stay bit-identical).
    Without pinned reference values, or under scoring = "budget" (whose scores do not
    depend on the reference), the rows are returned as they are.
    """
    if not cfg.has_reference or cfg.rule.scoring != "2021":
        return CurrentBoard(list(entries), 0, 0)
    out, rescored, stale = [], 0, 0
    for e in entries:
        macs = _rescorable_macs(e, cfg) if e.scored and e.scoring == cfg.rule.label else None
        if macs is None:
            out.append(e)
            if e.scored and config_id(e.profile, Reference(e.ref_macs, e.ref_f1)) != cfg.config_id:
                stale += 1
            continue
        current = _under_current_values(e, macs, cfg)
        same = (current.public_score, current.private_score, current.macs, current.profile, current.ref_macs, current.ref_f1) == \
            (e.public_score, e.private_score, e.macs, e.profile, e.ref_macs, e.ref_f1)
        out.append(e if same else current)
        rescored += not same
    return CurrentBoard(out, rescored, stale)


def rescore(leaderboard: Path, cfg: Competition, competition: str | None = None, key: AnswerKey | None = None,
            relabel=None, ancestors: tuple[str, ...] = ()) -> Rescored:
    """Recompute every scored row under the current format, profile and reference values.

    The values a row had before its first rescoring are kept in its `original_*`
    columns; the file is backed up first. A row whose MACs for the profile were counted
    by an older definition of it (`profile_version`) is left as it was and counted in
    `outdated`: its submission must be evaluated again, never mixed in silently. Under
    scoring = "budget", a row over a cap becomes a failed `over_budget` row; accuracy is
    recomputed from the row's predictions with `key`. Rows of the `ancestors` identities
    (the competition before an answer-key correction) first get their macro-F1 values
    recomputed from their stored predictions by `relabel` (`Entry -> Entry`, see
    `harness.lineage`) and become the current competition's.
    """
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    counts = {"done": 0, "missing": 0, "outdated": 0, "over_budget": 0}

    cfg.reference  # ConfigError before anything is written when none is pinned
    if competition is not None:
        check_competition(read_entries(leaderboard), competition, leaderboard, cfg.source, ancestors, rescoring=True)
    check_split(read_entries(leaderboard), "test", leaderboard)

    def transform(entries: list[Entry]) -> list[Entry]:
        if competition is not None:
            check_competition(entries, competition, leaderboard, cfg.source, ancestors, rescoring=True)
        check_split(entries, "test", leaderboard)
        out = []
        for e in entries:
            macs = _rescorable_macs(e, cfg)
            if not e.scored or macs is None:
                if e.scored:
                    counts["missing" if profile_macs(e).get(cfg.profile) is None else "outdated"] += 1
                out.append(e)
                continue
            originals = {} if e.original_profile else {
                "original_public_score": e.public_score, "original_private_score": e.private_score,
                "original_ref_macs": e.ref_macs, "original_ref_f1": e.ref_f1, "original_profile": e.profile}
            if relabel is not None and e.competition in ancestors:
                e = relabel(e)
            over = _over_budget(e, macs, cfg)
            if over:
                out.append(replace(e, **originals, status="failed", failure="over_budget", message=over, rescored_utc=now))
                counts["over_budget"] += 1
                continue
            public_score, private_score = part_scores(e, macs, cfg, key)
            out.append(replace(
                e, **originals, macs=macs, profile=cfg.profile, ref_macs=cfg.reference.macs, ref_f1=cfg.reference.f1,
                public_score=public_score, private_score=private_score, scoring=cfg.rule.label, rescored_utc=now,
                **({"competition": competition} if competition and e.competition else {})))
            counts["done"] += 1
        return out

    _, backup = rewrite_entries(leaderboard, transform)
    return Rescored(counts["done"], counts["missing"], counts["outdated"], backup, counts["over_budget"])


def board_config_ids(entries: list[Entry], cfg: Competition | None = None, part: Part = "public") -> set[str]:
    """The configurations (format, profile, reference) the rows' scores on `part` were computed under.

    With `cfg`, rows under its current values are named by `cfg.part_config_id(part)`;
    other rows by the values they record (their public reference).
    """
    ids = set()
    for e in entries:
        if e.scored:
            stored = config_id(e.profile, Reference(e.ref_macs, e.ref_f1))
            named = cfg.part_config_id(part) if cfg is not None and stored == cfg.config_id else stored
            ids.add(("" if e.scoring == "2021" else f"scoring={e.scoring} ") + named)
    return ids
