"""Conversion between nibabel images (RAS affine) and ANTsPy images (LPS origin/direction).

ITK stores an image as origin + spacing + direction cosines in LPS millimetres; NIfTI stores
a 4x4 voxel-to-RAS affine. A shear in the affine cannot be represented in ITK: the nearest
orthonormal direction matrix is used (scanner affines have no shear in practice).

ANTs -> nibabel is antspyx's ``ants.to_nibabel_nifti``. nibabel -> ANTs stays ours
(:func:`to_ants`): antspyx 0.6.3's ``ants.from_nibabel_nifti`` gives the same geometry for
unsheared affines (tests/preprocess/test_antsimg.py) but
- raises for an sform whose scales differ from pixdim (e.g. a 1 mm file whose sform was
  rescaled to 1.2 mm: "Extracted spacing 1.2 does not match header zooms 1.0"), which nibabel,
  and so :func:`latentcf.io.load_t1w`, reads with the sform;
- raises for a shear above 0.5 degrees of axis deviation (1 degree of shear fails);
- prints a warning on stdout and sets the caller's header units whenever the time unit is
  unknown, i.e. for nearly every 3D scan;
- takes no array + affine.
``ants.image_read`` is not used either: for the sform/pixdim case above ITK takes the qform
(1.0 mm) where nibabel takes the sform (1.2 mm), so the two readers would disagree.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np

from latentcf.antslib import ants

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
    """4x4 voxel-to-RAS affine of an ANTs image (as ``ants.to_nibabel_nifti``, without the voxels)."""
    lps = np.eye(4)
    lps[:3, :3] = np.asarray(img.direction) * np.asarray(img.spacing)[None, :]
    lps[:3, 3] = np.asarray(img.origin)
    return _RAS_TO_LPS @ lps


def to_nifti(img: ants.ANTsImage, dtype: type = np.float32) -> nib.Nifti1Image:
    """Return a nibabel image (voxels cast to `dtype`, units mm) with the geometry of `img`."""
    out = ants.to_nibabel_nifti(img)
    if out.get_data_dtype() != np.dtype(dtype):
        out = nib.Nifti1Image(np.asarray(out.dataobj).astype(dtype), out.affine, out.header)
        out.header.set_data_dtype(dtype)
    return out


def reference_image(shape: tuple[int, int, int], affine: np.ndarray) -> ants.ANTsImage:
    """An all-zero float32 ANTs image defining a target grid (shape in voxels, RAS affine)."""
    return to_ants(np.zeros(shape, dtype=np.float32), affine)
