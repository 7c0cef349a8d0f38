"""Names of the model-stage derivatives (one place; the rules and the package both use them).

Under ``<output_dir>/<model>/``:

- ``model/model.pt``, ``model/training.tsv``, ``model/training.png``: the trained model.
- ``encode/chunk-<NN>/``: one folder per chunk of scans (see :mod:`latentcf.chunks`) holding
  ``scans.tsv`` (row, scan, mae, mse, psnr, ssim, n_voxels), ``latent_<name>.npy`` per named latent
  tensor (float32 or float16, shape (n_scans, ...) in scans.tsv row order; the SCM reads
  ``latent_<scm_latent>.npy`` flattened to one vector per scan) and each scan's reconstruction
  ``<scan>_space-<template>_res-<r>_desc-<family>recon_T1w.nii.gz`` (model grid).
- ``encode/reconstruction_metrics.tsv`` and ``encode/reconstructions.png``: held-out scans.
- ``scm/design.json``, ``scm/coefficients.npz``, ``scm/r2.png``, ``scm/effects.png`` and
  ``scm/effects.nii.gz``: the fitted latent SCM (latentcf.scm.fitted, latentcf.scm.effects).
- ``segment/chunk-<NN>/`` (under <output_dir>/, model-independent) and ``<model>/segment/chunk-<NN>/``:
  ``volumes.tsv`` (scan, image, label, name, voxels, ml; summed structures as rows named after
  them) with each image's ``..._dseg.nii.gz``, and for the model's counterfactuals ``changes.tsv``
  (scan, intervention, structure, tbm_pct, segmentation_pct); latentcf.evaluate.chunks.
- ``counterfactual/chunk-<NN>/``: per chunk ``counterfactuals.tsv`` (scan, split, intervention,
  its covariates, the covariates outside the train range) and per scan and intervention
  ``<scan>_space-<template>_res-<r>_cf-<name>_desc-<family>_T1w.nii.gz`` (the counterfactual on
  the model grid), ``..._cf-<name>_desc-<family>diff_T1w.nii.gz`` (minus the null intervention's
  image ``..._cf-null_desc-<family>_T1w.nii.gz``) and, with counterfactual.native_space,
  ``<scan>_space-T1w_cf-<name>_desc-<family>_T1w.nii.gz`` on the scan's own grid (null included).
- ``forecast/``: longitudinal forecasts of held-out subjects (latentcf.forecast): ``forecasts.tsv``
  (one row per subject, method and number of earlier scans used, with the target scan and the
  forecast image), ``forecast_errors.tsv`` (latent-space errors by method and number of scans),
  ``prior.json`` / ``prior.npz`` (the population slope prior) and per target scan and method
  ``<target scan>_space-<template>_res-<r>_desc-forecast<method>_T1w.nii.gz`` (model grid; method
  without underscores, e.g. ``forecastpriorall``; ``...forecast<method>n<k>...`` for the
  error-vs-scans curve's images).
- ``sample/`` (models whose family has a prior, latentcf.sample): ``images/`` holds the images
  drawn from the prior, ``sample-<NNN>_space-<template>_res-<r>_desc-<family>sample_T1w.nii.gz``
  (model grid), and ``samples.tsv`` (index, sample, image); ``jacobians.tsv`` the Jacobian
  statistics of the model's deformation fields on those samples (families with deformation
  fields; header only otherwise); ``segment/`` each sample's
  ``..._desc-<family>sample_dseg.nii.gz`` and ``volumes.tsv`` (as segment/chunk-<NN>/, with the
  sample id in the `scan` column); ``realism.tsv``, ``fid.json``, ``samples.png`` and
  ``realism.html``: the realism measures (:data:`SAMPLE_REALISM_OUTPUTS`).
"""

from __future__ import annotations

from latentcf.templates import TEMPLATE_ID

SCANS_TABLE = "scans.tsv"
#: The evaluate stage's outputs in <model>/evaluate/: output name -> file name.
EVALUATE_OUTPUTS = {
    "reconstruction": "reconstruction.tsv",
    "recon_volumes": "recon_volumes.tsv",
    "effectiveness": "effectiveness.tsv",
    "group_effects": "group_effects.tsv",
    "ground_truth": "ground_truth.tsv",
    "ground_truth_summary": "ground_truth_summary.tsv",
    "soundness": "soundness.tsv",
    "forecast": "forecast.tsv",
    "volumes_vs_age": "volumes_vs_age.png",
    "effect_sizes": "effect_sizes.png",
    "ground_truth_figure": "ground_truth.png",
    "tables_html": "tables.html",
    "headline": "evaluation.md",
}
COUNTERFACTUALS_TABLE = "counterfactuals.tsv"
FORECASTS_TABLE = "forecasts.tsv"
FORECAST_ERRORS_TABLE = "forecast_errors.tsv"
OBSERVED_CHANGES_TABLE = "observed_changes.tsv"
FORECAST_PRIOR_JSON = "prior.json"
FORECAST_PRIOR_ARRAYS = "prior.npz"
SAMPLES_TABLE = "samples.tsv"
SAMPLE_JACOBIANS = "jacobians.tsv"
#: The sample_realism stage's outputs in <model>/sample/: output name -> file name.
SAMPLE_REALISM_OUTPUTS = {
    "volumes": "realism.tsv",
    "fid": "fid.json",
    "figure": "samples.png",
    "tables_html": "realism.html",
}


def latent_file(name: str) -> str:
    """File of the named latent tensor inside a chunk folder."""
    return f"latent_{name}.npy"


def recon_file(scan: str, resolution_mm: int, family: str) -> str:
    """Reconstruction of `scan` (the {scan} stem) inside a chunk folder, on the model grid."""
    return f"{scan}_space-{TEMPLATE_ID}_res-{resolution_mm}_desc-{family}recon_T1w.nii.gz"


def counterfactual_file(scan: str, resolution_mm: int, name: str, family: str) -> str:
    """Counterfactual of `scan` under intervention `name` ('null': the reference) on the model grid."""
    return f"{scan}_space-{TEMPLATE_ID}_res-{resolution_mm}_cf-{name}_desc-{family}_T1w.nii.gz"


def difference_file(scan: str, resolution_mm: int, name: str, family: str) -> str:
    """Counterfactual minus the null intervention's image, on the model grid."""
    return f"{scan}_space-{TEMPLATE_ID}_res-{resolution_mm}_cf-{name}_desc-{family}diff_T1w.nii.gz"


def native_counterfactual_file(scan: str, name: str, family: str) -> str:
    """Counterfactual brought back onto the scan's own grid."""
    return f"{scan}_space-T1w_cf-{name}_desc-{family}_T1w.nii.gz"


def scan_dseg_file(scan: str, resolution_mm: int) -> str:
    """Segmentation of a scan's model-grid image (the segment stage's per-chunk folder)."""
    return f"{scan}_space-{TEMPLATE_ID}_res-{resolution_mm}_dseg.nii.gz"


def structure_weights_file(scan: str, resolution_mm: int) -> str:
    """Partial-volume fraction of each summed structure of a scan's model-grid image (.npz, one
    float32 (X, Y, Z) array per structure name)."""
    return f"{scan}_space-{TEMPLATE_ID}_res-{resolution_mm}_desc-structures_probseg.npz"


def counterfactual_dseg_file(scan: str, resolution_mm: int, name: str, family: str) -> str:
    """Segmentation of a counterfactual (or the null image, name 'null') on the model grid."""
    return f"{scan}_space-{TEMPLATE_ID}_res-{resolution_mm}_cf-{name}_desc-{family}_dseg.nii.gz"


def forecast_file(scan: str, resolution_mm: int, method: str, n_scans: int | None = None) -> str:
    """Forecast of the target `scan` by `method` ('prior_all' -> desc-forecastpriorall) on the
    model grid; `n_scans` (the curve's images) appends n<k>."""
    label = "forecast" + method.replace("_", "") + ("" if n_scans is None else f"n{n_scans}")
    return f"{scan}_space-{TEMPLATE_ID}_res-{resolution_mm}_desc-{label}_T1w.nii.gz"


def sample_id(index: int) -> str:
    """Id of the `index`-th image drawn from a model's prior (0-based): 'sample-007'."""
    if index < 0:
        raise ValueError(f"expected a sample index >= 0, got {index}")
    return f"sample-{index:03d}"


def sample_file(index: int, resolution_mm: int, family: str) -> str:
    """The `index`-th image drawn from a `family` model's prior, on the model grid."""
    return (
        f"{sample_id(index)}_space-{TEMPLATE_ID}_res-{resolution_mm}_desc-{family}sample_T1w.nii.gz"
    )


def sample_dseg_file(index: int, resolution_mm: int, family: str) -> str:
    """Segmentation of the `index`-th sample (:func:`sample_file`) on the model grid."""
    return f"{sample_id(index)}_space-{TEMPLATE_ID}_res-{resolution_mm}_desc-{family}sample_dseg.nii.gz"
