"""Counterfactual covariates: do() cuts arrows, numeric descendants keep their noise, categorical ones their value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latentcf.interventions import parse_interventions
from latentcf.scm.graph import CausalGraph
from latentcf.scm.mechanisms import counterfactual_covariates, fit_mechanisms

COVARIATES = {
    "age": {"type": "numeric"},
    "brain_age": {"type": "numeric", "parents": ["age"]},
    "score": {"type": "numeric", "parents": ["brain_age", "sex"]},
    "sex": {"type": "categorical", "levels": ["F", "M"]},
    "diagnosis": {"type": "categorical", "levels": ["CN", "AD"], "parents": ["age"]},
}


@pytest.fixture
def cohort():
    rng = np.random.default_rng(0)
    n = 50
    age = rng.uniform(55, 85, n)
    sex = rng.choice(["F", "M"], n)
    brain_age = 1.5 * age - 30 + rng.normal(0, 2, n)
    score = 0.5 * brain_age + 3.0 * (sex == "M") + rng.normal(0, 1, n)
    diagnosis = np.where(age > 75, "AD", "CN")
    return pd.DataFrame(
        {"age": age, "brain_age": brain_age, "score": score, "sex": sex, "diagnosis": diagnosis}
    )


def _counterfactual(cohort, item):
    graph = CausalGraph.from_config(COVARIATES, None)
    mechanisms = fit_mechanisms(cohort, COVARIATES, graph)
    assert set(mechanisms) == {"brain_age", "score"}  # numeric covariates with parents
    (iv,) = parse_interventions([item], COVARIATES)
    return counterfactual_covariates(cohort, iv, graph, mechanisms), mechanisms


def test_numeric_descendants_move_through_their_mechanisms_with_their_own_noise(cohort):
    cf, mechanisms = _counterfactual(cohort, {"name": "older", "shift": {"age": 10}})
    np.testing.assert_allclose(cf["age"], cohort["age"] + 10)
    slope_brain = np.polyfit(cohort["age"], cohort["brain_age"], 1)[0]
    np.testing.assert_allclose(cf["brain_age"] - cohort["brain_age"], 10 * slope_brain, rtol=1e-8)
    # score's parent brain_age changed: it moves by its own coefficient times that change
    change = cf["score"] - cohort["score"]
    ratio = change / (cf["brain_age"] - cohort["brain_age"])
    assert np.allclose(ratio, ratio.iloc[0]) and 0.4 < ratio.iloc[0] < 0.6
    # the categorical descendant keeps its factual value
    assert (cf["diagnosis"] == cohort["diagnosis"]).all() and (cf["sex"] == cohort["sex"]).all()


def test_do_on_a_descendant_cuts_its_mechanism(cohort):
    cf, _ = _counterfactual(
        cohort, {"name": "fixed", "set": {"brain_age": 70}, "shift": {"age": 10}}
    )
    assert (cf["brain_age"] == 70).all()
    assert not np.allclose(cf["score"], cohort["score"])


def test_null_intervention_changes_nothing(cohort):
    cf, _ = _counterfactual(cohort, {"name": "none", "shift": {"age": 0}})
    pd.testing.assert_frame_equal(cf, cohort, check_dtype=False, rtol=0, atol=1e-9)


def test_set_categorical(cohort):
    cf, _ = _counterfactual(cohort, {"name": "dxAD", "set": {"diagnosis": "AD"}})
    assert (cf["diagnosis"] == "AD").all()
    np.testing.assert_array_equal(cf["age"], cohort["age"])
