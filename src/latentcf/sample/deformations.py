"""Jacobian statistics of a model's deformation fields (families that warp, e.g. m3ae).

A family that decodes by warping has a method ``deformation_fields(latent) -> list[Tensor]``: one
full-resolution displacement field (B, 3, X, Y, Z) in voxels per warped level, coarse to fine. The
image is warped by the coarse level first and the result by each finer one, so the image's overall
map is phi_0 o phi_1 o ... o phi_{L-1} (the finest applied to a voxel's position first); its
displacement is the ``composed`` level. Per level and image: the folding fraction and the spread
of det(I + grad u) (:func:`latentcf.evaluate.realism.jacobian_statistics`) over the whole grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from latentcf.deform import compose, jacobian_determinant
from latentcf.evaluate.realism import jacobian_statistics

COMPOSED = "composed"
ALL_SAMPLES = "all"
STATISTICS = ["folding_fraction", "min", "p01", "mean", "p99", "max"]
COLUMNS = ["sample", "level", *STATISTICS]


def has_deformation_fields(model: Any) -> bool:
    """True when `model` has a callable ``deformation_fields(latent)``."""
    return callable(getattr(model, "deformation_fields", None))


def composed_field(fields: Sequence[torch.Tensor]) -> torch.Tensor:
    """Displacement (B, 3, X, Y, Z) voxels of phi_0 o ... o phi_{L-1} for `fields` (coarse to
    fine, each (B, 3, X, Y, Z) voxels): the map of warping by the coarse level first."""
    if not fields:
        raise ValueError("expected at least one deformation field, got none")
    total = fields[-1]
    for outer in reversed(fields[:-1]):
        total = compose(outer, total)
    return total


@torch.no_grad()
def jacobian_rows(fields: Sequence[torch.Tensor], samples: Sequence[str]) -> list[dict[str, Any]]:
    """One row (sample, level, statistics) per image of the batch and level ('0' = coarsest ...,
    then 'composed' when there are several levels) of `fields` (coarse to fine, each
    (B, 3, X, Y, Z) voxels, B = len(samples))."""
    levels = [(str(k), f) for k, f in enumerate(fields)]
    if len(fields) > 1:
        levels.append((COMPOSED, composed_field(fields)))
    rows = []
    for level, field in levels:
        if field.ndim != 5 or field.shape[:2] != (len(samples), 3):
            raise ValueError(
                f"deformation field of level {level}: expected shape ({len(samples)}, 3, X, Y, Z), "
                f"got {tuple(field.shape)}"
            )
        det = jacobian_determinant(field.float()).cpu().numpy()
        for sample, values in zip(samples, det, strict=True):
            rows.append({"sample": sample, "level": level, **jacobian_statistics(values)})
    return rows


def jacobian_table(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The per-image rows of :func:`jacobian_rows`, then per level one row with sample 'all':
    the mean over images of each statistic, except min (the smallest) and max (the largest)."""
    table = pd.DataFrame(list(rows), columns=COLUMNS)
    if table.empty:
        return table
    summary = []
    for level, part in table.groupby("level", sort=False):
        values = {s: float(part[s].mean()) for s in STATISTICS}
        values["min"], values["max"] = float(part["min"].min()), float(part["max"].max())
        summary.append({"sample": ALL_SAMPLES, "level": level, **values})
    table = pd.concat([table, pd.DataFrame(summary, columns=COLUMNS)], ignore_index=True)
    return table.astype({s: np.float64 for s in STATISTICS})
