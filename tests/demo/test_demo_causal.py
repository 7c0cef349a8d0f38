"""The simulator's causal effects are recovered from its ground-truth volumes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from latentcf.config import section_defaults
from latentcf.demo import simulate_volumes
from latentcf.demo.anatomy import STRUCTURE_GROUPS

SEED = 20261121
DEFAULTS = section_defaults("demo.schema.yaml")


def ols(table: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Fit log(volume) ~ 1 + (age - 70) + [AD] + [M]; return coefficients and standard errors."""
    x = np.column_stack(
        [
            np.ones(len(table)),
            table["age"] - 70.0,
            table["diagnosis"] == "AD",
            table["sex"] == "M",
        ]
    ).astype(float)
    y = np.log(table[column].to_numpy(float))
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    sigma2 = resid @ resid / (len(y) - x.shape[1])
    se = np.sqrt(np.diag(sigma2 * np.linalg.inv(x.T @ x)))
    return beta, se


def expected(group: str) -> tuple[float, float, float]:
    """(log age rate per year, log AD effect, log male/female volume ratio) configured."""
    p = DEFAULTS["atrophy"][group]
    hs = DEFAULTS["head_scale"]
    return math.log1p(p["age_rate"]), math.log1p(p["ad_effect"]), 3 * math.log(hs["M"] / hs["F"])


@pytest.fixture(scope="module")
def noiseless() -> pd.DataFrame:
    """No exogenous anatomy, head-size or rate noise: volumes follow the equations exactly."""
    demo = {
        "n_subjects": 16,
        "field_spacing_mm": 4,
        "rate_multiplier_sd": 0.0,
        "head_scale": {"sd": 0.0},
        "anatomy": {"displacement_rms_mm": 0.0},
    }
    table = simulate_volumes(demo, [], SEED)
    assert table["diagnosis"].nunique() == 2 and table["sex"].nunique() == 2
    return table


@pytest.fixture(scope="module")
def noisy() -> pd.DataFrame:
    """Default exogenous noise except a smaller subject anatomy deformation, 40 subjects."""
    demo = {"n_subjects": 40, "field_spacing_mm": 4, "anatomy": {"displacement_rms_mm": 0.5}}
    return simulate_volumes(
        demo,
        [
            {"name": "dxAD", "set": {"diagnosis": "AD"}},
            {"name": "dxCN", "set": {"diagnosis": "CN"}},
        ],
        SEED,
    )


@pytest.mark.parametrize("group", list(STRUCTURE_GROUPS))
def test_noiseless_effects_are_exact(noiseless, group):
    beta, _ = ols(noiseless, group)
    age, ad, sex = expected(group)
    assert beta[1] == pytest.approx(age, rel=0.03)
    assert beta[2] == pytest.approx(ad, rel=0.03)
    assert beta[3] == pytest.approx(sex, rel=0.03)


def test_untouched_structures_keep_their_volume(noiseless):
    """Thalamus is not in the causal model: only head size (sex) changes its volume."""
    beta, _ = ols(noiseless, "Left-Thalamus")
    assert abs(beta[1]) < 0.001 and abs(beta[2]) < 0.02
    beta, _ = ols(noiseless, "intracranial")  # lost tissue becomes CSF inside the skull
    assert abs(beta[1]) < 0.001 and abs(beta[2]) < 0.01


@pytest.mark.parametrize("group", list(STRUCTURE_GROUPS))
def test_effects_recovered_with_exogenous_noise(noisy, group):
    table = noisy[noisy["intervention"] == "factual"]
    beta, se = ols(table, group)
    age, ad, sex = expected(group)
    for got, want, err in ((beta[1], age, se[1]), (beta[2], ad, se[2]), (beta[3], sex, se[3])):
        assert abs(got - want) < max(0.25 * abs(want), 3 * err), (got, want, err)


def test_counterfactual_diagnosis_effect(noisy):
    """Same exogenous variables, diagnosis set to AD vs CN: the volume ratio is the AD effect."""
    ad = noisy[noisy["intervention"] == "dxAD"].set_index(["participant_id", "session_id"])
    cn = noisy[noisy["intervention"] == "dxCN"].set_index(["participant_id", "session_id"])
    for group in STRUCTURE_GROUPS:
        ratio = np.log(ad[group] / cn[group])
        assert np.allclose(ratio, expected(group)[1], atol=0.01), group


def test_counterfactual_sex_changes_head_size_only():
    """do(sex = M) scales every volume by the head-size ratio and changes nothing else."""
    demo = {"n_subjects": 4, "field_spacing_mm": 4, "male_fraction": 0.0}  # all female
    table = simulate_volumes(demo, [{"name": "male", "set": {"sex": "M"}}], SEED)
    fact = table[table["intervention"] == "factual"].reset_index(drop=True)
    male = table[table["intervention"] == "male"].reset_index(drop=True)
    assert (fact["sex"] == "F").all() and (male["sex"] == "M").all()
    assert (male["age"] == fact["age"]).all() and (male["diagnosis"] == fact["diagnosis"]).all()
    hs = DEFAULTS["head_scale"]
    for column in ["hippocampus", "cortex", "intracranial", "Left-Thalamus"]:
        ratio = male[column] / fact[column]
        assert np.allclose(ratio, (hs["M"] / hs["F"]) ** 3, rtol=1e-4), column
