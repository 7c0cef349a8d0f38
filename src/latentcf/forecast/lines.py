"""Straight lines latent ~ age: one subject's ordinary least squares, and many subjects at once.

A line is an intercept (D,) and a slope (D,) per year, with the intercept at age 0 kept only as
``mean latent - slope x mean age`` (the line through the mean latent at the mean age), so that
evaluating it near the data loses no precision. All arithmetic is float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Line:
    """z(age) = mean_latent + slope (age - mean_age); mean_latent and slope (D,) float64."""

    mean_age: float
    mean_latent: np.ndarray
    slope: np.ndarray

    @property
    def intercept(self) -> np.ndarray:
        """z(0) (D,)."""
        return self.mean_latent - self.slope * self.mean_age

    def at(self, age: float) -> np.ndarray:
        """The line's latent at `age` (years), (D,) float64."""
        return self.mean_latent + self.slope * (float(age) - self.mean_age)


def centred_sxx(ages: np.ndarray) -> float:
    """Sxx = sum (age - mean age)^2 of one subject's scans (years^2); 0 for a single scan."""
    t = np.asarray(ages, dtype=np.float64)
    return float(np.sum((t - t.mean()) ** 2))


def fit_line(ages: np.ndarray, latents: np.ndarray) -> Line:
    """OLS line of latents (n, D) on ages (n,) (MRExtrap's per-subject fit).

    Undefined, so ValueError, for fewer than two scans or when every scan has the same age.
    """
    t = np.asarray(ages, dtype=np.float64)
    z = np.asarray(latents, dtype=np.float64).reshape(len(t), -1)
    if len(t) < 2:
        raise ValueError(f"an OLS line needs at least 2 scans, got {len(t)}")
    tc = t - t.mean()
    sxx = float(tc @ tc)
    if not sxx > 0:
        raise ValueError(f"an OLS line needs scans at different ages, got ages {t.tolist()}")
    mean = z.mean(axis=0)
    return Line(float(t.mean()), mean, np.einsum("n,nd->d", tc, z) / sxx)


@dataclass(frozen=True)
class GroupFits:
    """Per-subject OLS fits of many subjects, S subjects, D latent values.

    n (S,) scans, mean_age (S,), sxx (S,) years^2, mean_latent (S, D), slope (S, D) per year
    (0 where sxx is 0), rss (S, D): residual sum of squares about each subject's line (about its
    mean where sxx is 0).
    """

    n: np.ndarray
    mean_age: np.ndarray
    sxx: np.ndarray
    mean_latent: np.ndarray
    slope: np.ndarray
    rss: np.ndarray

    def line(self, i: int) -> Line:
        return Line(float(self.mean_age[i]), self.mean_latent[i], self.slope[i])


def fit_groups(ages: np.ndarray, latents: np.ndarray, starts: np.ndarray) -> GroupFits:
    """OLS lines of consecutive groups of rows (each subject's rows together).

    `latents` (N, D) (float64 avoids a converted copy), `ages` (N,), `starts` (S,) the first row
    of each group (increasing, starting at 0). Each subject costs three passes over its rows: its
    sum, Sxz = sum (t - mean t) z and its sum of squares (residual sum of squares =
    Szz - n mean^2 - slope Sxz), no (N, D) temporary. The loop over subjects is cheap next to them
    (D ~ 10^4-10^5 values per scan); a vectorised form (np.add.reduceat over groups, with (N, D)
    temporaries) measured several times slower. Products with a few rows go through np.einsum, not
    BLAS: OpenBLAS's threads cost milliseconds per call to wake on a busy machine (a (2, n) @ (n, D)
    product took 8 ms instead of 0.13 ms single-threaded on the 2-core development machine).
    """
    t = np.asarray(ages, dtype=np.float64)
    z = np.asarray(latents, dtype=np.float64).reshape(len(t), -1)
    starts = np.asarray(starts, dtype=np.intp)
    if len(t) == 0 or len(starts) == 0 or starts[0] != 0 or np.any(np.diff(starts) <= 0):
        raise ValueError(
            f"group starts {starts.tolist()} must increase from 0 within {len(t)} rows"
        )
    ends = np.append(starts[1:], len(t))
    if ends[-1] <= starts[-1]:
        raise ValueError(
            f"group starts {starts.tolist()} must increase from 0 within {len(t)} rows"
        )
    n = (ends - starts).astype(np.float64)
    s_, d = len(starts), z.shape[1]
    mean_age, sxx = np.empty(s_), np.empty(s_)
    mean_latent, slope, rss = np.empty((s_, d)), np.zeros((s_, d)), np.empty((s_, d))
    for g, (a, b) in enumerate(zip(starts, ends, strict=True)):
        zg = z[a:b]
        mean_age[g] = t[a:b].mean()
        tc = t[a:b] - mean_age[g]
        total = zg.sum(axis=0)
        sxz = np.einsum("n,nd->d", tc, zg)  # sum tc = 0, so this is Sxz
        mean_latent[g] = total / n[g]
        sxx[g] = tc @ tc
        if sxx[g] > 0:
            slope[g] = sxz / sxx[g]
        szz = np.einsum("nd,nd->d", zg, zg)
        rss[g] = np.clip(szz - total * mean_latent[g] - slope[g] * sxz, 0.0, None)
    return GroupFits(n, mean_age, sxx, mean_latent, slope, rss)
