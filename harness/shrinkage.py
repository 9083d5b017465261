"""Empirical-Bayes shrinkage of public macro-F1 values, for the forecast.

A public F1 is the truth plus the noise of a finite public part. Among nearly level
teams the public leader is partly lucky, and a team's best public entry, selected among
many, is luckier still. Two normal-normal levels undo both, with every variance
estimated from the board itself:

- within a team, each entry is shrunk toward the team's mean entry, by
  `B = s^2 / (s^2 + tau_w^2)`, where `s^2` is the entry's sampling variance relative to
  its team's mean (paired bootstrap of the public images) and `tau_w^2` the spread of
  true F1 within teams, pooled over the board (observed spread minus noise, at least 0);
  a team that submitted 20 near-copies keeps little of its best copy's luck;
- the team means are shrunk toward the board's mean the same way, with `tau_b^2` the
  spread of true F1 between teams: spread-out boards keep their gaps, close races lose
  most of them.

Example:
    >>> import numpy as np
    >>> noise = np.random.default_rng(0).normal(0, 0.02, (400, 3))
    >>> shifts = shrinkage_shifts(np.array([0.80, 0.81, 0.50]), noise, np.array([0, 1, 2]))
    >>> bool(abs(shifts[2]) < 0.01), bool(shifts[1] < 0)   # far behind: kept; the close leader: pulled back
    (True, True)
"""
from __future__ import annotations

import numpy as np


def _shrunk(deviations: np.ndarray, noise_var: np.ndarray, dof: float) -> np.ndarray:
    """Deviations from a mean, shrunk by their noise against the spread of the truth (tau^2)."""
    if dof <= 0:
        return deviations
    tau2 = max(0.0, float((deviations ** 2).sum() - noise_var.sum()) / dof)
    keep = np.divide(tau2, tau2 + noise_var, out=np.ones_like(noise_var), where=(tau2 + noise_var) > 0)
    return keep * deviations


def _group_means(values: np.ndarray, groups: np.ndarray, count: int) -> np.ndarray:
    """Per group, the mean of `values` along the last axis (entries)."""
    one_hot = np.eye(count)[groups]
    return (values @ one_hot) / one_hot.sum(axis=0)


def shrinkage_shifts(public_f1: np.ndarray, bootstrap_f1: np.ndarray, team_of: np.ndarray) -> np.ndarray:
    """Per entry, the shift from its public F1 to its shrunk estimate (see the module doc).

    `public_f1`: entries; `bootstrap_f1`: draws x entries, each entry's F1 on the same
    bootstrap resamples of the public images; `team_of`: the team index of each entry.
    """
    team_of = np.asarray(team_of)
    teams = int(team_of.max()) + 1
    sizes = np.bincount(team_of, minlength=teams)
    team_mean, boot_team_mean = _group_means(public_f1, team_of, teams), _group_means(bootstrap_f1, team_of, teams)
    within = public_f1 - team_mean[team_of]
    within_noise = (bootstrap_f1 - boot_team_mean[:, team_of]).var(axis=0)
    shrunk_within = _shrunk(within, within_noise, float((sizes - 1).sum()))
    between = team_mean - team_mean.mean()
    between_noise = (boot_team_mean - boot_team_mean.mean(axis=1, keepdims=True)).var(axis=0)
    shrunk_between = _shrunk(between, between_noise, teams - 1.0)
    estimate = team_mean.mean() + shrunk_between[team_of] + shrunk_within
    return estimate - public_f1
