"""nibabel <-> ANTs conversion keeps voxels and world coordinates."""

from __future__ import annotations

import ants
import nibabel as nib
import numpy as np
import pytest

from latentcf.io import load_t1w
from latentcf.preprocess.antsimg import ants_affine, reference_image, to_ants, to_nifti


def _oblique_affine() -> np.ndarray:
    """PSR-like axes, 1.2 x 2 x 0.9 mm voxels, rotated 10 degrees about z, shifted origin."""
    c, s = np.cos(np.deg2rad(10)), np.sin(np.deg2rad(10))
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    axes = np.array([[0, 0, 1], [-1, 0, 0], [0, 1, 0]], dtype=float) * np.array([1.2, 2.0, 0.9])
    affine = np.eye(4)
    affine[:3, :3] = rot @ axes
    affine[:3, 3] = [-40.0, 70.0, -30.0]
    return affine


def test_round_trip_keeps_affine_and_voxels():
    rng = np.random.default_rng(0)
    data = rng.random((7, 9, 5)).astype(np.float32)
    affine = _oblique_affine()
    img = to_ants(nib.Nifti1Image(data, affine))
    np.testing.assert_allclose(ants_affine(img), affine, atol=1e-5)
    back = to_nifti(img)
    np.testing.assert_array_equal(np.asarray(back.dataobj), data)
    np.testing.assert_allclose(back.affine, affine, atol=1e-5)


def test_world_coordinates_match_ants_lps_convention():
    data = np.zeros((6, 6, 6), dtype=np.float32)
    affine = _oblique_affine()
    img = to_ants(data, affine)
    voxel = np.array([2, 3, 4])
    ras = affine[:3, :3] @ voxel + affine[:3, 3]
    lps = ras * np.array([-1, -1, 1])
    point = img.origin + np.asarray(img.direction) @ (np.asarray(img.spacing) * voxel)
    np.testing.assert_allclose(point, lps, atol=1e-4)


def test_reference_image_is_empty_grid():
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    ref = reference_image((4, 5, 6), affine)
    assert ref.shape == (4, 5, 6)
    assert float(ref.numpy().max()) == 0.0
    np.testing.assert_allclose(ants_affine(ref), affine)


def _units_mm(img: nib.Nifti1Image) -> nib.Nifti1Image:
    """Spatial and time units set, so that antspyx neither prints a warning nor edits the header."""
    img.header.set_xyzt_units("mm", "sec")
    return img


def test_geometry_agrees_with_antspyx_conversion():
    """Ours and ants.from_nibabel_nifti agree on a permuted, flipped, rotated affine."""
    data = np.random.default_rng(1).random((7, 9, 5)).astype(np.float32)
    affine = _oblique_affine()
    assert np.linalg.det(affine[:3, :3]) < 0  # a flipped (left-handed) voxel grid
    ours = to_ants(data, affine)
    theirs = ants.from_nibabel_nifti(_units_mm(nib.Nifti1Image(data, affine)))
    np.testing.assert_allclose(ours.origin, theirs.origin, atol=1e-9)
    np.testing.assert_allclose(ours.spacing, theirs.spacing, atol=1e-9)
    np.testing.assert_allclose(ours.direction, theirs.direction, atol=1e-9)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    # nib -> ants -> nib through the library's reverse conversion (what to_nifti uses)
    np.testing.assert_allclose(ants.to_nibabel_nifti(ours).affine, affine, atol=1e-5)
    np.testing.assert_allclose(ants_affine(theirs), affine, atol=1e-5)


@pytest.mark.parametrize(
    "case",
    ["sform scaled away from pixdim", "1 degree shear"],
)
def test_headers_antspyx_refuses_are_converted(tmp_path, case):
    """Why to_ants is kept: antspyx 0.6.3 raises on these readable headers; ours follows nibabel.

    If a later antspyx accepts them with the same geometry, this test fails: switch to_ants to it.
    """
    data = np.random.default_rng(2).random((6, 7, 8)).astype(np.float32)
    if case == "1 degree shear":
        affine = _oblique_affine()
        affine[:3, :3] = affine[:3, :3] @ np.array(
            [[1.0, np.tan(np.deg2rad(1.0)), 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
        )
        img = _units_mm(nib.Nifti1Image(data, affine))
    else:
        img = _units_mm(nib.Nifti1Image(data, np.eye(4)))
        img.set_sform(np.diag([1.2, 1.2, 1.2, 1.0]), code="aligned")
        nib.save(img, tmp_path / "rescaled.nii.gz")
        img = load_t1w(tmp_path / "rescaled.nii.gz")
        np.testing.assert_allclose(img.affine, np.diag([1.2, 1.2, 1.2, 1.0]), atol=1e-6)
    with pytest.raises(ValueError):
        ants.from_nibabel_nifti(img)
    ours = to_ants(img)
    np.testing.assert_allclose(ours.spacing, np.linalg.norm(img.affine[:3, :3], axis=0), atol=1e-5)
    # Voxel (0, 0, 0) keeps its world position, the directions become orthonormal (shear
    # removed) and the image centre moves by a fraction of a voxel.
    np.testing.assert_allclose(ants_affine(ours)[:3, 3], img.affine[:3, 3], atol=1e-5)
    direction = np.asarray(ours.direction)
    np.testing.assert_allclose(direction.T @ direction, np.eye(3), atol=1e-9)
    centre = (np.asarray(img.shape) - 1) / 2
    moved = np.linalg.norm((ants_affine(ours) - img.affine)[:3, :3] @ centre)
    assert moved < 0.15, moved  # mm; 0 without shear


def test_to_nifti_casts_and_keeps_units():
    img = to_ants(np.arange(24, dtype=np.float32).reshape(2, 3, 4), _oblique_affine())
    out = to_nifti(img, np.int16)
    assert out.get_data_dtype() == np.int16 and np.asarray(out.dataobj).dtype == np.int16
    assert out.header.get_xyzt_units()[0] == "mm"
    np.testing.assert_array_equal(np.asarray(out.dataobj), np.arange(24).reshape(2, 3, 4))
    np.testing.assert_allclose(out.affine, _oblique_affine(), atol=1e-5)
