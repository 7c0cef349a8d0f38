"""Affine registration to the template (antspyx) and applying/saving the transform.

Convention (ITK/ANTs, as fMRIPrep's ``from-T1w_to-<tpl>`` files): the saved transform maps
template points to T1w points, which is what resampling a T1w image *into* template space
needs. :func:`to_template` applies it; :func:`to_native` applies its inverse.

Settings: every argument of :func:`affine_register` is required; the values are the
``preprocess.registration`` options, whose defaults live in workflow/schemas/preprocess.schema.yaml
only (:func:`latentcf.preprocess.pipeline.run_registration` fills a partial section from it).

Speed: the metric is computed on copies resampled to `working_resolution_mm` (3 mm in the
schema: ~27x fewer voxels than 1 mm), rigid (2 levels) then affine (3 levels), with far fewer
iterations than ``ants.registration(type_of_transform='Affine')`` (2100x1200x1200x10 on the
full grid); initialised by aligning the centres of mass (ANTs' ``[fixed,moving,1]``). The
transform is then applied at any resolution. The metric is global correlation (brain vs
brain, same contrast). On Colin27 and two IXI scans this gives a Dice with the template brain
mask of 0.954-0.961 (defaults: 0.959 on Colin27) in ~6-8 s instead of ~40-85 s.

Reproducibility: the metric samples a random subset of voxels (`sampling_rate`). ANTs draws
the sampling seed from the clock unless ``--random-seed`` is given, so two runs used to differ
(0.09 mm of translation; up to 0.2 mm at the corners of a brain-sized box).
:func:`affine_register` passes `random_seed` (config key
``preprocess.registration.random_seed``) for its own calls only; antspyx reads the seed from the
module global ``ants.config._random_seed``, which is set and restored around each call.
With a fixed seed the transform is byte-identical between runs with the same number of ITK
threads (``preprocess.threads``). The thread count itself changes the result, because the metric
sums over threads in a different order: on the 2 mm posed template, 1 vs 2 threads moved the
brain-box corners by up to 0.13 mm (0.17 mm together with N4's 1e-6 relative change), as much
as another seed does. Threads are not forced to 1 (that would give up the speed-up of N4 and
of the metric); compare runs made with the same `threads`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from latentcf.antslib import ants
from latentcf.errors import ConfigError
from latentcf.io import atomic_path
from latentcf.preprocess.settings import PYRAMID_KEYS

log = logging.getLogger(__name__)


def affine_register(
    moving: ants.ANTsImage,
    fixed: ants.ANTsImage,
    *,
    working_resolution_mm: float,
    rigid: Mapping[str, Sequence[float]],
    affine: Mapping[str, Sequence[float]],
    sampling_rate: float,
    metric: str,
    random_seed: int,
) -> ants.ANTsTransform:
    """Affine transform (12 dof) aligning `moving` to `fixed`: rigid stage, then affine stage.

    The keywords are the ``preprocess.registration`` options (defaults in
    preprocess.schema.yaml). Both images are resampled to `working_resolution_mm` if finer.
    `rigid` and `affine` are {"iterations", "shrink_factors", "smoothing_sigmas" (voxels)},
    one value per pyramid level. The rigid stage starts from the centres of mass aligned,
    which makes large initial rotations (25 degrees) safe. `metric` is ANTs' name: "GC"
    (global correlation; T1w to T1w template), "mattes" (mutual information) or "meansquares".
    `random_seed` seeds the metric's voxel sampling (0: ANTs draws a seed from the clock,
    runs differ). Returns the ITK transform mapping fixed-space points to moving-space points.
    """
    seed = check_random_seed(random_seed)
    stages = [("Rigid", _pyramid("rigid", rigid)), ("Affine", _pyramid("affine", affine))]
    fixed_w = _coarsen(fixed, working_resolution_mm)
    moving_w = _coarsen(moving, working_resolution_mm)
    initial = None
    with tempfile.TemporaryDirectory(prefix="latentcf-reg-") as tmp:
        for kind, levels in stages:
            with ants_random_seed(seed):
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


def _pyramid(stage: str, options: Mapping[str, Sequence[float]]) -> list[list[float]]:
    """[iterations, shrink_factors, smoothing_sigmas] of one stage, checked (same length)."""
    key = f"preprocess.registration.{stage}"
    if set(options) != set(PYRAMID_KEYS):
        raise ConfigError(key, f"expected the keys {list(PYRAMID_KEYS)}, got {sorted(options)}")
    levels = [list(options[k]) for k in PYRAMID_KEYS]
    if len({len(v) for v in levels}) != 1:
        raise ConfigError(
            key,
            "iterations, shrink_factors and smoothing_sigmas need one value per level, got "
            f"{levels[0]}, {levels[1]}, {levels[2]}",
        )
    return levels


# ANTs reads --random-seed into a C int.
MAX_RANDOM_SEED = 2**31 - 1
# Serialises our seeded calls: the seed is a module global of antspyx.
_SEED_LOCK = threading.Lock()


def check_random_seed(seed: object) -> int:
    """`seed` as an int, or :class:`ConfigError` unless it is an integer in [0, 2**31 - 1]."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ConfigError(
            "preprocess.registration.random_seed",
            f"expected an integer >= 0, got {seed!r} ({type(seed).__name__})",
        )
    if not 0 <= int(seed) <= MAX_RANDOM_SEED:
        raise ConfigError(
            "preprocess.registration.random_seed",
            f"expected an integer in [0, {MAX_RANDOM_SEED}], got {seed}",
        )
    return int(seed)


@contextlib.contextmanager
def ants_random_seed(seed: int) -> Iterator[None]:
    """Within the block, ``ants.registration`` passes ``--random-seed seed`` to antsRegistration.

    antspyx 0.6.3 reads the seed from ``ants.config._random_seed`` (what
    ``ants.set_ants_deterministic`` sets, along with a 1-thread ITK environment variable and the
    numpy/random seeds, all process-wide and never undone). Here only the seed is set, and the
    previous value is restored on exit, so later callers of antspyx see no change. The lock makes
    our calls from several threads take turns; another thread calling ``ants.registration``
    directly during the block would see the seed.
    """
    with _SEED_LOCK:
        previous = ants.config._random_seed
        ants.config._random_seed = int(seed)
        try:
            yield
        finally:
            ants.config._random_seed = previous


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
