"""Fixtures of the preprocessing tests: template-derived synthetic heads and real scans."""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from pp_helpers import COLIN27, IXI_DIR, rigid_pose, template_head_2mm

from latentcf.preprocess import set_threads


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    set_threads(2)
    import torch

    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def posed_template(tmp_path_factory) -> dict:
    """The 2 mm template head in a known random rigid pose, stored like a scan (PSR-ish int16)."""
    head, mask, affine = template_head_2mm()
    pose = rigid_pose(7)
    # Store with permuted, flipped axes, like a sagittal acquisition, and a posed affine.
    data = np.flip(np.transpose(head, (1, 2, 0)), axis=0)
    mask_data = np.flip(np.transpose(mask, (1, 2, 0)), axis=0)
    perm = np.zeros((4, 4))
    perm[3, 3] = 1
    # voxel (j, k, i) of the new array == voxel (i, j_flipped, k) of the old one
    n_j = head.shape[1]
    perm[0, 2] = 1  # old i = new k
    perm[1, 0] = -1  # old j = n_j - 1 - new i
    perm[1, 3] = n_j - 1
    perm[2, 1] = 1  # old k = new j
    new_affine = pose @ affine @ perm
    scale = 1000.0 / float(np.percentile(data[data > 0], 99))
    folder = tmp_path_factory.mktemp("posed")
    path = folder / "sub-posed_T1w.nii.gz"
    img = nib.Nifti1Image(np.round(data * scale).astype(np.int16), new_affine)
    img.header.set_xyzt_units("mm")
    nib.save(img, path)
    truth = folder / "sub-posed_truthmask.nii.gz"
    nib.save(nib.Nifti1Image(mask_data.astype(np.uint8), new_affine), truth)
    return {"path": path, "truth_mask": truth, "pose": pose}


def missing_asset(reason: str) -> None:
    """A test asset is absent: fail under CI (CI=true, where every asset must be there), else skip."""
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason} (CI=true: every test asset must be present)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def ixi_dir() -> Path:
    """The folder of real IXI T1w scans (../shared/data/ixi beside the checkout)."""
    if not IXI_DIR.is_dir():
        missing_asset(
            f"real IXI scans not found at {IXI_DIR} (../shared/data/ixi beside the checkout)"
        )
    return IXI_DIR


@pytest.fixture(scope="session")
def colin27_2mm(tmp_path_factory) -> Path:
    """Colin27 (Debian mricron-data) downsampled to 2 mm, to keep the test fast."""
    if not COLIN27.is_file():
        missing_asset(f"Colin27 not found at {COLIN27}: install the Debian package mricron-data")
    import ants

    from latentcf.preprocess.antsimg import to_ants, to_nifti

    img = nib.load(COLIN27)
    small = ants.resample_image(to_ants(img), (2.0, 2.0, 2.0), use_voxels=False, interp_type=0)
    path = tmp_path_factory.mktemp("colin27") / "ch2_2mm.nii.gz"
    nib.save(to_nifti(small), path)
    return path
