"""Affine registration to the template (antspyx) and applying/saving the transform.

Convention (ITK/ANTs, as fMRIPrep's ``from-T1w_to-<tpl>`` files): the saved transform maps
template points to T1w points, which is what resampling a T1w image *into* template space
needs. :func:`to_template` applies it; :func:`to_native` applies its inverse.

Speed: the metric is computed on copies resampled to `working_resolution_mm` (default 3 mm:
~27x fewer voxels than 1 mm), rigid (2 levels) then affine (3 levels), with far fewer
iterations than ``ants.registration(type_of_transform='Affine')`` (2100x1200x1200x10 on the
full grid); initialised by aligning the centres of mass (ANTs' ``[fixed,moving,1]``). The
transform is then applied at any resolution. The metric is global correlation (brain vs
brain, same contrast). On Colin27 and two IXI scans this gives a Dice with the template brain
mask of 0.954-0.961 (defaults: 0.959 on Colin27) in ~6-8 s instead of ~40-85 s.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import ants
import numpy as np

from latentcf.errors import ConfigError
from latentcf.io import atomic_path

log = logging.getLogger(__name__)

RIGID_DEFAULT = {"iterations": (200, 100), "shrink_factors": (4, 2), "smoothing_sigmas": (2, 1)}
AFFINE_DEFAULT = {
    "iterations": (200, 100, 50),
    "shrink_factors": (4, 2, 1),
    "smoothing_sigmas": (2, 1, 0),
}


def affine_register(
    moving: ants.ANTsImage,
    fixed: ants.ANTsImage,
    *,
    working_resolution_mm: float = 3.0,
    rigid: Mapping[str, Sequence[float]] | None = None,
    affine: Mapping[str, Sequence[float]] | None = None,
    sampling_rate: float = 0.25,
    metric: str = "GC",
) -> ants.ANTsTransform:
    """Affine transform (12 dof) aligning `moving` to `fixed`: rigid stage, then affine stage.

    Both images are resampled to `working_resolution_mm` if finer. `rigid` and `affine` are
    {"iterations", "shrink_factors", "smoothing_sigmas" (voxels)}, one value per pyramid level
    (defaults :data:`RIGID_DEFAULT`, :data:`AFFINE_DEFAULT`). The rigid stage starts from
    the centres of mass aligned, which makes large initial rotations (25 degrees) safe.
    `metric` is ANTs' name: "GC" (global correlation; default, T1w to T1w template),
    "mattes" (mutual information) or "meansquares".
    Returns the ITK transform mapping fixed-space points to moving-space points.
    """
    stages = [
        ("Rigid", {**RIGID_DEFAULT, **(rigid or {})}),
        ("Affine", {**AFFINE_DEFAULT, **(affine or {})}),
    ]
    fixed_w = _coarsen(fixed, working_resolution_mm)
    moving_w = _coarsen(moving, working_resolution_mm)
    initial = None
    with tempfile.TemporaryDirectory(prefix="latentcf-reg-") as tmp:
        for kind, stage in stages:
            levels = [list(stage[k]) for k in ("iterations", "shrink_factors", "smoothing_sigmas")]
            if len({len(v) for v in levels}) != 1:
                raise ConfigError(
                    f"preprocess.registration.{kind.lower()}",
                    "iterations, shrink_factors and smoothing_sigmas need one value per level, got "
                    f"{levels[0]}, {levels[1]}, {levels[2]}",
                )
            result = ants.registration(
                fixed=fixed_w,
                moving=moving_w,
                type_of_transform=kind,
                initial_transform=initial,
                outprefix=os.path.join(tmp, f"{kind.lower()}_"),
                aff_metric=metric,
                aff_sampling=32,
                aff_random_sampling_rate=float(sampling_rate),
                aff_iterations=tuple(int(i) for i in levels[0]),
                aff_shrink_factors=tuple(int(s) for s in levels[1]),
                aff_smoothing_sigmas=tuple(float(s) for s in levels[2]),
            )
            # ANTs collapses the initial (rigid) transform into the affine stage's output.
            initial = result["fwdtransforms"]
        return ants.read_transform(initial[0])


def _coarsen(img: ants.ANTsImage, resolution_mm: float) -> ants.ANTsImage:
    spacing = np.asarray(img.spacing, dtype=float)
    if float(resolution_mm) <= float(spacing.min()) * 1.05:
        return img
    target = tuple(max(float(resolution_mm), float(s)) for s in spacing)
    return ants.resample_image(img, target, use_voxels=False, interp_type=0)


def to_template(
    img: ants.ANTsImage,
    transform: ants.ANTsTransform,
    reference: ants.ANTsImage,
    interpolation: str = "linear",
) -> ants.ANTsImage:
    """Resample a native-space image onto `reference` (a template-space grid)."""
    return ants.apply_ants_transform_to_image(
        transform, img, reference, interpolation=interpolation
    )


def to_native(
    img: ants.ANTsImage,
    transform: ants.ANTsTransform,
    native_reference: ants.ANTsImage,
    interpolation: str = "linear",
) -> ants.ANTsImage:
    """Bring a template-space image (any grid, e.g. the model grid) back to the native grid."""
    inverse = transform.invert()
    return ants.apply_ants_transform_to_image(
        inverse, img, native_reference, interpolation=interpolation
    )


def save_transform(transform: ants.ANTsTransform, path: str | Path) -> Path:
    """Write `transform` as an ITK .mat file, atomically (latentcf.io.atomic_path)."""
    with atomic_path(path, ".mat") as tmp:
        ants.write_transform(transform, str(tmp))
    return Path(path)


def load_transform(path: str | Path) -> ants.ANTsTransform:
    """Read a transform written by :func:`save_transform`."""
    return ants.read_transform(str(path))
