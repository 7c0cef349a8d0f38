"""The fixed template an m3ae model deforms: the ICBM 2009c template on the model grid, or a
user's NIfTI on that grid (e.g. the preprocessed model-grid image of a cognitively normal
baseline scan of the train split, as in the M3AE paper)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from latentcf.errors import ConfigError, InputDataError
from latentcf.grid import SUPPORTED_RESOLUTIONS_MM, grid_shape

ICBM = "icbm"
KEY = "models.<name>.template"


def load_template(source: str, image_shape: Sequence[int]) -> np.ndarray:
    """float32 (X, Y, Z) template for `source` ("icbm" or a NIfTI path) on a grid of `image_shape`.

    "icbm": :func:`latentcf.atlas.atlas_on_grid` ``.brain`` (intensities scaled like a
    preprocessed scan, 0 outside the brain). A path: its 3D float data, which must have
    `image_shape`.
    """
    shape = tuple(int(s) for s in image_shape)
    if source == ICBM:
        resolution = next((r for r in SUPPORTED_RESOLUTIONS_MM if grid_shape(r) == shape), None)
        if resolution is None:
            raise ConfigError(
                KEY,
                f"template {ICBM!r} exists on the model grids "
                f"{[grid_shape(r) for r in SUPPORTED_RESOLUTIONS_MM]}, not on {shape}",
                "Give a NIfTI file on the training images' grid instead",
            )
        from latentcf.atlas import atlas_on_grid

        return np.array(atlas_on_grid(resolution).brain, dtype=np.float32)
    path = Path(source)
    if not path.is_file():
        raise ConfigError(
            KEY,
            f"expected {ICBM!r} or an existing NIfTI file, got {source!r} (not found)",
            "Use a preprocessed model-grid image, e.g. <output_dir>/preprocess/.../*_T1w.nii.gz",
        )
    from latentcf.io import load_t1w

    data = np.asarray(load_t1w(path).dataobj, dtype=np.float32)  # 3D, finite, not constant
    if data.shape != shape:
        raise InputDataError(
            path,
            f"template has shape {data.shape}, expected the training images' {shape}",
            "Use a preprocessed image on the model grid of this resolution",
        )
    return data
