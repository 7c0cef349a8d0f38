"""Helpers for ingest tests: tiny BIDS datasets and TSV tables with real (8x8x8) NIfTI files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

COVARIATES = {
    "age": {"type": "numeric", "min": 0, "max": 120},
    "sex": {"type": "categorical", "levels": ["F", "M"]},
    "diagnosis": {"type": "categorical", "levels": ["CN", "AD"]},
}
SPLIT = {"val_fraction": 0.2, "test_fraction": 0.2}


def write_nifti(path: Path, shape: Sequence[int] = (8, 8, 8), seed: int = 0) -> Path:
    """A small random float32 image with 2 mm voxels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(seed).random(tuple(shape), dtype=np.float32)
    nib.save(nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0])), str(path))
    return path


def write_tsv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)] + ["\t".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def make_bids(
    root: Path,
    n_subjects: int = 6,
    sessions: Sequence[str] = ("01", "02"),
    noise: bool = True,
) -> Path:
    """A BIDS dataset: sub-001..; sex in participants.tsv; age/diagnosis in sessions.tsv.

    Without sessions, every covariate is in participants.tsv. Subject i is age 60+i (+2 per
    session), sex F for odd i, diagnosis AD in the last session of even i.
    `noise` adds files ingest must ignore (T2w, sidecars, func, derivatives, hidden files).
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text('{"Name": "tiny", "BIDSVersion": "1.9.0"}')
    participants = []
    for i in range(1, n_subjects + 1):
        sub = f"sub-{i:03d}"
        sex = "F" if i % 2 else "M"
        if sessions:
            participants.append((sub, sex))
            rows = []
            for j, ses in enumerate(sessions):
                dx = "AD" if (i % 2 == 0 and j == len(sessions) - 1) else "CN"
                rows.append((f"ses-{ses}", 60 + i % 30 + 2 * j, dx))
                anat = root / sub / f"ses-{ses}" / "anat"
                write_nifti(anat / f"{sub}_ses-{ses}_T1w.nii.gz", seed=i * 10 + j)
                if noise:
                    write_nifti(anat / f"{sub}_ses-{ses}_T2w.nii.gz")
                    (anat / f"{sub}_ses-{ses}_T1w.json").write_text("{}")
                    write_nifti(
                        root
                        / sub
                        / f"ses-{ses}"
                        / "func"
                        / f"{sub}_ses-{ses}_task-rest_bold.nii.gz"
                    )
            write_tsv(root / sub / f"{sub}_sessions.tsv", ["session_id", "age", "diagnosis"], rows)
        else:
            participants.append((sub, sex, 60 + i % 30, "AD" if i % 2 == 0 else "CN"))
            anat = root / sub / "anat"
            write_nifti(anat / f"{sub}_T1w.nii.gz", seed=i)
            if noise:
                write_nifti(anat / f"{sub}_T2w.nii.gz")
    header = (
        ["participant_id", "sex"] if sessions else ["participant_id", "sex", "age", "diagnosis"]
    )
    write_tsv(root / "participants.tsv", header, participants)
    if noise:
        write_nifti(root / "derivatives" / "x" / "sub-001" / "anat" / "sub-001_T1w.nii.gz")
        write_nifti(root / "sourcedata" / "sub-001" / "anat" / "sub-001_T1w.nii.gz")
        write_nifti(root / "sub-001" / "anat" / ".sub-001_T1w.nii.gz")
        (root / "README").write_text("tiny")
    return root


def set_cell(path: Path, line: int, column: str, value: str) -> None:
    """Overwrite one cell of a TSV (line numbers are 1-based, header = line 1)."""
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    fields = lines[line - 1].split("\t")
    fields[header.index(column)] = value
    lines[line - 1] = "\t".join(fields)
    path.write_text("\n".join(lines) + "\n")
