"""The population slope from a hand-made fitted SCM, converted to latent units per year."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latentcf.errors import ConfigError
from latentcf.forecast.scm_slope import design_derivative, scm_slope
from latentcf.scm.design import CovariateEncoding, DesignSpec
from latentcf.scm.fitted import FittedSCM
from latentcf.scm.graph import CausalGraph

AGE = CovariateEncoding("age", "numeric", mean=70.0, sd=8.0, min=55.0, max=85.0)
DX = CovariateEncoding("diagnosis", "categorical", levels=("CN", "AD"), reference="CN")
ROWS = pd.DataFrame({"age": [62.0, 70.0, 86.0], "diagnosis": ["CN", "AD", "AD"]})


def fitted(design: DesignSpec, coefficients: np.ndarray) -> FittedSCM:
    k = coefficients.shape[1]
    graph = CausalGraph({"age": (), "diagnosis": ("age",)}, ("age", "diagnosis"))
    return FittedSCM(
        graph, design, {}, "z", (k,), coefficients, np.ones(k), np.ones(k), np.zeros(k)
    )


def test_age_coefficient_per_sd_becomes_per_year():
    """Columns intercept, age (per 8-year SD), diagnosis[AD]: the slope is B[age] / 8 per year."""
    b = np.array([[5.0, -1.0], [0.8, -1.6], [3.0, 3.0]])
    scm = fitted(DesignSpec((AGE, DX)), b)
    np.testing.assert_allclose(scm_slope(scm, ROWS), [0.1, -0.2])
    # A 10-year shift of the counterfactual stage moves the latent by 10 x this slope.
    shifted = ROWS.assign(age=ROWS["age"] + 10)
    change = (scm.design.encode(shifted) - scm.design.encode(ROWS)) @ b
    np.testing.assert_allclose(change, np.tile([1.0, -2.0], (3, 1)))


def test_extra_terms_give_the_average_derivative():
    """age^2 and age:diagnosis: d/d age of the design rows, by hand and by finite differences."""
    design = DesignSpec((AGE, DX), ("age^2", "age:diagnosis"))
    assert design.columns() == ["intercept", "age", "diagnosis[AD]", "age^2", "age:diagnosis[AD]"]
    s = (ROWS["age"].to_numpy() - 70) / 8
    ad = (ROWS["diagnosis"] == "AD").to_numpy(float)
    by_hand = np.column_stack([0 * s, np.ones(3), 0 * s, 2 * s, ad]) / 8
    np.testing.assert_allclose(design_derivative(design, ROWS, "age"), by_hand)
    b = np.random.default_rng(0).normal(size=(5, 3))
    h = 1e-4
    numeric = (
        design.encode(ROWS.assign(age=ROWS["age"] + h))
        - design.encode(ROWS.assign(age=ROWS["age"] - h))
    ) / (2 * h)
    np.testing.assert_allclose(
        scm_slope(fitted(design, b), ROWS), (numeric @ b).mean(axis=0), rtol=1e-7
    )


def test_an_scm_without_age_has_no_slope():
    scm = fitted(DesignSpec((DX,)), np.ones((2, 2)))
    with pytest.raises(ConfigError, match="forecast.population_slope"):
        scm_slope(scm, ROWS)
