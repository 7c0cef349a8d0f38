"""Write the simulated cohort as a BIDS dataset with a ground-truth derivatives folder, and the
true counterfactuals as a folder of their own (so that editing the interventions does not
rewrite the factual scans).

Layout (documented in docs/demo_cohort.md):
  bids/dataset_description.json, README, participants.tsv/.json
  bids/sub-XXX/sub-XXX_sessions.tsv (+ .json)            session_id, age, diagnosis
  bids/sub-XXX/ses-YY/anat/sub-XXX_ses-YY_T1w.nii.gz
  bids/derivatives/truth/dataset_description.json, dseg.tsv, volumes.tsv, exogenous.tsv, simulation.json
  bids/derivatives/truth/sub-XXX/ses-YY/anat/sub-XXX_ses-YY_dseg.nii.gz
  truth_counterfactuals/dataset_description.json, volumes.tsv, exogenous.tsv, simulation.json
  truth_counterfactuals/sub-XXX/ses-YY/anat/sub-XXX_ses-YY_cf-<name>_{T1w,dseg}.nii.gz
Each tree is written in a temporary sibling folder and renamed into place at the end.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from latentcf import __version__
from latentcf.demo.anatomy import dseg_table
from latentcf.demo.simulate import FACTUAL, ScanTruth, volume_columns
from latentcf.errors import InputDataError
from latentcf.io import atomic_directory

BIDS_VERSION = "1.9.0"
GENERATED_BY = [
    {"Name": "latentcf", "Version": __version__, "Description": "demo cohort simulator"}
]

SESSIONS_SIDECAR = {
    "age": {"Description": "age at the session", "Units": "year"},
    "diagnosis": {
        "Description": "diagnosis at the session",
        "Levels": {"CN": "cognitively normal", "AD": "Alzheimer's disease"},
    },
}

README = """\
# latentcf demo cohort (simulated)

T1-weighted images simulated from the ICBM 2009c symmetric template (MNI152NLin2009cSym)
with a known causal model: sex -> head size; age -> diagnosis; age and diagnosis ->
atrophy of hippocampus, amygdala and cortex and enlargement of the lateral ventricles.
Each subject has its own smooth anatomy deformation and atrophy-rate multipliers; each
session its own pose, field of view, bias field, contrast and noise.
Ground truth (label maps, true volumes, exogenous variables) is in derivatives/truth; the
true counterfactual images of the workflow's interventions are written beside this dataset
(truth_counterfactuals).
See docs/demo_cohort.md in the latentcf repository for the equations and numbers.
"""


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def _write_tsv(path: Path, table: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, sep="\t", index=False, na_rep="n/a", lineterminator="\n")


def _save_nifti(data: np.ndarray, affine: np.ndarray, path: Path) -> None:
    img = nib.Nifti1Image(data, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))


def scan_stem(truth: ScanTruth) -> str:
    """Relative BIDS stem without suffix: sub-XXX/ses-YY/anat/sub-XXX_ses-YY."""
    p, s = truth.participant_id, truth.session_id
    return f"{p}/{s}/anat/{p}_{s}"


def write_bids(
    scans: Iterable[ScanTruth],
    out_dir: str | Path,
    settings: Mapping[str, Any],
    overwrite: bool = False,
) -> Path:
    """Write the factual `scans` (from :func:`latentcf.demo.simulate.simulate` without
    interventions) as the BIDS dataset `out_dir` with its ground truth in derivatives/truth.

    `settings` (the demo section and seed) is stored in simulation.json. Raises
    :class:`InputDataError` if `out_dir` exists and `overwrite` is False, ValueError if a scan
    is a counterfactual (those go to :func:`write_counterfactuals`).
    """
    out_dir = _check_out_dir(out_dir, overwrite)
    with atomic_directory(out_dir) as tmp:
        _write_tree(scans, tmp, settings)
    return out_dir


def write_counterfactuals(
    scans: Iterable[ScanTruth],
    out_dir: str | Path,
    settings: Mapping[str, Any],
    overwrite: bool = False,
) -> Path:
    """Write the true counterfactuals among `scans` (images and label maps) under `out_dir`,
    with volumes.tsv and exogenous.tsv holding every scan, factual rows included (so that one
    table compares both), a BIDS derivative dataset_description.json and simulation.json
    (`settings`: demo section, interventions, seed). Factual scans need no image.

    Raises :class:`InputDataError` if `out_dir` exists and `overwrite` is False.
    """
    out_dir = _check_out_dir(out_dir, overwrite)
    with atomic_directory(out_dir) as tmp:
        rows, exo_rows = [], []
        for t in scans:
            stem = _append_rows(t, rows, exo_rows)
            if t.intervention != FACTUAL and t.image is not None:
                _save_nifti(t.image, t.affine, tmp / f"{stem}_cf-{t.intervention}_T1w.nii.gz")
                _save_nifti(t.labels, t.affine, tmp / f"{stem}_cf-{t.intervention}_dseg.nii.gz")
        _write_json(
            tmp / "dataset_description.json",
            {
                "Name": "latentcf demo true counterfactuals",
                "BIDSVersion": BIDS_VERSION,
                "DatasetType": "derivative",
                "GeneratedBy": GENERATED_BY,
            },
        )
        _write_tables(tmp, rows, exo_rows)
        _write_json(tmp / "simulation.json", dict(settings))
    return out_dir


def _check_out_dir(out_dir: str | Path, overwrite: bool) -> Path:
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise InputDataError(
            out_dir, "the output folder already exists", "Remove it or pass overwrite=True"
        )
    return out_dir


def _append_rows(t: ScanTruth, rows: list[dict], exo_rows: list[dict]) -> str:
    """Add the scan's rows of volumes.tsv and exogenous.tsv; return its BIDS stem."""
    stem = scan_stem(t)
    base = {
        "participant_id": t.participant_id,
        "session_id": t.session_id,
        "intervention": t.intervention,
    }
    rows.append({"scan": stem, **base, **t.covariates, **t.volumes})
    exo_rows.append({"scan": stem, **base, **t.exogenous})
    return stem


def _write_tables(root: Path, rows: list[dict], exo_rows: list[dict]) -> None:
    cols = [
        "scan",
        "participant_id",
        "session_id",
        "intervention",
        "age",
        "sex",
        "diagnosis",
        *volume_columns(),
    ]
    _write_tsv(root / "volumes.tsv", pd.DataFrame(rows)[cols])
    _write_tsv(root / "exogenous.tsv", pd.DataFrame(exo_rows))


def _write_tree(scans: Iterable[ScanTruth], root: Path, settings: Mapping[str, Any]) -> None:
    truth_root = root / "derivatives" / "truth"
    participants: dict[str, str] = {}
    sessions: dict[str, list[dict[str, Any]]] = {}
    rows: list[dict[str, Any]] = []
    exo_rows: list[dict[str, Any]] = []
    for t in scans:
        if t.intervention != FACTUAL:
            raise ValueError(
                f"write_bids writes factual scans only, got {t.intervention!r} "
                "(true counterfactuals: write_counterfactuals)"
            )
        stem = _append_rows(t, rows, exo_rows)
        participants[t.participant_id] = t.covariates["sex"]
        sessions.setdefault(t.participant_id, []).append(
            {
                "session_id": t.session_id,
                "age": t.covariates["age"],
                "diagnosis": t.covariates["diagnosis"],
            }
        )
        if t.image is not None:
            _save_nifti(t.image, t.affine, root / f"{stem}_T1w.nii.gz")
            _save_nifti(t.labels, t.affine, truth_root / f"{stem}_dseg.nii.gz")

    _write_json(
        root / "dataset_description.json",
        {
            "Name": "latentcf simulated demo cohort",
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "raw",
            "License": "CC0",
            "GeneratedBy": GENERATED_BY,
        },
    )
    (root / "README").write_text(README)
    _write_tsv(
        root / "participants.tsv",
        pd.DataFrame({"participant_id": list(participants), "sex": list(participants.values())}),
    )
    _write_json(
        root / "participants.json",
        {
            "sex": {
                "Description": "sex of the participant",
                "Levels": {"F": "female", "M": "male"},
            },
        },
    )
    for pid, ses_rows in sessions.items():
        _write_tsv(root / pid / f"{pid}_sessions.tsv", pd.DataFrame(ses_rows))
        _write_json(root / pid / f"{pid}_sessions.json", SESSIONS_SIDECAR)

    _write_json(
        truth_root / "dataset_description.json",
        {
            "Name": "latentcf demo ground truth",
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "derivative",
            "GeneratedBy": GENERATED_BY,
            "SourceDatasets": [{"URL": "../../"}],
        },
    )
    _write_tsv(truth_root / "dseg.tsv", dseg_table())
    _write_tables(truth_root, rows, exo_rows)
    _write_json(truth_root / "simulation.json", dict(settings))
