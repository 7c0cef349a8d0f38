"""Synthetic model-grid volumes made from the template, for tests and benchmarks.

Each volume is the ICBM 2009c brain (skull-stripped) on the model grid, moved by a random
affine (scale +-5 %, shift +-2 voxels) plus a smooth random displacement (up to ~1.5 voxels),
with a random intensity gamma (0.85-1.15) and scale (0.9-1.1). Intensities are normalised so
the brain is roughly in [0, 1] with background 0, like the preprocessed images.
"""

from __future__ import annotations

import functools
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from latentcf.grid import grid_affine, grid_shape
from latentcf.io import save_nifti_atomic
from latentcf.templates import template_files


@functools.lru_cache(maxsize=3)
def template_on_grid(resolution_mm: int) -> tuple[np.ndarray, np.ndarray]:
    """(brain float32 normalised to ~[0, 1], mask uint8) of the template on the model grid."""
    files = template_files()
    brain_img = nib.load(str(files.t1_brain))
    mask_img = nib.load(str(files.brain_mask))
    # 1 mm grid = crop of the template starting at the template voxel of the grid's first centre.
    start = np.linalg.solve(brain_img.affine, grid_affine(1) @ np.array([0, 0, 0, 1.0]))[:3]
    start = np.round(start).astype(int)
    shape1 = grid_shape(1)
    sl = tuple(slice(s, s + n) for s, n in zip(start, shape1, strict=True))
    brain = np.asarray(brain_img.dataobj, dtype=np.float32)[sl]
    mask = (np.asarray(mask_img.dataobj)[sl] > 0).astype(np.float32)
    brain = brain * mask
    r = resolution_mm
    out_shape = grid_shape(r)
    blocks = (out_shape[0], r, out_shape[1], r, out_shape[2], r)
    brain = brain.reshape(blocks).mean(axis=(1, 3, 5))
    mask = mask.reshape(blocks).mean(axis=(1, 3, 5)) >= 0.5
    brain = brain / np.percentile(brain[mask], 99.5)
    return np.clip(brain, 0, None).astype(np.float32) * mask, mask.astype(np.uint8)


def synthetic_volume(resolution_mm: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One jittered (image float32, mask uint8) pair on the model grid; see the module docstring."""
    brain, mask = template_on_grid(resolution_mm)
    shape = np.array(brain.shape)
    centre = (shape - 1) / 2.0
    scale = rng.uniform(0.95, 1.05, size=3)
    shift = rng.uniform(-2, 2, size=3)
    coords = np.indices(brain.shape, dtype=np.float32)
    coarse = rng.normal(0, 1.0, size=(3, 4, 5, 4)).astype(np.float32)
    zoom = [1, *(shape / np.array(coarse.shape[1:]))]
    smooth = ndimage.zoom(coarse, zoom, order=1, grid_mode=True, mode="nearest")[
        :, : shape[0], : shape[1], : shape[2]
    ]
    for axis in range(3):
        coords[axis] = (coords[axis] - centre[axis]) / scale[axis] + centre[axis] + shift[axis]
    coords = coords + smooth
    img = ndimage.map_coordinates(brain, coords, order=1, mode="constant")
    warped_mask = ndimage.map_coordinates(mask.astype(np.float32), coords, order=1) >= 0.5
    img = np.clip(img, 0, None) ** rng.uniform(0.85, 1.15) * rng.uniform(0.9, 1.1)
    return (img * warped_mask).astype(np.float32), warped_mask.astype(np.uint8)


def write_synthetic_dataset(
    folder: str | Path, n: int, resolution_mm: int, seed: int = 0
) -> tuple[list[Path], list[Path]]:
    """Write `n` synthetic (image, mask) NIfTI pairs on the model grid; return their paths."""
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    images, masks = [], []
    affine = grid_affine(resolution_mm)
    for i in range(n):
        img, mask = synthetic_volume(resolution_mm, rng)
        images.append(
            save_nifti_atomic(nib.Nifti1Image(img, affine), folder / f"sub-{i:03d}_T1w.nii.gz")
        )
        masks.append(
            save_nifti_atomic(nib.Nifti1Image(mask, affine), folder / f"sub-{i:03d}_mask.nii.gz")
        )
    return images, masks
