"""The closed-form GLM: equal to scikit-learn, streamed = in memory, ridge, and designs it refuses."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, Ridge

from latentcf.scm.glm import DesignError, NormalEquations, check_design, r_squared


def _data(n=40, k=30, seed=0):
    rng = np.random.default_rng(seed)
    covariates = rng.normal(size=(n, 3))
    design = np.column_stack([np.ones(n), covariates])
    true = rng.normal(size=(4, k))
    latents = design @ true + 0.3 * rng.normal(size=(n, k))
    return design, covariates, latents.astype(np.float32)


def test_coefficients_equal_scikit_learn():
    design, covariates, z = _data()
    sums = NormalEquations.empty(4, z.shape[1])
    sums.add(design, z)
    b = sums.solve()
    reference = LinearRegression().fit(covariates, z.astype(np.float64))
    np.testing.assert_allclose(b[0], reference.intercept_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(b[1:], reference.coef_.T, rtol=1e-6, atol=1e-9)
    rss = sums.residual_sum_of_squares(b)
    residuals = z - design @ b
    np.testing.assert_allclose(rss, (residuals.astype(np.float64) ** 2).sum(0), rtol=1e-6)
    direct_r2 = 1 - rss / ((z - z.mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(r_squared(rss, sums.total_sum_of_squares()), direct_r2, rtol=1e-6)
    np.testing.assert_allclose(sums.mean_latent(), z.mean(0), rtol=1e-6)


@pytest.mark.parametrize("batch", [1, 7, 40])
def test_streamed_fit_equals_in_memory_fit(batch):
    design, _, z = _data()
    whole = NormalEquations.empty(4, z.shape[1])
    whole.add(design, z)
    streamed = NormalEquations.empty(4, z.shape[1])
    for start in range(0, len(z), batch):
        streamed.add(design[start : start + batch], z[start : start + batch])
    assert streamed.n == whole.n == 40
    np.testing.assert_allclose(streamed.solve(), whole.solve(), rtol=1e-10, atol=1e-12)


def test_ridge_leaves_the_intercept_unpenalised():
    design, covariates, z = _data()
    sums = NormalEquations.empty(4, z.shape[1])
    sums.add(design, z)
    b = sums.solve(ridge=5.0)
    reference = Ridge(alpha=5.0).fit(covariates, z.astype(np.float64))
    np.testing.assert_allclose(b[0], reference.intercept_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(b[1:], reference.coef_.T, rtol=1e-6, atol=1e-9)
    assert not np.allclose(b, sums.solve())


def test_collinear_columns_are_named_with_the_condition_number():
    rng = np.random.default_rng(1)
    age = rng.normal(size=20)
    design = np.column_stack(
        [np.ones(20), age, rng.normal(size=20), 2 * age + 1e-9 * rng.normal(size=20)]
    )
    columns = ["intercept", "age", "sex[M]", "age_months"]
    with pytest.raises(
        DesignError,
        match=r"ill-conditioned \(condition number [0-9.e+]+ > .*columns \['age', 'age_months'\]",
    ):
        check_design(design, columns, 0.0, 1e6)
    assert check_design(design, columns, 1.0, 1e6) > 1e6  # ridge makes it fittable


def test_empty_level_and_too_few_scans_are_named():
    design = np.column_stack([np.ones(6), np.arange(6.0), np.zeros(6)])
    with pytest.raises(
        DesignError,
        match=r"column\(s\) \['diagnosis\[AD\]'\] are zero for every scan of the train split",
    ):
        check_design(design, ["intercept", "age", "diagnosis[AD]"], 0.0, 1e6)
    with pytest.raises(DesignError, match="2 scans in the train split for 3 design-matrix columns"):
        check_design(design[:2], ["intercept", "age", "x"], 0.0, 1e6)
