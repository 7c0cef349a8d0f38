"""The simulated demo cohort is a valid BIDS dataset with a complete ground-truth folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from demo_cases import TINY_DEMO, TINY_INTERVENTIONS

from latentcf.demo.anatomy import FS_NAMES
from latentcf.io import load_t1w

T1W_RE = re.compile(r"^sub-(\d{3})/ses-(\d{2})/anat/sub-\1_ses-\2_T1w\.nii\.gz$")
TRUTH_RE = re.compile(
    r"^sub-(\d{3})/ses-(\d{2})/anat/sub-\1_ses-\2(_cf-[A-Za-z0-9]+)?_(T1w|dseg)\.nii\.gz$"
)


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
    n_scans = TINY_DEMO["n_subjects"] * TINY_DEMO["sessions_per_subject"]
    assert len(files) == n_scans * (1 + 2 * len(TINY_INTERVENTIONS))
    for rel in files:
        assert TRUTH_RE.match(rel), rel
    for t1w in tiny_bids.glob("sub-*/ses-*/anat/*_T1w.nii.gz"):
        stem = str(t1w.relative_to(tiny_bids))[: -len("_T1w.nii.gz")]
        labels = nib.load(truth / f"{stem}_dseg.nii.gz")
        assert labels.shape == nib.load(t1w).shape
        assert np.allclose(labels.affine, nib.load(t1w).affine)
        ids = set(np.unique(np.asarray(labels.dataobj)).tolist())
        assert ids <= known
        assert {17, 53, 4, 43, 3, 42} <= ids


def test_volume_table(tiny_bids):
    vols = _tsv(tiny_bids / "derivatives" / "truth" / "volumes.tsv")
    n_scans = TINY_DEMO["n_subjects"] * TINY_DEMO["sessions_per_subject"]
    assert len(vols) == n_scans * (1 + len(TINY_INTERVENTIONS))
    assert set(vols["intervention"]) == {"factual"} | {iv["name"] for iv in TINY_INTERVENTIONS}
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
    fact = vols[vols["intervention"] == "factual"]
    for _, row in fact.iterrows():
        ses = _tsv(tiny_bids / row["participant_id"] / f"{row['participant_id']}_sessions.tsv")
        ses = ses.set_index("session_id").loc[row["session_id"]]
        assert ses["age"] == row["age"] and ses["diagnosis"] == row["diagnosis"]
        assert (tiny_bids / f"{row['scan']}_T1w.nii.gz").is_file()


def test_counterfactual_covariates(tiny_bids):
    vols = _tsv(tiny_bids / "derivatives" / "truth" / "volumes.tsv").set_index(
        ["scan", "intervention"]
    )
    for scan in vols.index.get_level_values(0).unique():
        fact = vols.loc[(scan, "factual")]
        age10 = vols.loc[(scan, "age10")]
        assert age10["age"] == fact["age"] + 10
        assert age10["diagnosis"] == fact["diagnosis"]  # age interventions keep the diagnosis
        assert age10["sex"] == fact["sex"]
        assert vols.loc[(scan, "dxAD"), "diagnosis"] == "AD"
        assert vols.loc[(scan, "dxCN"), "diagnosis"] == "CN"
        joint = vols.loc[(scan, "age5AD")]
        assert joint["age"] == fact["age"] + 5 and joint["diagnosis"] == "AD"
        # Older -> smaller hippocampus, larger ventricles (same exogenous variables).
        assert age10["hippocampus"] < fact["hippocampus"]
        assert age10["lateral_ventricles"] > fact["lateral_ventricles"]
        assert vols.loc[(scan, "dxAD"), "hippocampus"] <= vols.loc[(scan, "dxCN"), "hippocampus"]


def test_age0_counterfactual_equals_factual(tiny_bids):
    truth = tiny_bids / "derivatives" / "truth"
    vols = _tsv(truth / "volumes.tsv")
    cols = ["age", "diagnosis", "hippocampus", "cortex", "Left-Amygdala"]
    a = vols[vols["intervention"] == "factual"][cols].reset_index(drop=True)
    b = vols[vols["intervention"] == "age0"][cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    for t1w in tiny_bids.glob("sub-*/ses-*/anat/*_T1w.nii.gz"):
        stem = str(t1w.relative_to(tiny_bids))[: -len("_T1w.nii.gz")]
        cf = nib.load(truth / f"{stem}_cf-age0_T1w.nii.gz")
        assert np.array_equal(np.asarray(cf.dataobj), np.asarray(nib.load(t1w).dataobj))
        assert np.array_equal(cf.affine, nib.load(t1w).affine)
        lab = np.asarray(nib.load(truth / f"{stem}_dseg.nii.gz").dataobj)
        assert np.array_equal(
            np.asarray(nib.load(truth / f"{stem}_cf-age0_dseg.nii.gz").dataobj), lab
        )
        # ... while a 10-year older counterfactual differs on the same grid.
        older = np.asarray(nib.load(truth / f"{stem}_cf-age10_T1w.nii.gz").dataobj)
        assert older.shape == cf.shape and not np.array_equal(older, np.asarray(cf.dataobj))


def test_simulation_settings_recorded(tiny_bids):
    sim = json.loads((tiny_bids / "derivatives" / "truth" / "simulation.json").read_text())
    assert sim["demo"]["n_subjects"] == TINY_DEMO["n_subjects"]
    assert sim["interventions"] == TINY_INTERVENTIONS
    exo = _tsv(tiny_bids / "derivatives" / "truth" / "exogenous.tsv")
    assert {"u_dx", "head_scale", "multiplier_hippocampus", "gamma"} <= set(exo.columns)
