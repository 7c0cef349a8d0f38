"""Names of the model-stage derivatives (one place; the rules and the package both use them).

Under ``<output_dir>/<model>/``:

- ``model/model.pt``, ``model/training.tsv``, ``model/training.png``: the trained model.
- ``encode/chunk-<NN>/``: one folder per chunk of scans (see :mod:`latentcf.chunks`) holding
  ``scans.tsv`` (row, scan, mae, psnr, ssim, n_voxels), ``latent_<name>.npy`` per named latent
  tensor (float32 or float16, shape (n_scans, ...) in scans.tsv row order; the SCM reads
  ``latent_<scm_latent>.npy`` flattened to one vector per scan) and each scan's reconstruction
  ``<scan>_space-<template>_res-<r>_desc-<family>recon_T1w.nii.gz`` (model grid).
- ``encode/reconstruction_metrics.tsv`` and ``encode/reconstructions.png``: held-out scans.
"""

from __future__ import annotations

from latentcf.templates import TEMPLATE_ID

SCANS_TABLE = "scans.tsv"


def latent_file(name: str) -> str:
    """File of the named latent tensor inside a chunk folder."""
    return f"latent_{name}.npy"


def recon_file(scan: str, resolution_mm: int, family: str) -> str:
    """Reconstruction of `scan` (the {scan} stem) inside a chunk folder, on the model grid."""
    return f"{scan}_space-{TEMPLATE_ID}_res-{resolution_mm}_desc-{family}recon_T1w.nii.gz"
