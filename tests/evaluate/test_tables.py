"""Evaluation tables on cases with known answers: ground truth, effectiveness, reconstruction
volumes, counterfactual cohorts and group effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latentcf.evaluate import tables

STRUCTURES = ["hippocampus", "lateral_ventricles"]
SCANS = [f"sub-{i}/anat/sub-{i}" for i in range(4)]
COHORT = pd.DataFrame(
    {
        "scan": SCANS,
        "participant_id": [f"sub-{i}" for i in range(4)],
        "split": ["train", "train", "val", "test"],
        "age": [60.0, 70.0, 65.0, 80.0],
        "diagnosis": ["CN", "AD", "CN", "AD"],
    }
)


def _truth() -> pd.DataFrame:
    rows = []
    for i, scan in enumerate(SCANS):
        rows.append(
            {
                "scan": scan,
                "intervention": "factual",
                "hippocampus": 8000.0,
                "lateral_ventricles": 20000.0 + i,
            }
        )
        rows.append(
            {
                "scan": scan,
                "intervention": "age10",
                "hippocampus": 7600.0,
                "lateral_ventricles": (20000.0 + i) * 1.2,
            }
        )
    return pd.DataFrame(rows)


def _changes(hippocampus_pct: float, ventricles_pct: float) -> pd.DataFrame:
    rows = []
    for scan in SCANS:
        rows.append(
            {
                "scan": scan,
                "intervention": "age10",
                "structure": "hippocampus",
                "tbm_pct": hippocampus_pct,
                "segmentation_pct": hippocampus_pct,
            }
        )
        rows.append(
            {
                "scan": scan,
                "intervention": "age10",
                "structure": "lateral_ventricles",
                "tbm_pct": ventricles_pct,
                "segmentation_pct": ventricles_pct,
            }
        )
    return pd.DataFrame(rows)


def test_ground_truth_with_a_known_answer():
    true = tables.true_changes(_truth(), STRUCTURES)
    assert true.set_index(["scan", "structure"])["true_pct"].round(6).to_dict() == {
        **{(s, "hippocampus"): -5.0 for s in SCANS},
        **{(s, "lateral_ventricles"): 20.0 for s in SCANS},
    }
    pairs = pd.DataFrame(
        {
            "scan": [SCANS[2]],
            "intervention": ["age10"],
            "structure": ["hippocampus"],
            "measured_pct": [-3.0],
        }
    )
    table = tables.ground_truth(_changes(-4.0, 15.0), true, COHORT, pairs)
    summary = tables.ground_truth_summary(table).set_index(["structure", "scans"])
    held = summary.loc[("hippocampus", "held-out")]
    assert (
        held["n"] == 2
        and held["predicted_pct"] == pytest.approx(-4.0)
        and held["true_pct"] == pytest.approx(-5.0)
    )
    assert held["mean_error_pp"] == pytest.approx(1.0) and held[
        "mean_abs_error_pp"
    ] == pytest.approx(1.0)
    assert held["n_true_pairs"] == 1 and held["mean_error_vs_true_pair_pp"] == pytest.approx(-1.0)
    assert summary.loc[("lateral_ventricles", "train"), "mean_error_pp"] == pytest.approx(-5.0)
    assert tables.targets_from_truth(true) == {"age10": {"hippocampus", "lateral_ventricles"}}


def test_effectiveness_marks_targets():
    changes = pd.concat([_changes(-4.0, 15.0), _changes(0.1, 0.2).assign(intervention="other")])
    out = tables.effectiveness(changes, COHORT, {"age10": {"hippocampus"}}).set_index(
        ["intervention", "structure", "scans"]
    )
    assert out.loc[("age10", "hippocampus", "held-out"), "tbm_mean_pct"] == pytest.approx(-4.0)
    assert bool(out.loc[("age10", "hippocampus", "train"), "target"])
    assert not bool(out.loc[("age10", "lateral_ventricles", "train"), "target"])
    assert not bool(out.loc[("other", "hippocampus", "train"), "target"])


def _volumes(image: str, scale: float) -> pd.DataFrame:
    rows = [
        {
            "scan": s,
            "image": image,
            "label": -1,
            "name": name,
            "voxels": 0,
            "ml": base * scale * (1 + 0.1 * i),
        }
        for i, s in enumerate(SCANS)
        for name, base in (("hippocampus", 8.0), ("lateral_ventricles", 20.0))
    ]
    return pd.DataFrame(rows)


def test_reconstruction_volume_bias_and_correlation():
    out = tables.recon_vs_real(_volumes("factual", 1.0), _volumes("null", 0.9), COHORT, STRUCTURES)
    row = out.set_index(["structure", "scans"]).loc[("hippocampus", "all")]
    assert (
        row["n"] == 4
        and row["bias_pct"] == pytest.approx(-10.0)
        and row["correlation"] == pytest.approx(1.0)
    )


def test_counterfactual_cohorts_scale_the_base_volume():
    covariates = COHORT.assign(intervention="age10", age=COHORT["age"] + 10)
    cohort = tables.counterfactual_cohorts(
        _volumes("null", 1.0), _changes(-4.0, 15.0), covariates, STRUCTURES, ["age10"]
    )
    assert cohort["hippocampus"].to_numpy() == pytest.approx(
        8.0 * 0.96 * np.array([1.0, 1.1, 1.2, 1.3])
    )
    assert list(cohort["age"]) == [70.0, 80.0, 75.0, 90.0]


def test_group_effects_recover_a_simulated_cohort():
    rng = np.random.default_rng(0)
    n = 80
    age = rng.uniform(55, 85, n)
    dx = np.where(rng.random(n) < 0.5, "AD", "CN")
    volume = 4000 * np.exp(np.log(0.995) * (age - 70)) * np.where(dx == "AD", 0.9, 1.0)
    table = pd.DataFrame(
        {
            "participant_id": [f"s{i}" for i in range(n)],
            "age": age,
            "diagnosis": dx,
            "hippocampus": volume,
        }
    )
    out = tables.group_effects(
        {"sim": table}, ["hippocampus"], "age", ("diagnosis", "AD", "CN"), 200, 0
    )
    est = out.set_index("effect")["estimate"]
    assert est["age slope (%/year)"] == pytest.approx(100 * np.log(0.995), rel=1e-6)
    assert est["diagnosis AD vs CN (%)"] == pytest.approx(-10.0, rel=1e-6)
    assert est["Cohen's d AD vs CN"] < 0
