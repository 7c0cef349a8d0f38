"""Cohen's d, log-volume effects and the subject bootstrap (of one or several statistics)
against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latentcf.evaluate.stats import bootstrap, bootstrap_many, cohens_d, log_volume_effects


def test_cohens_d_hand_computed():
    # a: mean 3, var 2.5 (ddof 1); b: mean 5, var 2.5; pooled SD sqrt(2.5)
    a, b = [1, 2, 3, 4, 5], [3, 4, 5, 6, 7]
    assert cohens_d(a, b) == pytest.approx(-2 / np.sqrt(2.5))
    # unequal sizes: pooled variance (2 * 1 + 3 * 1.6667) / 5
    a, b = [1, 2, 3], [2, 4, 4, 6]
    pooled = (2 * 1.0 + 3 * np.var([2, 4, 4, 6], ddof=1)) / 5
    assert cohens_d(a, b) == pytest.approx((2 - 4) / np.sqrt(pooled))
    assert np.isnan(cohens_d([1], [2, 3])) and np.isnan(cohens_d([1, 1], [1, 1]))


def test_log_volume_effects_recover_the_simulator_parameterisation():
    rng = np.random.default_rng(0)
    n = 200
    age = rng.uniform(55, 85, n)
    dx = rng.choice(["CN", "AD", "MCI"], n)
    volume = 4000 * (1 - 0.005) ** (age - 70) * np.where(dx == "AD", 0.9, 1.0)
    table = pd.DataFrame({"age": age, "diagnosis": dx})
    effects = log_volume_effects(volume, table, ["age"], {"diagnosis": ("AD", "CN")})
    assert effects["age"] == pytest.approx(
        100 * np.log(0.995), rel=1e-9
    )  # percent per year on log scale
    assert effects["diagnosis[AD]"] == pytest.approx(-10.0, rel=1e-9)
    nan = log_volume_effects(volume[:2], table.iloc[:2], ["age"], {"diagnosis": ("AD", "CN")})
    assert all(np.isnan(v) for v in nan.values())


def test_bootstrap_resamples_subjects_and_is_seeded():
    table = pd.DataFrame(
        {"participant_id": ["a", "a", "b", "b", "c", "c"], "x": [1.0, 1.0, 2.0, 2.0, 9.0, 9.0]}
    )
    x = table["x"].to_numpy()

    def mean(rows):
        return float(x[rows].mean())

    estimate, low, high = bootstrap(table["participant_id"], mean, draws=400, seed=1)
    assert estimate == pytest.approx(4.0)
    assert 1.0 <= low < estimate < high <= 9.0
    assert bootstrap(table["participant_id"], mean, draws=400, seed=1) == (estimate, low, high)
    # whole subjects move together: with each subject's row doubled, the interval is the same
    single = table.drop_duplicates("participant_id")
    xs = single["x"].to_numpy()
    assert bootstrap(
        single["participant_id"], lambda r: float(xs[r].mean()), draws=400, seed=1
    ) == (
        estimate,
        low,
        high,
    )
    assert bootstrap(table["participant_id"], lambda r: 5.0, draws=50) == (5.0, 5.0, 5.0)
    assert np.isnan(bootstrap(["a", "a"], mean)[1])


def test_several_statistics_share_the_resamples_and_drop_their_own_nan_draws():
    table = pd.DataFrame({"participant_id": list("aabbccdd"), "x": [1, 2, 3, 4, 5, 6, 7, 9.0]})
    x = table["x"].to_numpy()

    def mean(rows):
        return float(x[rows].mean())

    def spread(rows):  # NaN whenever one subject was drawn every time
        return float(x[rows].std()) if len(set(table["participant_id"].iloc[rows])) > 1 else np.nan

    subjects = table["participant_id"]
    estimates, lows, highs = bootstrap_many(subjects, lambda r: [mean(r), spread(r)], 300, seed=2)
    for k, statistic in enumerate((mean, spread)):
        alone = bootstrap(subjects, statistic, draws=300, seed=2)
        assert (estimates[k], lows[k], highs[k]) == pytest.approx(alone)
    assert lows[1] < highs[1]
