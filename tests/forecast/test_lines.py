"""OLS lines latent ~ age: exact recovery of a linear trend, one subject and many at once."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from latentcf.forecast.lines import centred_sxx, fit_groups, fit_line
from latentcf.forecast.population import LineSums


def test_fit_line_recovers_a_linear_trend_exactly():
    rng = np.random.default_rng(0)
    intercept, slope = rng.normal(size=50), rng.normal(size=50) * 0.1
    ages = np.array([61.3, 63.0, 66.5, 70.1])
    latents = intercept + ages[:, None] * slope
    line = fit_line(ages, latents.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(line.slope, slope, atol=1e-6)
    np.testing.assert_allclose(line.intercept, intercept, atol=1e-4)
    np.testing.assert_allclose(line.at(80.0), intercept + 80.0 * slope, atol=1e-5)
    assert line.mean_age == pytest.approx(ages.mean())


def test_fit_line_is_undefined_for_one_scan_or_one_age():
    with pytest.raises(ValueError, match="at least 2 scans, got 1"):
        fit_line(np.array([70.0]), np.ones((1, 3)))
    with pytest.raises(ValueError, match="different ages"):
        fit_line(np.array([70.0, 70.0]), np.ones((2, 3)))
    assert centred_sxx(np.array([70.0])) == 0.0
    assert centred_sxx(np.array([60.0, 64.0])) == pytest.approx(8.0)


def test_fit_groups_equals_one_fit_per_subject_and_sklearn():
    rng = np.random.default_rng(1)
    sizes = [2, 5, 1, 3]
    starts = np.cumsum([0, *sizes[:-1]])
    ages = rng.uniform(55, 85, sum(sizes))
    latents = rng.normal(size=(sum(sizes), 7))
    fits = fit_groups(ages, latents, starts)
    np.testing.assert_array_equal(fits.n, sizes)
    for i, (s, n) in enumerate(zip(starts, sizes, strict=True)):
        t, z = ages[s : s + n], latents[s : s + n]
        if n == 1:
            assert fits.sxx[i] == 0 and not fits.slope[i].any() and not fits.rss[i].any()
            continue
        reference = LinearRegression().fit(t[:, None], z)
        np.testing.assert_allclose(fits.slope[i], reference.coef_[:, 0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fits.line(i).intercept, reference.intercept_, rtol=1e-9)
        rss = ((z - reference.predict(t[:, None])) ** 2).sum(axis=0)
        np.testing.assert_allclose(fits.rss[i], rss, rtol=1e-8, atol=1e-12)
    with pytest.raises(ValueError, match="must increase from 0"):
        fit_groups(ages, latents, np.array([1, 3]))


def test_streamed_population_line_equals_one_fit():
    rng = np.random.default_rng(2)
    ages = rng.uniform(55, 85, 40)
    latents = rng.normal(size=(40, 6)) + ages[:, None] * 0.3
    sums = LineSums()
    for part in np.array_split(np.arange(40), 3):
        sums.add(ages[part], latents[part])
    line, reference = sums.line(), fit_line(ages, latents)
    np.testing.assert_allclose(line.slope, reference.slope, rtol=1e-10)
    np.testing.assert_allclose(line.at(77.0), reference.at(77.0), rtol=1e-10)
    from_fits = LineSums()  # from subjects' own fits (1 to 5 scans), in two batches
    starts = np.array([0, 1, 4, 9, 11, 16, 20, 25, 30, 35])
    for lo, hi, first, last in [(0, 11, 0, 4), (11, 40, 4, 10)]:
        from_fits.add_fits(fit_groups(ages[lo:hi], latents[lo:hi], starts[first:last] - lo))
    assert from_fits.n == 40
    np.testing.assert_allclose(from_fits.line().slope, reference.slope, rtol=1e-10)
    np.testing.assert_allclose(from_fits.line().at(77.0), reference.at(77.0), rtol=1e-10)
    single = LineSums()
    single.add(np.array([70.0, 70.0]), latents[:2])
    with pytest.raises(ValueError, match="same age"):
        single.line()
