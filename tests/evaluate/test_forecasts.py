"""The forecast summary against hand-computed answers."""

from __future__ import annotations

import pandas as pd
import pytest

from latentcf.evaluate.forecasts import (
    CHANGE_COLUMNS,
    forecast_headline,
    forecast_summary,
    true_session_changes,
)


def _changes() -> pd.DataFrame:
    rows = []
    # Two subjects; observed ventricle change +4 / +6 %, truth +5 / +5 %.
    for subject, observed, ols, mae in (("sub-01", 4.0, 3.0, 0.02), ("sub-02", 6.0, 9.0, 0.04)):
        for method, predicted in (("ols", ols), ("no_change", 0.0)):
            rows.append(
                dict(zip(CHANGE_COLUMNS, [
                    subject, "test", method, f"{subject}/ses-01", f"{subject}/ses-02", 3.0,
                    "lateral_ventricles", predicted, observed, mae, 30.0, 0.9,
                ], strict=True))
            )  # fmt: skip
    return pd.DataFrame(rows)


def _truth() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "scan": ["sub-01/ses-01", "sub-01/ses-02", "sub-02/ses-01", "sub-02/ses-02"],
            "intervention": ["factual"] * 4,
            "lateral_ventricles": [100.0, 105.0, 200.0, 210.0],
        }
    )


def test_true_session_changes():
    true = true_session_changes(_truth(), _changes()).set_index("target_scan")["true_pct"]
    assert true["sub-01/ses-02"] == pytest.approx(5.0)
    assert true["sub-02/ses-02"] == pytest.approx(5.0)


def test_summary_errors_against_observed_and_truth():
    summary = forecast_summary(_changes(), _truth()).set_index("method")
    ols, still = summary.loc["ols"], summary.loc["no_change"]
    # |3 - 4| and |9 - 6| -> 2; against the truth |3 - 5| and |9 - 5| -> 3.
    assert ols["abs_error_vs_observed_pp"] == pytest.approx(2.0)
    assert ols["abs_error_vs_truth_pp"] == pytest.approx(3.0)
    assert still["abs_error_vs_observed_pp"] == pytest.approx(5.0)
    assert still["abs_error_vs_truth_pp"] == pytest.approx(5.0)
    assert ols["image_mae"] == pytest.approx(0.03)
    assert ols["n_subjects"] == 2
    lines = forecast_headline(forecast_summary(_changes(), _truth()))
    assert "ols 3.0 pp" in lines[-1] and "no_change 5.0 pp" in lines[-1]


def test_summary_without_truth_or_subjects():
    summary = forecast_summary(_changes(), None)
    assert "abs_error_vs_truth_pp" not in summary
    empty = forecast_summary(_changes().iloc[:0], None)
    assert list(empty.columns) == ["note"] and forecast_headline(empty) == []
