"""Conversion between nibabel images (RAS affine) and ANTsPy images (LPS origin/direction).

ITK stores an image as origin + spacing + direction cosines in LPS millimetres; NIfTI stores
a 4x4 voxel-to-RAS affine. A shear in the affine cannot be represented in ITK: the nearest
orthonormal direction matrix is used (scanner affines have no shear in practice).
"""

from __future__ import annotations

import ants
import nibabel as nib
import numpy as np

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def to_ants(img: nib.Nifti1Image | np.ndarray, affine: np.ndarray | None = None) -> ants.ANTsImage:
    """Return a float32 ANTs image with the voxels and geometry of `img` (3D).

    `img` is a nibabel image, or an array of shape (X, Y, Z) with its 4x4 RAS `affine`.
    """
    if isinstance(img, nib.spatialimages.SpatialImage):
        data = np.asarray(img.dataobj, dtype=np.float32)
        affine = img.affine
    else:
        data = np.asarray(img, dtype=np.float32)
    if affine is None:
        raise ValueError("an affine is required when passing an array")
    lps = _RAS_TO_LPS @ np.asarray(affine, dtype=float)
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    direction = lps[:3, :3] / spacing
    # Nearest orthonormal matrix (polar decomposition) removes any residual shear.
    u, _, vt = np.linalg.svd(direction)
    direction = u @ vt
    return ants.from_numpy(
        np.ascontiguousarray(data),
        origin=tuple(float(v) for v in lps[:3, 3]),
        spacing=tuple(float(v) for v in spacing),
        direction=direction,
    )


def ants_affine(img: ants.ANTsImage) -> np.ndarray:
    """4x4 voxel-to-RAS affine of an ANTs image."""
    lps = np.eye(4)
    lps[:3, :3] = np.asarray(img.direction) * np.asarray(img.spacing)[None, :]
    lps[:3, 3] = np.asarray(img.origin)
    return _RAS_TO_LPS @ lps


def to_nifti(img: ants.ANTsImage, dtype: type = np.float32) -> nib.Nifti1Image:
    """Return a nibabel image (voxels cast to `dtype`) with the geometry of `img`."""
    data = img.numpy().astype(dtype)
    out = nib.Nifti1Image(data, ants_affine(img))
    out.header.set_xyzt_units("mm")
    out.header.set_data_dtype(dtype)
    return out


def reference_image(shape: tuple[int, int, int], affine: np.ndarray) -> ants.ANTsImage:
    """An all-zero float32 ANTs image defining a target grid (shape in voxels, RAS affine)."""
    return to_ants(np.zeros(shape, dtype=np.float32), affine)
