"""Empirical-Bayes slope of one subject: its OLS slope shrunk towards the population slope.

With a subject's scans at ages t_j (Sxx = sum (t_j - mean t)^2, years^2), its OLS slope b_ols has
sampling variance sigma^2 / Sxx around its true slope, which the prior draws from
N(beta_pop, tau^2). The posterior mean is

    w = tau^2 / (tau^2 + sigma^2 / Sxx),    slope = w b_ols + (1 - w) beta_pop,

and the forecast line passes through the subject's mean latent at its mean age. One scan: Sxx = 0,
w = 0, the population slope through that scan. Many well-spread scans: w -> 1, the subject's own
slope. Without variance components (prior.tau2 None) w is 0: the population slope through the
subject's mean latent.
"""

from __future__ import annotations

import numpy as np

from latentcf.forecast.lines import Line, centred_sxx, fit_line
from latentcf.forecast.prior import PopulationPrior


def shrinkage_weight(tau2: np.ndarray | None, sigma2: np.ndarray | None, sxx: float) -> np.ndarray:
    """w in [0, 1] (shape of tau2: () pooled, (D,) per dimension); 0 for Sxx = 0 or tau2 None.

    A zero tau2 with a zero sigma2 (identical noiseless slopes) gives 1: own and population slope
    agree anyway.
    """
    if tau2 is None or sigma2 is None or not sxx > 0:
        return np.zeros(()) if tau2 is None else np.zeros_like(np.asarray(tau2, dtype=np.float64))
    tau2 = np.asarray(tau2, dtype=np.float64)
    denominator = tau2 + np.asarray(sigma2, dtype=np.float64) / sxx
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, tau2 / safe, 1.0)


def shrunk_line(
    prior: PopulationPrior, ages: np.ndarray, latents: np.ndarray
) -> tuple[Line, np.ndarray]:
    """(forecast line, w) of one subject from its scans: ages (n,) years, latents (n, D)."""
    t = np.asarray(ages, dtype=np.float64)
    z = np.asarray(latents, dtype=np.float64).reshape(len(t), -1)
    if len(t) == 0:
        raise ValueError("a forecast needs at least one scan")
    sxx = centred_sxx(t)
    w = shrinkage_weight(prior.tau2, prior.sigma2, sxx)
    if not sxx > 0:
        return Line(float(t.mean()), z.mean(axis=0), np.asarray(prior.slope, np.float64)), w
    own = fit_line(t, z)
    slope = w * own.slope + (1.0 - w) * prior.slope
    return Line(own.mean_age, own.mean_latent, slope), w
