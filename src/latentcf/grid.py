"""The model grid: a fixed box in template (MNI152NLin2009cSym, RAS mm) space.

The box is 160 x 192 x 160 mm and contains the whole template brain mask (x -72..72,
y -107..73, z -72..82 mm) with a margin. At 1 mm its voxel centres coincide with template
voxel centres, so the 1 mm grid is a pure crop of the template.

Resolution (mm) -> shape: 1 -> 160x192x160, 2 -> 80x96x80, 4 -> 40x48x40.
"""

from __future__ import annotations

import numpy as np

from latentcf.errors import ConfigError

BOX_SIZE_MM = (160, 192, 160)
# Outer edge of the box (mm, RAS); voxel centres start half a voxel inside it.
BOX_LOWER_EDGE_MM = (-80.5, -113.5, -75.5)
SUPPORTED_RESOLUTIONS_MM = (1, 2, 4)


def grid_shape(resolution_mm: int) -> tuple[int, int, int]:
    """Shape (x, y, z) of the model grid at `resolution_mm` (1, 2 or 4)."""
    _check_resolution(resolution_mm)
    return tuple(s // resolution_mm for s in BOX_SIZE_MM)  # type: ignore[return-value]


def grid_affine(resolution_mm: int) -> np.ndarray:
    """4x4 voxel-to-RAS-mm affine of the model grid at `resolution_mm`."""
    _check_resolution(resolution_mm)
    affine = np.diag([float(resolution_mm)] * 3 + [1.0])
    affine[:3, 3] = np.asarray(BOX_LOWER_EDGE_MM) + resolution_mm / 2.0
    return affine


def _check_resolution(resolution_mm: int) -> None:
    if resolution_mm not in SUPPORTED_RESOLUTIONS_MM:
        raise ConfigError(
            "resolution_mm",
            f"expected one of {SUPPORTED_RESOLUTIONS_MM}, got {resolution_mm!r}",
        )
