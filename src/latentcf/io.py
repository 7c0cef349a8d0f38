"""NIfTI reading with input checks, and atomic writing.

`read_header_checked` is cheap (header only) and is what ingest uses for every scan;
`load_t1w` reads the voxels too and is what per-scan stages use, so that a truncated or
NaN-filled file fails its own job and nothing else.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np

from latentcf.errors import InputDataError

# Voxel sizes outside this range (mm) are almost certainly a broken header.
MIN_VOXEL_MM = 0.1
MAX_VOXEL_MM = 10.0
NIFTI_SUFFIXES = (".nii", ".nii.gz")


def read_header_checked(path: str | Path) -> nib.Nifti1Image:
    """Open `path` as a 3D NIfTI (header only) or raise :class:`InputDataError`.

    Accepts 4D images whose 4th axis has length 1. Voxel data are not read.
    """
    path = Path(path)
    if not path.name.endswith(NIFTI_SUFFIXES):
        raise InputDataError(
            path, f"expected a NIfTI file ending in .nii or .nii.gz, got '{path.name}'"
        )
    if not path.is_file():
        raise InputDataError(
            path, "file not found", "Check the path in the cohort table or BIDS folder"
        )
    try:
        img = nib.load(str(path))
    except Exception as exc:  # nibabel raises several types for corrupt headers
        raise InputDataError(
            path,
            f"unreadable NIfTI ({type(exc).__name__}: {exc})",
            "Re-export or re-download the file",
        ) from exc
    shape = img.shape
    if len(shape) == 4 and shape[3] == 1:
        pass
    elif len(shape) != 3:
        kind = f"{len(shape)}D {tuple(shape)}"
        raise InputDataError(
            path,
            f"expected a 3D image, got {kind}",
            "Pass one T1w volume per file (a 4D file with a single volume is accepted)",
        )
    if min(shape[:3]) < 2:
        raise InputDataError(path, f"expected a 3D image, got a 2D slice of shape {tuple(shape)}")
    zooms = np.asarray(img.header.get_zooms()[:3], dtype=float)
    if not np.all(np.isfinite(zooms)) or zooms.min() < MIN_VOXEL_MM or zooms.max() > MAX_VOXEL_MM:
        raise InputDataError(
            path,
            f"voxel size {tuple(round(float(z), 4) for z in zooms)} mm is outside [{MIN_VOXEL_MM}, {MAX_VOXEL_MM}] mm",
            "The header's pixdim is probably wrong; fix it before running the workflow",
        )
    if not np.all(np.isfinite(img.affine)) or abs(np.linalg.det(img.affine[:3, :3])) < 1e-9:
        raise InputDataError(path, "the voxel-to-world affine is singular or not finite")
    return img


def load_t1w(path: str | Path) -> nib.Nifti1Image:
    """Load a 3D T1w image with its voxels as float32, after full validity checks.

    Returns a 3D `Nifti1Image` (a singleton 4th axis is dropped). Raises
    :class:`InputDataError` for unreadable/truncated files, wrong dimensionality,
    NaN/Inf voxels and constant images.
    """
    img = read_header_checked(path)
    try:
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as exc:  # truncated gzip, short file
        raise InputDataError(
            path,
            f"could not read the voxel data ({type(exc).__name__}: {exc}); the file is probably truncated",
        ) from exc
    if data.ndim == 4:
        data = data[..., 0]
    n_bad = int(np.count_nonzero(~np.isfinite(data)))
    if n_bad:
        raise InputDataError(
            path, f"{n_bad} voxels are NaN or Inf", "Replace them (e.g. by 0) or re-export the scan"
        )
    if float(data.max()) == float(data.min()):
        raise InputDataError(path, f"the image is constant (every voxel is {float(data.min())})")
    header = img.header.copy()
    header.set_data_dtype(np.float32)
    return nib.Nifti1Image(data, img.affine, header)


def save_nifti_atomic(img: nib.Nifti1Image, path: str | Path) -> Path:
    """Write `img` to `path` via a temporary file in the same folder, then rename.

    A crash mid-write never leaves a partial file under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = ".nii.gz" if path.name.endswith(".nii.gz") else ".nii"
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        nib.save(img, tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs must be readable like any other file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
