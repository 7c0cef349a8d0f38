"""Linear resampling of many label-fraction maps at once, as one sparse matrix.

A resampling from a source grid to a set of target points is linear in the source values:
``target = W @ source`` with W (n_points, n_source_voxels) holding each point's trilinear weights
(8 per point). Building W once and multiplying it with all label maps together (a dense
(n_source, n_labels) array or a sparse one such as one-hot atlas labels) costs one pass instead
of one interpolation per label. Averaging k^3 sub-voxel points per target voxel gives the mean
of the source over the voxel (a partial volume), not only its value at the centre.

Conventions: voxel indices, voxel centres at integers; a point between the outermost voxel
centres and beyond them gets weight only from the corners that exist (no extrapolation), so a
partition of unity stays <= 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp


def trilinear_matrix(
    points: np.ndarray, source_shape: tuple[int, int, int], samples_per_row: int = 1
) -> sp.csr_matrix:
    """Sparse float32 (n_rows, prod(source_shape)) matrix of trilinear weights.

    `points`: float (n_rows * samples_per_row, 3) voxel indices into the source grid, the
    `samples_per_row` points of one row consecutive; each row is the mean over its points.
    Corners outside the source grid get weight 0.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    n_rows = pts.shape[0] // samples_per_row
    shape = [int(n) for n in source_shape]
    index_dtype = np.int32 if int(np.prod(shape)) < 2**31 else np.int64
    weights, indices = [], []
    for axis in range(3):  # per axis: (n, 2) lower/upper neighbour and its weight
        base = np.floor(pts[:, axis])
        frac = (pts[:, axis] - base).astype(np.float32)
        idx = base.astype(np.int64)[:, None] + np.array([0, 1])
        w = np.stack([1.0 - frac, frac], axis=1)
        w[(idx < 0) | (idx >= shape[axis])] = 0.0  # missing corners: no extrapolation
        weights.append(w)
        indices.append(np.clip(idx, 0, shape[axis] - 1).astype(index_dtype))
    wx, wy, wz = weights
    ix, iy, iz = indices
    w = (wx[:, :, None, None] * wy[:, None, :, None]) * wz[:, None, None, :]
    w *= np.float32(1.0 / samples_per_row)
    flat = (ix[:, :, None, None] * shape[1] + iy[:, None, :, None]) * shape[2] + iz[
        :, None, None, :
    ]
    per_row = 8 * samples_per_row
    indptr = np.arange(0, n_rows * per_row + 1, per_row, dtype=index_dtype)
    return sp.csr_matrix(
        (w.reshape(-1), flat.reshape(-1), indptr), shape=(n_rows, int(np.prod(shape)))
    )


def grid_points(
    target_shape: tuple[int, int, int],
    target_to_source: np.ndarray,
    subdivisions: tuple[int, int, int] = (1, 1, 1),
) -> np.ndarray:
    """float64 (n_target * prod(subdivisions), 3) source voxel indices of the target voxels.

    `target_to_source`: 4x4 map from target voxel indices to source voxel indices. With
    `subdivisions` k each target voxel contributes k0*k1*k2 points at the centres of its
    sub-voxels (consecutive), for :func:`trilinear_matrix` with samples_per_row = their number.
    """
    offsets = np.stack(
        np.meshgrid(*[(np.arange(k) + 0.5) / k - 0.5 for k in subdivisions], indexing="ij"),
        axis=-1,
    ).reshape(-1, 3)
    index = np.indices(target_shape, dtype=np.float64).reshape(3, -1).T  # (n, 3)
    sub = (index[:, None, :] + offsets[None]).reshape(-1, 3)
    m = np.asarray(target_to_source, dtype=np.float64)
    return sub @ m[:3, :3].T + m[:3, 3]


def subdivisions_for(target_affine: np.ndarray, source_affine: np.ndarray) -> tuple[int, int, int]:
    """Sub-voxels per target axis so that sub-voxels are no larger than the source voxels."""
    target_mm = np.linalg.norm(np.asarray(target_affine, dtype=float)[:3, :3], axis=0)
    source_mm = float(np.linalg.norm(np.asarray(source_affine, dtype=float)[:3, :3], axis=0).min())
    k = np.maximum(1, np.ceil(target_mm / source_mm - 1e-6)).astype(int)
    return int(k[0]), int(k[1]), int(k[2])


def resample_labels(
    weights: sp.csr_matrix,
    table: sp.spmatrix | list[np.ndarray],
    shape: tuple[int, int, int],
    block: int = 16,
) -> np.ndarray:
    """float32 (n_labels, *shape): ``weights @ table`` laid out label-first, `block` labels at a time.

    `table` is sparse (n_source, n_labels) or a list of n_labels dense source maps; `weights`
    (prod(shape), n_source) from :func:`trilinear_matrix`. Working in blocks keeps the extra
    memory to one block, not a second copy of all fractions (2 GB for 104 labels at 1 mm).
    """
    n = table.shape[1] if sp.issparse(table) else len(table)
    out = np.empty((n, *shape), dtype=np.float32)
    for begin in range(0, n, block):
        stop = min(begin + block, n)
        if sp.issparse(table):
            part = (weights @ table[:, begin:stop]).toarray()
        else:
            part = weights @ np.stack([m.ravel() for m in table[begin:stop]], axis=1)
        out[begin:stop] = part.T.reshape(stop - begin, *shape)
    return out


def normalise_fractions(fractions: np.ndarray) -> np.ndarray:
    """Fractions clipped to [0, 1] and divided by their sum where it exceeds 1 (interpolation
    rounding: a partition warped linearly sums to 1 up to ~1e-7). In place when `fractions` is
    float32 and C-contiguous (the backends' own arrays), else on a float32 copy; returns it."""
    out = np.ascontiguousarray(fractions, dtype=np.float32)
    np.clip(out, 0.0, 1.0, out=out)
    total = out.sum(axis=0)
    over = total > 1.0
    if np.any(over):
        out[:, over] /= total[over]
    return out


def warp_indices(transforms: list[str], fixed: Any) -> np.ndarray:
    """float64 (n_voxels, 3): for each fixed voxel (C order), the template voxel index it maps to.

    `transforms`: SyNOnly's forward transforms, [warp field, identity affine], or its inverse
    transforms, [identity affine, inverse warp field]. The warp holds displacements in physical
    LPS mm on the fixed grid, which is also the moving image's grid.
    """
    from latentcf.antslib import ants  # only the callers that registered with antspyx get here

    inverse = [t for t in transforms if t.endswith("InverseWarp.nii.gz")]
    warp_path = inverse or [t for t in transforms if t.endswith("Warp.nii.gz")]
    affine_path = [t for t in transforms if t.endswith(".mat")]
    for path in affine_path:  # the "identity" initial transform, written back by ANTs
        params = np.asarray(ants.read_transform(path).parameters, dtype=float)
        if not np.allclose(params, [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0], atol=1e-6):
            raise RuntimeError(f"expected an identity initial transform, got {params.tolist()}")
    if len(warp_path) != 1:
        raise RuntimeError(f"expected one warp field among {transforms}")
    disp = ants.image_read(warp_path[0]).numpy().reshape(-1, 3).astype(np.float64)
    to_index = np.linalg.inv(np.asarray(fixed.direction) * np.asarray(fixed.spacing)[None, :])
    index = np.indices(fixed.shape, dtype=np.float64).reshape(3, -1).T
    return index + disp @ to_index.T
