"""Encode scans with a trained model: continuous latent, reconstruction, metrics; and their summary.

Per scan (file names: see workflow/rules/model.smk):
- ``*_desc-<family>_latent.npy``: the continuous pre-quantisation latent z, shape
  (C, d, h, w) = (latent_channels, X/f, Y/f, Z/f), float32 by default (encode.latent_dtype);
  this is what the SCM is fitted on and what counterfactuals edit.
- ``*_desc-<family>recon_T1w.nii.gz``: decode(quantise(z)) on the model grid (float32, clipped
  at 0, same affine as the input).
- ``*_desc-<family>_metrics.tsv``: one row (scan, mae, psnr, ssim, n_voxels) inside the brain mask.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import torch

from latentcf.errors import ConfigError, InputDataError
from latentcf.io import save_figure_atomic, save_nifti_atomic, save_npy_atomic, write_tsv_atomic
from latentcf.metrics import masked_metrics
from latentcf.models import LatentAutoencoder, load_model
from latentcf.train.data import load_mask, load_volume
from latentcf.train.device import autocast, resolve_precision, select_device

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "latent_dtype": "float32",
    "device": "auto",
    "precision": "fp32",
    "figure_scans": 4,
}
METRIC_COLUMNS = ["scan", "mae", "psnr", "ssim", "n_voxels"]


@torch.no_grad()
def encode_volume(
    model: LatentAutoencoder, image: np.ndarray, device: torch.device, precision: str = "fp32"
) -> tuple[np.ndarray, np.ndarray]:
    """(latent z (C, d, h, w) float32, reconstruction (X, Y, Z) float32) of one volume (X, Y, Z)."""
    model.eval()
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None].to(device)
    with autocast(device, precision):
        z = model.encode(x)
        recon = model.decode(model.quantise(z).z_q)
    return z[0].float().cpu().numpy(), recon[0, 0].float().cpu().numpy()


def encode_scan(
    model_path: str | Path,
    image_path: str | Path,
    mask_path: str | Path,
    scan: str,
    out_latent: str | Path,
    out_recon: str | Path,
    out_metrics: str | Path,
    family: str,
    model_config: dict[str, Any],
    encode_config: dict[str, Any] | None = None,
    threads: int = 1,
) -> dict[str, float]:
    """Encode one preprocessed scan and write its latent, reconstruction and metrics row.

    The model file must have been trained with `family`/`model_config` (else InputDataError)
    and on images of this scan's grid shape. Returns the metrics.
    """
    cfg = {**DEFAULTS, **(encode_config or {})}
    if cfg["latent_dtype"] not in ("float32", "float16"):
        raise ConfigError(
            "encode.latent_dtype", f"expected float32 or float16, got {cfg['latent_dtype']!r}"
        )
    torch.set_num_threads(max(1, int(threads)))
    device = select_device(cfg["device"])
    precision = resolve_precision(cfg["precision"], device)
    model, meta = load_model(model_path, family, model_config, device)
    img = nib.load(str(image_path))
    image = load_volume(image_path)
    expected = tuple(meta.get("image_shape", image.shape))
    if tuple(image.shape) != expected:
        raise InputDataError(
            image_path,
            f"image shape {tuple(image.shape)} differs from the model's training grid {expected}",
            "Encode images preprocessed at the resolution the model was trained on (preprocess.resolution_mm)",
        )
    mask = load_mask(mask_path, image.shape)
    z, recon = encode_volume(model, image, device, precision)
    recon = np.clip(recon, 0, None)
    metrics = masked_metrics(recon, image, mask)
    save_npy_atomic(z.astype(cfg["latent_dtype"]), out_latent)
    header = img.header.copy()
    header.set_data_dtype(np.float32)
    save_nifti_atomic(nib.Nifti1Image(recon.astype(np.float32), img.affine, header), out_recon)
    write_tsv_atomic(pd.DataFrame([{"scan": scan, **metrics}], columns=METRIC_COLUMNS), out_metrics)
    log.info(
        "%s: MAE %.4f, PSNR %.2f dB, SSIM %.4f",
        scan,
        metrics["mae"],
        metrics["psnr"],
        metrics["ssim"],
    )
    return metrics


def summarise_reconstructions(
    cohort_tsv: str | Path,
    metric_files: Sequence[str | Path],
    out_tsv: str | Path,
    out_png: str | Path | None = None,
    images: Sequence[str | Path] = (),
    recons: Sequence[str | Path] = (),
    figure_scans: int = 4,
) -> pd.DataFrame:
    """Join per-scan metric rows with the cohort's ids/split; write the table and a figure.

    `images`/`recons` (same order) feed the figure: the first `figure_scans` pairs, each as
    mid-slices (axial, coronal, sagittal) of the input, the reconstruction and |difference|.
    """
    rows = [pd.read_csv(f, sep="\t") for f in metric_files]
    metrics = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=METRIC_COLUMNS)
    cohort = pd.read_csv(cohort_tsv, sep="\t", dtype=str)
    ids = [c for c in ("scan", "participant_id", "session_id", "split") if c in cohort.columns]
    table = cohort[ids].merge(metrics, on="scan", how="inner")
    write_tsv_atomic(table, out_tsv)
    if len(table):
        log.info(
            "%d scans: SSIM %.4f +- %.4f, PSNR %.2f dB, MAE %.4f",
            len(table),
            table["ssim"].mean(),
            table["ssim"].std(ddof=0),
            table["psnr"].mean(),
            table["mae"].mean(),
        )
    if out_png is not None:
        plot_reconstructions(
            list(images)[:figure_scans], list(recons)[:figure_scans], out_png, table
        )
    return table


def plot_reconstructions(
    images: Sequence[str | Path],
    recons: Sequence[str | Path],
    path: str | Path,
    table: pd.DataFrame | None = None,
) -> Path:
    """Rows = scans; columns = input / reconstruction / |difference| for three mid-slices (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(1, len(images))
    fig, axes = plt.subplots(n, 9, figsize=(18, 2.3 * n), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for row, (img_path, rec_path) in enumerate(zip(images, recons, strict=True)):
        img = np.asarray(nib.load(str(img_path)).dataobj, dtype=np.float32)
        rec = np.asarray(nib.load(str(rec_path)).dataobj, dtype=np.float32)
        vmax = float(np.percentile(img[img > 0], 99.5)) if (img > 0).any() else 1.0
        for v, axis in enumerate((2, 1, 0)):  # axial, coronal, sagittal mid-slices
            for k, (arr, cmap, vm) in enumerate(
                [(img, "gray", vmax), (rec, "gray", vmax), (np.abs(rec - img), "magma", vmax / 4)]
            ):
                sl = np.take(arr, arr.shape[axis] // 2, axis=axis)
                axes[row, v * 3 + k].imshow(np.rot90(sl), cmap=cmap, vmin=0, vmax=vm)
        name = Path(str(img_path)).name.split("_space-")[0]
        label = name
        if table is not None and "scan" in table and len(table):
            hit = table[table["scan"].str.endswith(name)]
            if len(hit):
                label += f"  SSIM {hit['ssim'].iloc[0]:.3f}"
        axes[row, 0].set_title(label, fontsize=8, loc="left")
    for v, view_name in enumerate(("axial", "coronal", "sagittal")):
        for k, what in enumerate(("input", "reconstruction", "|difference| (x4)")):
            axes[0, v * 3 + k].text(
                0.5,
                -0.08,
                f"{view_name} {what}",
                transform=axes[0, v * 3 + k].transAxes,
                ha="center",
                va="top",
                fontsize=7,
            )
    fig.tight_layout()
    return save_figure_atomic(fig, path, dpi=90)
