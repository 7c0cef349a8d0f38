"""The population prior and the shrinkage estimator: hand-computed cases and known variances."""

from __future__ import annotations

import numpy as np
import pytest

from latentcf.forecast.lines import fit_groups, fit_line
from latentcf.forecast.prior import TAU2_FLOOR, PopulationPrior, SlopeMoments
from latentcf.forecast.shrinkage import shrinkage_weight, shrunk_line


def prior(slope, tau2, sigma2) -> PopulationPrior:
    return PopulationPrior(np.asarray(slope, float), np.asarray(tau2), np.asarray(sigma2), "test")


def test_one_scan_gives_the_population_slope_through_that_scan():
    p = prior([0.5, -1.0], 0.04, 0.01)
    line, w = shrunk_line(p, np.array([70.0]), np.array([[2.0, 3.0]]))
    assert float(w) == 0.0
    np.testing.assert_array_equal(line.slope, [0.5, -1.0])
    np.testing.assert_allclose(line.at(74.0), [2.0 + 4 * 0.5, 3.0 - 4 * 1.0])


def test_many_spread_scans_with_little_noise_give_the_own_slope():
    ages = np.linspace(60, 80, 11)
    own = np.array([0.2, -0.3, 0.05])
    latents = 1.0 + ages[:, None] * own
    line, w = shrunk_line(prior([1.0, 1.0, 1.0], 0.01, 1e-9), ages, latents)
    assert float(w) > 1 - 1e-6
    np.testing.assert_allclose(line.slope, own, atol=1e-6)
    np.testing.assert_allclose(line.at(90.0), 1.0 + 90 * own, atol=1e-5)


def test_two_scans_by_hand():
    """Ages 70 and 74: Sxx = 8; tau^2 0.02, sigma^2 0.16 -> w = 0.02 / (0.02 + 0.02) = 0.5."""
    ages = np.array([70.0, 74.0])
    latents = np.array([[1.0, 0.0], [2.0, -2.0]])  # own slopes 0.25 and -0.5
    line, w = shrunk_line(prior([0.05, 0.1], 0.02, 0.16), ages, latents)
    assert float(w) == pytest.approx(0.5)
    np.testing.assert_allclose(line.slope, [0.5 * 0.25 + 0.5 * 0.05, 0.5 * -0.5 + 0.5 * 0.1])
    assert line.mean_age == 72.0
    np.testing.assert_allclose(line.at(72.0), [1.5, -1.0])  # through the mean latent
    np.testing.assert_allclose(line.at(78.0), [1.5 + 6 * 0.15, -1.0 + 6 * -0.2])


def test_per_dimension_weights_and_missing_variance_components():
    w = shrinkage_weight(np.array([0.02, 0.0, 1.0]), np.array([0.16, 0.16, 0.0]), 8.0)
    np.testing.assert_allclose(w, [0.5, 0.0, 1.0])
    assert float(shrinkage_weight(None, None, 8.0)) == 0.0
    line, w = shrunk_line(
        PopulationPrior(np.array([0.1]), None, None, "scm"),
        np.array([70.0, 74.0]),
        np.array([[1.0], [3.0]]),
    )
    assert float(w) == 0.0 and line.slope[0] == pytest.approx(0.1)


def synthetic_cohort(m, d, tau, sigma, beta, seed=0):
    """m subjects with 3-6 scans at ages spread over 2-10 years, slopes N(beta, tau^2), noise sigma."""
    rng = np.random.default_rng(seed)
    ages, latents, starts = [], [], []
    for _ in range(m):
        n = int(rng.integers(3, 7))
        t = rng.uniform(60, 75) + np.sort(rng.uniform(0, rng.uniform(2, 10), n))
        slope = beta + tau * rng.normal(size=d)
        z = rng.normal(size=d) + np.outer(t - 70, slope) + sigma * rng.normal(size=(n, d))
        starts.append(sum(len(a) for a in ages))
        ages.append(t)
        latents.append(z)
    return np.concatenate(ages), np.concatenate(latents), np.array(starts)


def moments_of(ages, latents, starts, weights="sxx") -> SlopeMoments:
    moments = SlopeMoments(weights)
    moments.add(fit_groups(ages, latents, starts))
    return moments


def test_moments_recover_known_tau2_and_sigma2():
    d, tau, sigma = 200, 0.05, 0.3
    beta = np.linspace(-0.2, 0.2, d)
    ages, latents, starts = synthetic_cohort(400, d, tau, sigma, beta)
    moments = moments_of(ages, latents, starts)
    slope, tau2, sigma2 = moments.estimate("pooled")
    assert tau2.shape == () and sigma2.shape == ()
    assert float(sigma2) == pytest.approx(sigma**2, rel=0.03)
    assert float(tau2) == pytest.approx(tau**2, rel=0.1)
    assert np.abs(slope - beta).mean() < 0.01
    _, tau2_d, sigma2_d = moments.estimate("per_dimension")
    assert tau2_d.shape == (d,) and float(np.mean(sigma2_d)) == pytest.approx(sigma**2, rel=0.03)
    assert float(np.mean(tau2_d)) == pytest.approx(tau**2, rel=0.1)


def test_equal_follow_up_makes_the_weightings_agree_with_the_plain_formula():
    """Every subject scanned at the same offsets: Sxx weights are equal weights, and tau^2 is
    var(b_i) - sigma^2 mean(1 / Sxx_i) by hand."""
    rng = np.random.default_rng(4)
    m, d, offsets = 60, 4, np.array([0.0, 1.0, 3.0, 4.0])
    ages = (rng.uniform(60, 80, m)[:, None] + offsets).ravel()
    slopes = 0.1 + 0.2 * rng.normal(size=(m, d))
    latents = np.repeat(slopes, 4, axis=0) * (ages[:, None] - 70) + 0.1 * rng.normal(
        size=(4 * m, d)
    )
    starts = np.arange(0, 4 * m, 4)
    fits = fit_groups(ages, latents, starts)
    sigma2 = fits.rss.sum(axis=0) / (2 * m)
    by_hand = np.var(fits.slope, axis=0, ddof=1) - sigma2 / 10.0  # Sxx = 10 for each subject
    for weights in ("sxx", "equal"):
        slope, tau2, s2 = moments_of(ages, latents, starts, weights).estimate("per_dimension")
        np.testing.assert_allclose(slope, fits.slope.mean(axis=0), rtol=1e-10)
        np.testing.assert_allclose(s2, sigma2, rtol=1e-10)
        np.testing.assert_allclose(tau2, by_hand, rtol=1e-8)
    _, tau2, s2 = moments_of(ages, latents, starts, "equal").estimate("pooled")
    assert float(s2) == pytest.approx(sigma2.mean()) and float(tau2) == pytest.approx(
        by_hand.mean()
    )


@pytest.mark.parametrize("weights", ["sxx", "equal"])
def test_streamed_moments_equal_one_batch_and_floor(weights):
    ages, latents, starts = synthetic_cohort(30, 5, 0.0, 0.3, np.zeros(5), seed=1)
    whole = moments_of(ages, latents, starts, weights)
    streamed = SlopeMoments(weights)
    for a, b in [(0, 11), (11, 30)]:
        lo, hi = starts[a], starts[b] if b < len(starts) else len(ages)
        streamed.add(fit_groups(ages[lo:hi], latents[lo:hi], starts[a:b] - lo))
    for mode in ("pooled", "per_dimension"):
        for x, y in zip(whole.estimate(mode), streamed.estimate(mode), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-10)
    # No true slope spread: the moment estimate is near zero or negative, floored above zero.
    variance = whole.q * whole.m / ((whole.m - 1) * whole.u)
    _, tau2, _ = whole.estimate("per_dimension")
    np.testing.assert_array_less(0, tau2)
    assert np.all(tau2 >= TAU2_FLOOR * variance * (1 - 1e-12)) and np.any(
        tau2 == TAU2_FLOOR * variance
    )


def test_two_scan_subjects_only_give_no_variance_components():
    ages = np.array([60.0, 64.0, 70.0, 72.0, 75.0])
    latents = np.arange(10.0).reshape(5, 2) ** 2
    moments = SlopeMoments("equal")
    assert moments.add(fit_groups(ages, latents, np.array([0, 2, 4]))) == 2  # the 1-scan one is out
    slope, tau2, sigma2 = moments.estimate()
    assert tau2 is None and sigma2 is None and moments.dof == 0
    own = [fit_line(ages[:2], latents[:2]).slope, fit_line(ages[2:4], latents[2:4]).slope]
    np.testing.assert_allclose(slope, np.mean(own, axis=0))
    with pytest.raises(ValueError, match="no subject"):
        SlopeMoments().estimate()
