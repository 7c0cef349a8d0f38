"""Encode a chunk of scans with a trained model: latents, reconstructions, metrics; and their summary.

One job per model and chunk of scans loads the model once (file layout: latentcf.derivatives):
the named latents of every scan of the chunk (``latent_<name>.npy``, (n_scans, ...), in
``scans.tsv`` row order; the continuous pre-quantisation latent for quantised families, which
is what the SCM is fitted on and what counterfactuals edit), each scan's reconstruction
``decode(encode(x))`` on the model grid (float32, clipped at 0, the input's affine) and its
MAE/PSNR/SSIM inside the brain mask. The chunk folder is built beside its final name and
renamed into place when complete, so a failed job leaves nothing behind.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import torch

from latentcf import derivatives
from latentcf.cohort import read_cohort
from latentcf.config import validate_section
from latentcf.errors import InputDataError
from latentcf.io import atomic_directory, save_figure_atomic, save_nifti_atomic, write_tsv_atomic
from latentcf.metrics import masked_metrics
from latentcf.models.base import LatentAutoencoder, model_settings
from latentcf.models.checkpoint import load_model
from latentcf.train.data import load_mask, load_volume
from latentcf.train.device import autocast, resolve_precision, select_device

log = logging.getLogger(__name__)

METRIC_COLUMNS = ["mae", "mse", "psnr", "ssim", "n_voxels"]


@torch.no_grad()
def encode_batch(
    model: LatentAutoencoder, images: np.ndarray, device: torch.device, precision: str = "fp32"
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(named latents, each (B, ...) float32; reconstructions (B, X, Y, Z) float32) of
    volumes (B, X, Y, Z), in eval mode."""
    model.eval()
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))[:, None]
    x = x.to(device, non_blocking=True)
    with autocast(device, precision):
        latent = model.encode(x)
        recon = model.decode(latent)
    arrays = {k: v.float().cpu().numpy() for k, v in latent.items()}
    return arrays, recon[:, 0].float().cpu().numpy()


def encode_chunk(
    model_path: str | Path,
    scans: Sequence[str],
    images: Sequence[str | Path],
    masks: Sequence[str | Path],
    out_dir: str | Path,
    model_config: Mapping[str, Any],
    resolution_mm: int,
    encode_config: Mapping[str, Any] | None = None,
    threads: int | None = None,
) -> pd.DataFrame:
    """Encode the scans of one chunk into the folder `out_dir` (see the module docstring).

    `scans` are the {scan} stems, `images`/`masks` their model-grid T1w and brain masks (same
    order). The model file must have been trained with `model_config` (else InputDataError
    naming the differing settings) on images of these scans' grid shape. Returns scans.tsv.
    """
    cfg = validate_section(encode_config, "encode.schema.yaml", "encode")
    if not len(scans) == len(images) == len(masks):
        raise ValueError(f"got {len(scans)} scans, {len(images)} images and {len(masks)} masks")
    torch.set_num_threads(max(1, int(threads or cfg["threads"])))
    device = select_device(cfg["device"])
    precision = resolve_precision(cfg["precision"], device, "encode.precision")
    model_config = model_settings(model_config)
    model, meta = load_model(model_path, model_config, device)
    shape = tuple(meta["image_shape"])
    family = model_config["family"]
    rows: list[dict[str, Any]] = []
    with atomic_directory(out_dir) as tmp:
        stores: dict[str, np.ndarray] = {}
        for start in range(0, len(scans), cfg["batch_size"]):
            batch = range(start, min(start + cfg["batch_size"], len(scans)))
            volumes = np.stack([_model_grid_volume(images[i], shape) for i in batch])
            latents, recons = encode_batch(model, volumes, device, precision)
            for name, values in latents.items():
                if name not in stores:
                    stores[name] = np.lib.format.open_memmap(
                        tmp / derivatives.latent_file(name),
                        mode="w+",
                        dtype=cfg["latent_dtype"],
                        shape=(len(scans), *values.shape[1:]),
                    )
                stores[name][batch.start : batch.stop] = values
            for k, i in enumerate(batch):
                recon = np.clip(recons[k], 0, None)
                metrics = masked_metrics(recon, volumes[k], load_mask(masks[i], shape))
                rows.append({"row": i, "scan": scans[i], **metrics})
                img = nib.load(str(images[i]))
                header = img.header.copy()
                header.set_data_dtype(np.float32)
                save_nifti_atomic(
                    nib.Nifti1Image(recon.astype(np.float32), img.affine, header),
                    tmp / derivatives.recon_file(scans[i], resolution_mm, family),
                )
                log.info(
                    "%s: MAE %.4f, PSNR %.2f dB, SSIM %.4f",
                    scans[i],
                    metrics["mae"],
                    metrics["psnr"],
                    metrics["ssim"],
                )
        for store in stores.values():
            store.flush()
        del stores
        table = pd.DataFrame(rows, columns=["row", "scan", *METRIC_COLUMNS])
        write_tsv_atomic(table, tmp / derivatives.SCANS_TABLE)
    return table


def _model_grid_volume(path: str | Path, shape: tuple[int, ...]) -> np.ndarray:
    image = load_volume(path)
    if tuple(image.shape) != shape:
        raise InputDataError(
            path,
            f"image shape {tuple(image.shape)} differs from the model's training grid {shape}",
            "Encode images preprocessed at the resolution the model was trained on "
            "(preprocess.resolution_mm)",
        )
    return image


def read_chunk_tables(chunk_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """scans.tsv of every chunk folder, with a `chunk_dir` column, in the given order."""
    tables = [
        pd.read_csv(Path(d) / derivatives.SCANS_TABLE, sep="\t").assign(chunk_dir=str(d))
        for d in chunk_dirs
    ]
    if not tables:  # no chunk holds a scan of the asked splits (e.g. nothing is held out)
        return pd.DataFrame(columns=["scan", *METRIC_COLUMNS, "chunk_dir"])
    return pd.concat(tables, ignore_index=True)


def summarise_reconstructions(
    cohort_tsv: str | Path,
    chunk_dirs: Sequence[str | Path],
    splits: Sequence[str],
    out_tsv: str | Path,
    out_png: str | Path,
    images: Mapping[str, str | Path],
    resolution_mm: int,
    family: str,
    figure_scans: int = 4,
) -> pd.DataFrame:
    """Metrics of the scans of `splits` joined with their ids and split; table + figure.

    `images` maps each such scan to its model-grid input (for the deviations, see
    :func:`deviations_from_mean`, and the figure: the first `figure_scans` scans as three
    mid-slices of input, reconstruction and |difference|).
    """
    cohort = read_cohort(cohort_tsv)
    cohort = cohort[cohort["split"].isin(splits)]
    chunks = read_chunk_tables(chunk_dirs)
    ids = ["scan", "participant_id", "session_id", "split"]
    table = cohort[ids].merge(chunks, on="scan", how="inner")
    recon_paths = [
        Path(d) / derivatives.recon_file(s, resolution_mm, family)
        for s, d in zip(table["scan"], table["chunk_dir"], strict=True)
    ]
    real, recon = deviations_from_mean([images[s] for s in table["scan"]], recon_paths)
    table = table.assign(deviation_real=real, deviation_recon=recon)
    write_tsv_atomic(table[[*ids, *METRIC_COLUMNS, "deviation_real", "deviation_recon"]], out_tsv)
    if len(table):
        log.info(
            "%d scans: SSIM %.4f +- %.4f, PSNR %.2f dB, MAE %.4f, MSE %.4f",
            len(table),
            table["ssim"].mean(),
            table["ssim"].std(ddof=0),
            table["psnr"].mean(),
            table["mae"].mean(),
            table["mse"].mean(),
        )
    shown = table.head(figure_scans)
    recons = recon_paths[:figure_scans]
    labels = [
        f"{Path(s).name}  SSIM {v:.3f}" for s, v in zip(shown["scan"], shown["ssim"], strict=True)
    ]
    plot_reconstructions([images[s] for s in shown["scan"]], recons, out_png, labels)
    return table


def deviations_from_mean(
    images: Sequence[str | Path], recons: Sequence[str | Path]
) -> tuple[list[float], list[float]]:
    """(real, reconstructed): each volume's mean absolute deviation from its own set's mean
    volume, inside the voxels where the real mean is > 0 (intensity units; NaN for fewer than
    two scans). Equal sizes of the two mean a model that reproduces how scans differ; a
    reconstruction deviation near 0 means the model decodes every scan to the same image (it
    ignores its latent). Two passes over the files, so memory stays one volume per set."""
    if len(images) < 2:
        return [float("nan")] * len(images), [float("nan")] * len(recons)
    real_mean = sum(load_volume(p) for p in images) / len(images)
    recon_mean = sum(load_volume(p) for p in recons) / len(recons)
    region = real_mean > 0

    def deviations(paths: Sequence[str | Path], mean: np.ndarray) -> list[float]:
        return [float(np.abs(load_volume(p) - mean)[region].mean()) for p in paths]

    return deviations(images, real_mean), deviations(recons, recon_mean)


def plot_reconstructions(
    images: Sequence[str | Path],
    recons: Sequence[str | Path],
    path: str | Path,
    labels: Sequence[str] = (),
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
        label = labels[row] if row < len(labels) else Path(str(img_path)).name
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
