"""The simulated demo cohort is a valid BIDS dataset with a complete ground-truth folder; the
true counterfactuals sit in a folder of their own, on the factual scans' grids."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from demo_cases import TINY_DEMO, TINY_INTERVENTIONS

from latentcf.demo.anatomy import FS_NAMES, STRUCTURE_GROUPS
from latentcf.demo.settings import merge_defaults
from latentcf.io import load_t1w

T1W_RE = re.compile(r"^sub-(\d{3})/ses-(\d{2})/anat/sub-\1_ses-\2_T1w\.nii\.gz$")
TRUTH_RE = re.compile(r"^sub-(\d{3})/ses-(\d{2})/anat/sub-\1_ses-\2_dseg\.nii\.gz$")
CF_RE = re.compile(
    r"^sub-(\d{3})/ses-(\d{2})/anat/sub-\1_ses-\2_cf-([A-Za-z0-9]+)_(T1w|dseg)\.nii\.gz$"
)
N_SCANS = TINY_DEMO["n_subjects"] * TINY_DEMO["sessions_per_subject"]


def _tsv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"participant_id": str, "session_id": str})


def test_top_level_files(tiny_bids):
    desc = json.loads((tiny_bids / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "raw"
    assert desc["BIDSVersion"] and desc["Name"]
    assert (tiny_bids / "README").read_text().strip()
    parts = _tsv(tiny_bids / "participants.tsv")
    assert list(parts.columns) == ["participant_id", "sex"]
    assert list(parts["participant_id"]) == [
        f"sub-{i:03d}" for i in range(1, TINY_DEMO["n_subjects"] + 1)
    ]
    assert set(parts["sex"]) <= {"F", "M"}
    assert "sex" in json.loads((tiny_bids / "participants.json").read_text())


def test_sessions_tables(tiny_bids):
    for pid in _tsv(tiny_bids / "participants.tsv")["participant_id"]:
        ses = _tsv(tiny_bids / pid / f"{pid}_sessions.tsv")
        assert list(ses.columns) == ["session_id", "age", "diagnosis"]
        sidecar = json.loads((tiny_bids / pid / f"{pid}_sessions.json").read_text())
        assert sidecar["age"]["Units"] == "year"
        assert list(ses["session_id"]) == [
            f"ses-{j:02d}" for j in range(1, TINY_DEMO["sessions_per_subject"] + 1)
        ]
        assert np.allclose(np.diff(ses["age"]), TINY_DEMO["years_between_sessions"])
        assert set(ses["diagnosis"]) <= {"CN", "AD"}
        # Same diagnosis noise across sessions: a subject can convert CN -> AD, never back.
        dx = list(ses["diagnosis"])
        assert dx == sorted(dx, key=lambda d: d == "AD")


def test_images_are_named_and_readable(tiny_bids):
    images = sorted(str(p.relative_to(tiny_bids)) for p in tiny_bids.glob("sub-*/**/*.nii.gz"))
    n_scans = TINY_DEMO["n_subjects"] * TINY_DEMO["sessions_per_subject"]
    assert len(images) == n_scans
    for rel in images:
        assert T1W_RE.match(rel), rel
        img = load_t1w(tiny_bids / rel)  # full checks: 3D, finite, not constant
        assert img.ndim == 3
        assert np.allclose(img.header.get_zooms(), TINY_DEMO["resolution_mm"])
        assert nib.load(tiny_bids / rel).get_data_dtype() == np.int16


def test_truth_folder(tiny_bids):
    truth = tiny_bids / "derivatives" / "truth"
    desc = json.loads((truth / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "derivative"
    assert desc["GeneratedBy"][0]["Name"] == "latentcf"
    dseg = _tsv(truth / "dseg.tsv")
    assert list(dseg.columns) == ["index", "name"]
    known = set(dseg["index"]) | {0}
    files = sorted(str(p.relative_to(truth)) for p in truth.glob("sub-*/**/*.nii.gz"))
    assert len(files) == N_SCANS  # label maps only: no counterfactual in the factual dataset
    for rel in files:
        assert TRUTH_RE.match(rel), rel
    assert not list(tiny_bids.rglob("*_cf-*"))
    for t1w in tiny_bids.glob("sub-*/ses-*/anat/*_T1w.nii.gz"):
        stem = str(t1w.relative_to(tiny_bids))[: -len("_T1w.nii.gz")]
        labels = nib.load(truth / f"{stem}_dseg.nii.gz")
        assert labels.shape == nib.load(t1w).shape
        assert np.allclose(labels.affine, nib.load(t1w).affine)
        ids = set(np.unique(np.asarray(labels.dataobj)).tolist())
        assert ids <= known
        assert {17, 53, 4, 43, 3, 42} <= ids


def test_counterfactual_folder(tiny_bids, tiny_cf):
    desc = json.loads((tiny_cf / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "derivative" and desc["BIDSVersion"]
    assert desc["GeneratedBy"][0]["Name"] == "latentcf"
    files = sorted(str(p.relative_to(tiny_cf)) for p in tiny_cf.glob("sub-*/**/*.nii.gz"))
    assert len(files) == N_SCANS * 2 * len(TINY_INTERVENTIONS)
    names = set()
    for rel in files:
        match = CF_RE.match(rel)
        assert match, rel
        names.add(match.group(3))
    assert names == {iv["name"] for iv in TINY_INTERVENTIONS}
    # Each counterfactual is on its factual scan's grid.
    for t1w in tiny_bids.glob("sub-*/ses-*/anat/*_T1w.nii.gz"):
        stem = str(t1w.relative_to(tiny_bids))[: -len("_T1w.nii.gz")]
        for name in names:
            for suffix in ("T1w", "dseg"):
                cf = nib.load(tiny_cf / f"{stem}_cf-{name}_{suffix}.nii.gz")
                assert cf.shape == nib.load(t1w).shape
                assert np.array_equal(cf.affine, nib.load(t1w).affine)
                assert cf.get_data_dtype() == np.int16


def test_volume_table(tiny_bids, tiny_cf):
    vols = _tsv(tiny_bids / "derivatives" / "truth" / "volumes.tsv")
    assert len(vols) == N_SCANS
    assert set(vols["intervention"]) == {"factual"}
    for col in [
        "scan",
        "age",
        "sex",
        "diagnosis",
        "hippocampus",
        "lateral_ventricles",
        *FS_NAMES.values(),
    ]:
        assert col in vols.columns
    assert (vols[list(FS_NAMES.values())] > 0).all().all()
    # Factual rows agree with the BIDS covariates.
    for _, row in vols.iterrows():
        ses = _tsv(tiny_bids / row["participant_id"] / f"{row['participant_id']}_sessions.tsv")
        ses = ses.set_index("session_id").loc[row["session_id"]]
        assert ses["age"] == row["age"] and ses["diagnosis"] == row["diagnosis"]
        assert (tiny_bids / f"{row['scan']}_T1w.nii.gz").is_file()
    # The counterfactual table: same columns, the factual rows and one row per intervention.
    both = _tsv(tiny_cf / "volumes.tsv")
    assert list(both.columns) == list(vols.columns)
    assert len(both) == N_SCANS * (1 + len(TINY_INTERVENTIONS))
    assert set(both["intervention"]) == {"factual"} | {iv["name"] for iv in TINY_INTERVENTIONS}
    factual = both[both["intervention"] == "factual"].reset_index(drop=True)
    pd.testing.assert_frame_equal(factual, vols)
    for _, row in both[both["intervention"] != "factual"].iterrows():
        assert (tiny_cf / f"{row['scan']}_cf-{row['intervention']}_T1w.nii.gz").is_file()


def test_counterfactual_covariates(tiny_cf):
    vols = _tsv(tiny_cf / "volumes.tsv").set_index(["scan", "intervention"])
    for scan in vols.index.get_level_values(0).unique():
        fact = vols.loc[(scan, "factual")]
        age10 = vols.loc[(scan, "age10")]
        assert age10["age"] == fact["age"] + 10
        assert age10["diagnosis"] == fact["diagnosis"]  # age interventions keep the diagnosis
        assert age10["sex"] == fact["sex"]
        assert vols.loc[(scan, "dxAD"), "diagnosis"] == "AD"
        assert vols.loc[(scan, "dxCN"), "diagnosis"] == "CN"
        # Older -> smaller hippocampus, larger ventricles (same exogenous variables).
        assert age10["hippocampus"] < fact["hippocampus"]
        assert age10["lateral_ventricles"] > fact["lateral_ventricles"]
        assert vols.loc[(scan, "dxAD"), "hippocampus"] <= vols.loc[(scan, "dxCN"), "hippocampus"]


def test_joint_intervention_sets_the_diagnosis(tiny_cf):
    """age5AD = shift age by 5 and set diagnosis AD: the atrophy targets of the
    counterfactual are the factual ones plus 5 years of the subject's rate plus the AD effect
    where the factual scan is CN (exogenous.tsv), and its volumes are those of dxAD 5 years on."""
    cfg = merge_defaults(TINY_DEMO)
    vols = _tsv(tiny_cf / "volumes.tsv").set_index(["scan", "intervention"])
    exo = _tsv(tiny_cf / "exogenous.tsv").set_index(["scan", "intervention"])
    factual_dx = set()
    for scan in vols.index.get_level_values(0).unique():
        fact, joint = vols.loc[(scan, "factual")], vols.loc[(scan, "age5AD")]
        assert joint["diagnosis"] == "AD" and joint["age"] == fact["age"] + 5
        assert joint["sex"] == fact["sex"]
        factual_dx.add(fact["diagnosis"])
        for group in STRUCTURE_GROUPS:
            p = cfg["atrophy"][group]
            rate = exo.loc[(scan, "factual"), f"multiplier_{group}"] * np.log1p(p["age_rate"])
            ad = np.log1p(p["ad_effect"]) if fact["diagnosis"] == "CN" else 0.0
            change = (
                exo.loc[(scan, "age5AD"), f"target_logchange_{group}"]
                - exo.loc[(scan, "factual"), f"target_logchange_{group}"]
            )
            assert change == pytest.approx(5 * rate + ad, abs=1e-5), (scan, group)
        assert joint["hippocampus"] < vols.loc[(scan, "dxAD"), "hippocampus"]
    assert "CN" in factual_dx  # the diagnosis is really changed for some scan


def test_age0_counterfactual_equals_factual(tiny_bids, tiny_cf):
    truth = tiny_bids / "derivatives" / "truth"
    vols = _tsv(tiny_cf / "volumes.tsv")
    cols = ["age", "diagnosis", "hippocampus", "cortex", "Left-Amygdala"]
    a = vols[vols["intervention"] == "factual"][cols].reset_index(drop=True)
    b = vols[vols["intervention"] == "age0"][cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    for t1w in tiny_bids.glob("sub-*/ses-*/anat/*_T1w.nii.gz"):
        stem = str(t1w.relative_to(tiny_bids))[: -len("_T1w.nii.gz")]
        cf_path = tiny_cf / f"{stem}_cf-age0_T1w.nii.gz"
        assert cf_path.read_bytes() == t1w.read_bytes()  # rendered by another rule, same bytes
        cf = nib.load(cf_path)
        assert np.array_equal(np.asarray(cf.dataobj), np.asarray(nib.load(t1w).dataobj))
        assert np.array_equal(cf.affine, nib.load(t1w).affine)
        lab = truth / f"{stem}_dseg.nii.gz"
        assert (tiny_cf / f"{stem}_cf-age0_dseg.nii.gz").read_bytes() == lab.read_bytes()
        # ... while a 10-year older counterfactual differs on the same grid.
        older = np.asarray(nib.load(tiny_cf / f"{stem}_cf-age10_T1w.nii.gz").dataobj)
        assert older.shape == cf.shape and not np.array_equal(older, np.asarray(cf.dataobj))


def test_simulation_settings_recorded(tiny_bids, tiny_cf):
    sim = json.loads((tiny_bids / "derivatives" / "truth" / "simulation.json").read_text())
    assert sim["demo"]["n_subjects"] == TINY_DEMO["n_subjects"]
    assert set(sim) == {"seed", "demo"}  # the factual dataset knows nothing of interventions
    exo = _tsv(tiny_bids / "derivatives" / "truth" / "exogenous.tsv")
    assert {"u_dx", "head_scale", "multiplier_hippocampus", "gamma"} <= set(exo.columns)
    assert set(exo["intervention"]) == {"factual"}
    cf_sim = json.loads((tiny_cf / "simulation.json").read_text())
    assert cf_sim["interventions"] == TINY_INTERVENTIONS
    assert {k: cf_sim[k] for k in sim} == sim
    cf_exo = _tsv(tiny_cf / "exogenous.tsv")
    assert list(cf_exo.columns) == list(exo.columns)
    pd.testing.assert_frame_equal(
        cf_exo[cf_exo["intervention"] == "factual"].reset_index(drop=True), exo
    )
