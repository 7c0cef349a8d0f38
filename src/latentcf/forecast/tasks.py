"""Which scans each forecast method uses, per held-out subject (pure pandas, no latents).

A subject's scans are ordered by age (then session); the target is the last one, the earlier
scans those strictly younger than it. A subject with no earlier scan is not forecast. Each
method uses the k most recent earlier scans, so that the forecast horizon (last scan used ->
target) is the same for every k and the error-vs-k curve (MRExtrap Fig. 2c) isolates the number
of scans:

- ``ols``: k = 2 ... all earlier scans (needs two ages among the k);
- ``prior_all``: k = 1 ... all earlier scans; ``prior_single``: k = 1;
- ``no_change``: the last earlier scan (k = 1); ``population``: no scan (k = 0).

The row with all earlier scans (k = 1 for prior_single and no_change, 0 for population) is a
method's ``main`` row, the one the methods are compared on; the others form the curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

METHODS = ("ols", "prior_single", "prior_all", "no_change", "population")
PRIOR_METHODS = ("prior_single", "prior_all")


@dataclass(frozen=True)
class History:
    """One held-out subject: earlier scans (oldest first) with their ages, and the target scan."""

    subject: str
    split: str
    scans: tuple[str, ...]
    ages: tuple[float, ...]
    target_scan: str
    target_session: str
    target_age: float


@dataclass(frozen=True)
class Task:
    """One forecast: `method` from `scans` (ages `ages`, oldest first) to the history's target."""

    history: History
    method: str
    scans: tuple[str, ...]
    ages: tuple[float, ...]
    main: bool

    @property
    def n_scans(self) -> int:
        return len(self.scans)


def histories(cohort: pd.DataFrame, splits: Sequence[str], age: str) -> list[History]:
    """Forecast subjects of `splits` (cohort rows: scan, participant_id, session_id, split, `age`),
    in cohort order of their first scan."""
    rows = cohort[cohort["split"].isin(splits)]
    out = []
    for subject, scans in rows.groupby("participant_id", sort=False):
        scans = scans.assign(_age=scans[age].astype(float)).sort_values(
            ["_age", "session_id", "scan"], kind="stable"
        )
        target = scans.iloc[-1]
        earlier = scans[scans["_age"] < target["_age"]]
        if earlier.empty:
            continue
        out.append(
            History(
                subject=str(subject),
                split=str(target["split"]),
                scans=tuple(earlier["scan"]),
                ages=tuple(float(a) for a in earlier["_age"]),
                target_scan=str(target["scan"]),
                target_session=str(target["session_id"]),
                target_age=float(target["_age"]),
            )
        )
    return out


def tasks(history: History, methods: Sequence[str]) -> list[Task]:
    """The forecasts of one subject for `methods` (see the module docstring), in method order."""
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown forecast methods {unknown}; expected some of {list(METHODS)}")
    n = len(history.scans)

    def last(k: int, method: str, main: bool) -> Task:
        return Task(history, method, history.scans[n - k :], history.ages[n - k :], main)

    out: list[Task] = []
    for method in methods:
        if method == "ols":
            out += [last(k, method, k == n) for k in range(2, n + 1) if _spread(history, k)]
        elif method == "prior_all":
            out += [last(k, method, k == n) for k in range(1, n + 1)]
        elif method in ("prior_single", "no_change"):
            out.append(last(1, method, True))
        else:  # population
            out.append(Task(history, method, (), (), True))
    return out


def _spread(history: History, k: int) -> bool:
    """Whether the k most recent earlier scans span two ages (an OLS line is defined)."""
    ages = history.ages[len(history.ages) - k :]
    return max(ages) > min(ages)
