"""Group-effect statistics of regional volumes: Cohen's d, regression effects, subject bootstrap.

- :func:`cohens_d`: standardised mean difference with the pooled SD (ddof 1 per group).
- :func:`log_volume_effects`: OLS of log(volume) on age (years) and indicators of categorical
  levels, reported as percent per year (100 x slope) and percent for a level against its
  reference (100 x (exp(coefficient) - 1)): the simulator's parameterisation of atrophy.
- :func:`bootstrap`: percentile interval of any statistic over subjects resampled with
  replacement (all rows of a subject move together), seeded; :func:`bootstrap_many` for several
  statistics from one computation per resample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd


def cohens_d(a: Sequence[float], b: Sequence[float]) -> float:
    """(mean(a) - mean(b)) / pooled SD; NaN when a group has fewer than 2 values or no spread."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    pooled = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    return float((a.mean() - b.mean()) / np.sqrt(pooled)) if pooled > 0 else float("nan")


def log_volume_effects(
    volumes: Sequence[float],
    covariates: pd.DataFrame,
    numeric: Sequence[str],
    levels: dict[str, tuple[str, str]],
) -> dict[str, float]:
    """Effects on log(volume) by OLS with an intercept.

    `numeric`: numeric covariates -> '<name>' in percent per unit (100 x slope);
    `levels`: {covariate: (level, reference)} -> '<covariate>[<level>]' in percent
    (100 x (exp(b) - 1)), the indicator of `level` against rows at `reference` (other levels'
    rows are dropped). NaN where the design cannot be fitted (too few rows, a constant column).
    """
    keep = np.ones(len(covariates), dtype=bool)
    for name, (level, reference) in levels.items():
        keep &= covariates[name].isin([level, reference]).to_numpy()
    columns = [pd.to_numeric(covariates[n]).to_numpy(float)[keep] for n in numeric]
    columns += [
        (covariates[n].to_numpy()[keep] == lv).astype(float) for n, (lv, _) in levels.items()
    ]
    coef = ols_effects(np.log(np.asarray(volumes, float)[keep]), np.column_stack(columns))
    names = [*numeric, *[f"{n}[{lv}]" for n, (lv, _) in levels.items()]]
    out = {n: 100.0 * float(c) for n, c in zip(numeric, coef[: len(numeric)], strict=True)}
    for name, c in zip(names[len(numeric) :], coef[len(numeric) :], strict=True):
        out[name] = 100.0 * float(np.expm1(c))
    return out


def ols_effects(y: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """OLS coefficients of `columns` (n, k) for `y` (n,) with an intercept (not returned);
    all NaN when the design cannot be fitted."""
    design = np.column_stack([np.ones(len(y)), columns])
    if len(y) <= design.shape[1]:
        return np.full(columns.shape[1], np.nan)
    # lstsq's rank uses matrix_rank's tolerance (largest singular value x max(n, k) x eps).
    coef, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)
    return coef[1:] if rank == design.shape[1] else np.full(columns.shape[1], np.nan)


def bootstrap(
    subjects: Sequence[str],
    statistic: Callable[[np.ndarray], float],
    draws: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """(statistic of all rows, lower, upper): `statistic` takes row indices; the interval is the
    percentile interval over `draws` resamples of subjects with replacement (all rows of a subject
    move together); draws where the statistic is NaN are left out."""
    estimate, low, high = bootstrap_many(
        subjects, lambda rows: [statistic(rows)], draws=draws, seed=seed, level=level
    )
    return float(estimate[0]), float(low[0]), float(high[0])


def bootstrap_many(
    subjects: Sequence[str],
    statistics: Callable[[np.ndarray], Sequence[float]],
    draws: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`bootstrap` of K statistics computed together (e.g. from one fit): `statistics`
    takes row indices and returns K values; returns (estimates, lowers, uppers), each (K,), every
    statistic over the same resamples, its NaN draws left out."""
    codes, uniques = pd.factorize(np.asarray(subjects))
    estimate = np.asarray(statistics(np.arange(len(codes))), dtype=float)
    nan = np.full(estimate.shape, np.nan)
    if len(uniques) < 2:
        return estimate, nan, nan.copy()
    groups = [np.flatnonzero(codes == k) for k in range(len(uniques))]
    rng = np.random.default_rng(seed)
    values = np.array(
        [
            np.asarray(statistics(np.concatenate([groups[i] for i in picks])), dtype=float)
            for picks in (rng.integers(0, len(groups), len(groups)) for _ in range(draws))
        ]
    ).reshape(draws, len(estimate))
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = nan.copy(), nan.copy()
    for k in range(len(estimate)):
        finite = values[:, k][np.isfinite(values[:, k])]
        if finite.size:
            low[k], high[k] = np.percentile(finite, [tail, 100.0 - tail])
    return estimate, low, high
