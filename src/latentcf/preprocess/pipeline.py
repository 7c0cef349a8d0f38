"""The stage's three per-scan steps (one Snakemake rule each); paths in, files out, QC dict back.

1. :func:`run_native`: load + check the raw T1w, N4, skull strip; writes the bias-corrected
   head and the brain mask on the scan's own grid, a QC PNG and a QC JSON.
2. :func:`run_registration`: affine registration of the brain to the template brain; writes
   the transform (.mat), a QC PNG (template outline over the registered brain) and a QC JSON
   (Dice with the template brain mask, NCC with the template brain).
3. :func:`run_grid`: brain-percentile intensity scaling, resampling onto the model grid.

Settings: each step takes its part of the `preprocess` config section, partial or None; the
missing values come from workflow/schemas/preprocess.schema.yaml (the one source of defaults,
see :func:`latentcf.preprocess.settings.merge_defaults`) and are filled once, before any
work, then passed explicitly to the functions below (which have no defaults). A bad value
raises :class:`latentcf.config.ConfigValidationError` naming its key.

Every output is written atomically (temp file + rename) after all computing is done, so a
failing scan leaves nothing behind. Errors about the input raise :class:`InputDataError`.

Same inputs and settings give byte-identical files (images, transform, QC JSON and PNG) for a
given number of threads: the registration's sampling is seeded (see
:mod:`latentcf.preprocess.register`), N4, deepbet on the CPU, smoothing and resampling have no
randomness. Run times go to the log only (Snakemake's benchmark files record them too), never
into the files. The skull-stripping QC JSON's "source" is the input path as given: provenance,
it differs when the same scan is read from another place; nothing downstream reads it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from latentcf.antslib import ants
from latentcf.errors import ConfigError
from latentcf.grid import grid_affine, grid_shape
from latentcf.io import load_t1w, save_nifti_atomic, write_json_atomic
from latentcf.preprocess import metrics, normalise
from latentcf.preprocess.antsimg import reference_image, to_ants
from latentcf.preprocess.bias import n4_correct
from latentcf.preprocess.qc import outline_figure
from latentcf.preprocess.register import (
    affine_register,
    load_transform,
    save_transform,
    to_template,
)
from latentcf.preprocess.settings import merge_defaults
from latentcf.preprocess.skullstrip import skull_strip
from latentcf.preprocess.template import load_template
from latentcf.templates import TEMPLATE_ID

log = logging.getLogger(__name__)

# A skull-stripped adult brain outside this range (ml) deserves a look at the QC image.
PLAUSIBLE_BRAIN_ML = (900.0, 2000.0)


def _native_image(data: np.ndarray, like: nib.Nifti1Image, dtype: type) -> nib.Nifti1Image:
    header = like.header.copy()
    header.set_data_dtype(dtype)
    header.set_xyzt_units("mm")
    img = nib.Nifti1Image(np.asarray(data, dtype=dtype), like.affine, header)
    img.header.set_slope_inter(1.0, 0.0)
    return img


def run_native(
    t1w: str | Path,
    out_t1w: str | Path,
    out_mask: str | Path,
    out_qc_png: str | Path,
    out_qc_json: str | Path,
    *,
    n4: Mapping[str, Any] | None = None,
    skullstrip: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Step 1: raw T1w -> bias-corrected head (float32) + brain mask (uint8), native grid.

    `n4`: ``preprocess.n4`` ({"enabled": bool, plus :func:`latentcf.preprocess.bias.n4_correct`
    keywords}); `skullstrip`: {"method": name, "options": ``preprocess.skullstrip.<method>``}.
    Missing values come from preprocess.schema.yaml. Returns the QC dict.
    """
    n4 = merge_defaults({"n4": dict(n4 or {})})["n4"]
    method, options = _skullstrip_options(skullstrip)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    raw = load_t1w(t1w)
    timings["load_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if n4.pop("enabled"):
        corrected = n4_correct(to_ants(raw), **n4).numpy()
    else:
        corrected = np.clip(np.asarray(raw.dataobj, dtype=np.float32), 0.0, None)
    head = _native_image(corrected, raw, np.float32)
    head.set_filename(str(t1w))
    timings["n4_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    mask = skull_strip(head, method, **options)
    timings["skullstrip_s"] = time.perf_counter() - t0

    volume = metrics.volume_ml(mask, raw.affine)
    lo, hi = PLAUSIBLE_BRAIN_ML
    plausible = lo <= volume <= hi
    if not plausible:
        log.warning(
            "%s: brain volume %.0f ml is outside [%.0f, %.0f] ml; check the QC image",
            t1w,
            volume,
            lo,
            hi,
        )
    qc = {
        "source": str(t1w),
        "skullstrip_method": method,
        "brain_volume_ml": round(volume, 1),
        "brain_volume_plausible": plausible,
    }
    save_nifti_atomic(head, out_t1w)
    save_nifti_atomic(_native_image(mask.astype(np.uint8), raw, np.uint8), out_mask)
    outline_figure(
        corrected,
        raw.affine,
        [(mask, "red", f"brain mask ({method})")],
        out_qc_png,
        f"{Path(t1w).name}: skull stripping, brain {volume:.0f} ml",
    )
    write_json_atomic(qc, out_qc_json)
    log.info("native step done: %s; timings (s): %s", qc, _rounded(timings))
    return qc


def _skullstrip_options(skullstrip: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """(method, its options) from {"method", "options"} (partial or None), schema-completed."""
    given = dict(skullstrip or {})
    unknown = sorted(set(given) - {"method", "options"})
    if unknown:
        raise ConfigError(
            "preprocess.skullstrip", f"unknown key(s) {unknown}; expected method, options"
        )
    chosen = {"method": given["method"]} if "method" in given else {}
    method = merge_defaults({"skullstrip": chosen})["skullstrip"]["method"]
    with_options = {"method": method, method: dict(given.get("options") or {})}
    return method, merge_defaults({"skullstrip": with_options})["skullstrip"][method]


def run_registration(
    t1w: str | Path,
    mask: str | Path,
    out_xfm: str | Path,
    out_qc_png: str | Path,
    out_qc_json: str | Path,
    *,
    registration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Step 2: native brain -> template brain affine; writes the transform and its QC.

    `t1w`/`mask`: outputs of :func:`run_native`; `registration`: ``preprocess.registration``
    (keywords of :func:`latentcf.preprocess.register.affine_register`), missing values from
    preprocess.schema.yaml. Returns the QC dict (Dice, NCC).
    """
    options = merge_defaults({"registration": dict(registration or {})})["registration"]
    t0 = time.perf_counter()
    head_img = load_t1w(t1w)
    mask_img = nib.load(str(mask))
    mask_data = np.asarray(mask_img.dataobj) > 0
    brain = to_ants(np.asarray(head_img.dataobj, dtype=np.float32) * mask_data, head_img.affine)
    template = load_template(1.0)
    transform = affine_register(brain, template.brain, **options)
    elapsed = time.perf_counter() - t0

    warped = to_template(brain, transform, template.brain).numpy()
    warped_mask = to_template(
        to_ants(mask_data.astype(np.float32), mask_img.affine), transform, template.mask
    )
    warped_mask = warped_mask.numpy() > 0.5
    tpl_mask = template.mask_array
    qc = {
        "template": TEMPLATE_ID,
        "dice_template_brain_mask": round(metrics.dice(warped_mask, tpl_mask), 4),
        "ncc_template_brain": round(metrics.ncc(warped, template.brain.numpy(), tpl_mask), 4),
        "affine_scale_factor": round(float(abs(np.linalg.det(_matrix(transform)))), 4),
    }
    save_transform(transform, out_xfm)
    tpl_affine = _template_affine()
    outline_figure(
        warped,
        tpl_affine,
        [(tpl_mask, "red", "template brain mask"), (warped_mask, "cyan", "registered brain mask")],
        out_qc_png,
        f"{Path(t1w).name} -> {TEMPLATE_ID}: Dice {qc['dice_template_brain_mask']:.3f}, "
        f"NCC {qc['ncc_template_brain']:.3f}",
        centre_mask=tpl_mask,
    )
    write_json_atomic(qc, out_qc_json)
    log.info(
        "registration step done: %s; timings (s): %s", qc, _rounded({"registration_s": elapsed})
    )
    return qc


def _rounded(timings: Mapping[str, float]) -> dict[str, float]:
    """Timings (s) rounded to 10 ms, for the log."""
    return {k: round(float(v), 2) for k, v in timings.items()}


def _matrix(transform: ants.ANTsTransform) -> np.ndarray:
    """3x3 linear part of an affine ANTs transform."""
    return np.asarray(transform.parameters[:9], dtype=float).reshape(3, 3)


def _template_affine() -> np.ndarray:
    from latentcf.templates import template_files

    return nib.load(template_files().brain_mask).affine


def run_grid(
    t1w: str | Path,
    mask: str | Path,
    xfm: str | Path,
    out_t1w: str | Path,
    out_mask: str | Path,
    *,
    resolution_mm: int | None = None,
    normalisation: Mapping[str, Any] | None = None,
    interpolation: str | None = None,
) -> dict[str, Any]:
    """Step 3: normalised, skull-stripped float32 T1w and uint8 brain mask on the model grid.

    `resolution_mm`, `normalisation` ({"lower_percentile", "upper_percentile", "clip"}, see
    :mod:`latentcf.preprocess.normalise`) and `interpolation` (ANTs interpolator for the image;
    the mask is interpolated linearly and thresholded at 0.5) are the ``preprocess`` keys of
    the same names; None or missing values come from preprocess.schema.yaml.
    Returns lo/hi intensities.
    """
    given: dict[str, Any] = {"normalisation": dict(normalisation or {})}
    if resolution_mm is not None:
        given["resolution_mm"] = resolution_mm
    if interpolation is not None:
        given["interpolation"] = interpolation
    section = merge_defaults(given)
    norm, interpolation = section["normalisation"], section["interpolation"]
    resolution_mm = int(section["resolution_mm"])
    head_img = load_t1w(t1w)
    mask_img = nib.load(str(mask))
    mask_data = np.asarray(mask_img.dataobj) > 0
    head_data = np.asarray(head_img.dataobj, dtype=np.float32)
    lo, hi = normalise.brain_percentiles(
        head_data, mask_data, float(norm["lower_percentile"]), float(norm["upper_percentile"])
    )
    transform = load_transform(xfm)
    shape, affine = grid_shape(resolution_mm), grid_affine(resolution_mm)
    reference = reference_image(shape, affine)
    head = _antialias(to_ants(head_data, head_img.affine), float(resolution_mm))
    warped = to_template(head, transform, reference, interpolation=interpolation).numpy()
    warped_mask = to_template(
        to_ants(mask_data.astype(np.float32), mask_img.affine), transform, reference
    ).numpy()
    grid_mask = warped_mask > 0.5
    scaled = normalise.scale(warped, grid_mask, lo, hi, clip=bool(norm["clip"]))
    out = nib.Nifti1Image(scaled, affine)
    out.header.set_xyzt_units("mm")
    out.header.set_data_dtype(np.float32)
    out_m = nib.Nifti1Image(grid_mask.astype(np.uint8), affine)
    out_m.header.set_xyzt_units("mm")
    out_m.header.set_data_dtype(np.uint8)
    save_nifti_atomic(out, out_t1w)
    save_nifti_atomic(out_m, out_mask)
    qc = {"intensity_lo": lo, "intensity_hi": hi, "grid_brain_voxels": int(grid_mask.sum())}
    log.info("grid step done (%s mm, %s): %s", resolution_mm, shape, qc)
    return qc


def _antialias(img: ants.ANTsImage, target_mm: float) -> ants.ANTsImage:
    """Gaussian-smooth `img` before downsampling to `target_mm` (sigma = (target - spacing) / 2 mm)."""
    spacing = np.asarray(img.spacing, dtype=float)
    sigma = np.clip((target_mm - spacing) / 2.0, 0.0, None)
    if not np.any(sigma > 0.25):
        return img
    return ants.smooth_image(
        img, tuple(float(s) for s in sigma), sigma_in_physical_coordinates=True
    )
