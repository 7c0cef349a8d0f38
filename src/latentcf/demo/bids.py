"""Write the simulated cohort as a BIDS dataset with a ground-truth derivatives folder.

Layout (documented in docs/demo_cohort.md):
  bids/dataset_description.json, README, participants.tsv/.json
  bids/sub-XXX/sub-XXX_sessions.tsv (+ .json)            session_id, age, diagnosis
  bids/sub-XXX/ses-YY/anat/sub-XXX_ses-YY_T1w.nii.gz
  bids/derivatives/truth/dataset_description.json, dseg.tsv, volumes.tsv, exogenous.tsv, simulation.json
  bids/derivatives/truth/sub-XXX/ses-YY/anat/sub-XXX_ses-YY_dseg.nii.gz
  bids/derivatives/truth/sub-XXX/ses-YY/anat/sub-XXX_ses-YY_cf-<name>_{T1w,dseg}.nii.gz
The whole tree is written in a temporary sibling folder and renamed into place at the end.
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
Ground truth (label maps, true volumes, true counterfactual images) is in derivatives/truth.
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
    """Write `scans` (from :func:`latentcf.demo.simulate.simulate`) under `out_dir`.

    `settings` (the demo section, interventions and seed) is stored in simulation.json.
    Raises :class:`InputDataError` if `out_dir` exists and `overwrite` is False.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise InputDataError(
            out_dir, "the output folder already exists", "Remove it or pass overwrite=True"
        )
    with atomic_directory(out_dir) as tmp:
        _write_tree(scans, tmp, settings)
    return out_dir


def _write_tree(scans: Iterable[ScanTruth], root: Path, settings: Mapping[str, Any]) -> None:
    truth_root = root / "derivatives" / "truth"
    participants: dict[str, str] = {}
    sessions: dict[str, list[dict[str, Any]]] = {}
    rows: list[dict[str, Any]] = []
    exo_rows: list[dict[str, Any]] = []
    for t in scans:
        stem = scan_stem(t)
        base = {
            "participant_id": t.participant_id,
            "session_id": t.session_id,
            "intervention": t.intervention,
        }
        rows.append({"scan": stem, **base, **t.covariates, **t.volumes})
        exo_rows.append({"scan": stem, **base, **t.exogenous})
        if t.intervention == FACTUAL:
            participants[t.participant_id] = t.covariates["sex"]
            sessions.setdefault(t.participant_id, []).append(
                {
                    "session_id": t.session_id,
                    "age": t.covariates["age"],
                    "diagnosis": t.covariates["diagnosis"],
                }
            )
        if t.image is None:
            continue
        if t.intervention == FACTUAL:
            _save_nifti(t.image, t.affine, root / f"{stem}_T1w.nii.gz")
            _save_nifti(t.labels, t.affine, truth_root / f"{stem}_dseg.nii.gz")
        else:
            _save_nifti(t.image, t.affine, truth_root / f"{stem}_cf-{t.intervention}_T1w.nii.gz")
            _save_nifti(t.labels, t.affine, truth_root / f"{stem}_cf-{t.intervention}_dseg.nii.gz")

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
    _write_tsv(truth_root / "volumes.tsv", pd.DataFrame(rows)[cols])
    _write_tsv(truth_root / "exogenous.tsv", pd.DataFrame(exo_rows))
    _write_json(truth_root / "simulation.json", dict(settings))
