"""The forecast summary against hand-computed answers; the observed changes, measured once for
every model, on an unchanged subject and against another cohort's forecasts."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from latentcf import derivatives
from latentcf.errors import InputDataError
from latentcf.evaluate.forecasts import (
    CHANGE_COLUMNS,
    forecast_headline,
    forecast_summary,
    measure_forecasts,
    measure_observed_changes,
    true_session_changes,
)
from latentcf.forecast.tasks import History
from latentcf.segment import STRUCTURES, build_segmenter

FAST_TBM = {"tbm": {"iterations": [60, 40, 8]}}


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


def _history(subject: str) -> History:
    return History(
        subject, "test", (f"{subject}/ses-01",), (70.0,), f"{subject}/ses-02", "ses-02", 74.0
    )


def test_unchanged_subject_observes_no_change_and_keeps_prev_weights(tmp_path):
    segmenter = build_segmenter(None, 4)
    image = nib.Nifti1Image(segmenter.grid.brain.astype(np.float32), segmenter.grid.affine)
    history = _history("sub-01")
    image_of = {}
    for scan in (*history.scans, history.target_scan):  # the same image twice
        image_of[scan] = tmp_path / f"{scan.replace('/', '_')}.nii.gz"
        nib.save(image, image_of[scan])
    out = tmp_path / "observed"
    table = measure_observed_changes([history], image_of, out, None, FAST_TBM, 4)
    assert list(table["structure"]) == list(STRUCTURES)
    assert (table["prev_scan"] == "sub-01/ses-01").all()
    assert table["observed_pct"].abs().max() < 0.5
    expected = segmenter.segment(image).structure_fraction("hippocampus")
    with np.load(out / derivatives.structure_weights_file("sub-01/ses-01", 4)) as weights:
        assert set(weights.files) == set(STRUCTURES)
        np.testing.assert_allclose(weights["hippocampus"], expected)


def test_forecasts_of_another_cohort_are_refused_with_the_table_named(tmp_path):
    out = tmp_path / "observed"
    assert measure_observed_changes([], {}, out, None, FAST_TBM, 4).empty
    forecasts = pd.DataFrame(
        {
            "subject": ["sub-02"], "split": ["test"], "method": ["no_change"],
            "target_scan": ["sub-02/ses-02"], "target_age": [74.0], "main": [True],
            "scans_used": ["sub-02/ses-01"], "ages_used": ["70.0"], "image": [""],
        }
    )  # fmt: skip
    with pytest.raises(InputDataError, match="no observed change sub-02/ses-01 -> sub-02/ses-02"):
        measure_forecasts(forecasts, tmp_path, out, {}, {}, {}, tmp_path / "x.tsv", FAST_TBM, 4)
    assert not (tmp_path / "x.tsv").exists()
