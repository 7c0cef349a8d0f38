"""nibabel <-> ANTs conversion keeps voxels and world coordinates."""

from __future__ import annotations

import nibabel as nib
import numpy as np

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
