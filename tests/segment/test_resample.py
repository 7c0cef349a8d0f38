"""Linear resampling of fraction maps as one sparse matrix."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from latentcf.grid import grid_affine
from latentcf.segment.resample import (
    grid_points,
    normalise_fractions,
    subdivisions_for,
    trilinear_matrix,
)


def test_trilinear_matrix_equals_scipy_linear_interpolation():
    rng = np.random.default_rng(0)
    source = rng.random((7, 8, 9)).astype(np.float32)
    # points inside, near and beyond the edges
    points = rng.uniform(-1.5, 9.5, size=(2000, 3))
    weights = trilinear_matrix(points, source.shape)
    ours = weights @ source.ravel()
    ref = ndimage.map_coordinates(
        source.astype(np.float64), points.T, order=1, mode="grid-constant", cval=0.0
    )
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    assert weights.shape == (2000, source.size)


def test_box_average_of_an_aligned_grid_is_the_block_mean():
    """1 mm -> 4 mm model grid with 4^3 sub-samples per voxel: exactly the 4^3 block mean."""
    rng = np.random.default_rng(1)
    fine = rng.random((16, 24, 12)).astype(np.float32)
    fine_affine, coarse_affine = grid_affine(1), grid_affine(4)
    k = subdivisions_for(coarse_affine, fine_affine)
    assert k == (4, 4, 4)
    to_fine = np.linalg.solve(fine_affine, coarse_affine)
    coarse_shape = (4, 6, 3)
    points = grid_points(coarse_shape, to_fine, k)
    weights = trilinear_matrix(points, fine.shape, samples_per_row=64)
    ours = (weights @ fine.ravel()).reshape(coarse_shape)
    block = fine.reshape(4, 4, 6, 4, 3, 4).mean(axis=(1, 3, 5))
    np.testing.assert_allclose(ours, block, rtol=1e-6)


def test_subdivisions_cover_each_axis():
    target = np.diag([4.0, 2.0, 1.0, 1.0])
    assert subdivisions_for(target, np.eye(4)) == (4, 2, 1)
    assert subdivisions_for(np.eye(4), np.diag([2.0, 2.0, 2.0, 1.0])) == (1, 1, 1)


def test_normalise_fractions_clips_and_caps_the_sum():
    f = np.array([[[[0.7]]], [[[0.5]]], [[[-0.01]]]], dtype=np.float32)
    out = normalise_fractions(f)
    assert out.dtype == np.float32 and out.flags["C_CONTIGUOUS"]
    assert out.min() >= 0.0
    assert float(out.sum()) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(out[:2, 0, 0, 0], [0.7 / 1.2, 0.5 / 1.2], rtol=1e-6)


def test_resample_labels_sparse_and_dense_agree():
    import scipy.sparse as sp

    from latentcf.segment.resample import resample_labels

    rng = np.random.default_rng(2)
    source = (rng.random((5, 6, 7, 20)) < 0.1).astype(np.float32)  # 20 labels, sparse-ish
    points = rng.uniform(0, 6, size=(4 * 3 * 2, 3))
    weights = trilinear_matrix(points, (5, 6, 7))
    table = sp.csr_matrix(source.reshape(-1, 20))
    a = resample_labels(weights, table, (4, 3, 2), block=7)
    b = resample_labels(weights, [source[..., j] for j in range(20)], (4, 3, 2), block=16)
    assert a.shape == (20, 4, 3, 2) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-6)
    ref = ndimage.map_coordinates(source[..., 3], points.T, order=1, mode="grid-constant")
    np.testing.assert_allclose(a[3].ravel(), ref, atol=1e-6)
