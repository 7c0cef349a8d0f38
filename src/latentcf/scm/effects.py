"""Figures of a fitted latent SCM: where the covariates explain the latent, and what they do to the image.

- R^2 map: R^2 of each latent dimension, averaged over channels on the latent grid (three
  mid-slices) and as a histogram.
- Population effect maps: decode(mean latent + step x B_j) - decode(mean latent) for each
  main-effect column j (a numeric covariate: `step` train SDs; a categorical level: the level
  against the reference), written as a 4D NIfTI on the model grid (one volume per column, in
  design.json's ``effect_columns`` order) and drawn next to the decoded mean latent.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from latentcf.grid import grid_affine
from latentcf.io import save_figure_atomic, save_nifti_atomic
from latentcf.models.base import LatentAutoencoder
from latentcf.scm.design import INTERCEPT
from latentcf.scm.fitted import FittedSCM

_VIEWS = ((2, "axial"), (1, "coronal"), (0, "sagittal"))


def effect_columns(scm: FittedSCM) -> list[str]:
    """Main-effect columns of the design (one per numeric covariate, one per non-reference level)."""
    return [c for enc in scm.design.covariates for c in enc.columns()]


def effect_label(scm: FittedSCM, column: str, step: float) -> str:
    """'age +1 SD (+8.6)' or 'diagnosis AD vs CN'."""
    for enc in scm.design.covariates:
        if column == enc.name and enc.type == "numeric":
            return f"{enc.name} +{step:g} SD (+{step * enc.sd:.3g})"
        if enc.type == "categorical" and column in enc.columns():
            return f"{enc.name} {column[len(enc.name) + 1 : -1]} vs {enc.reference}"
    return column


@torch.no_grad()
def population_effects(
    scm: FittedSCM, model: LatentAutoencoder, step: float
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(decoded mean latent (X, Y, Z), {column: effect map (X, Y, Z)}), decoded in fp32."""
    columns = scm.design.columns()
    mean = scm.mean_latent
    latents = [mean]
    for column in effect_columns(scm):
        enc_step = step if column in scm.design.names else 1.0
        latents.append(mean + enc_step * scm.coefficients[columns.index(column)])
    z = torch.from_numpy(np.stack(latents).astype(np.float32)).reshape(-1, *scm.latent_shape)
    model.eval()
    images = model.decode({scm.latent_name: z})[:, 0].float().numpy()
    return images[0], {c: images[i + 1] - images[0] for i, c in enumerate(effect_columns(scm))}


def write_effect_maps(
    scm: FittedSCM,
    model: LatentAutoencoder,
    out_png: str | Path,
    out_nifti: str | Path,
    resolution_mm: int,
    step: float = 1.0,
) -> Path:
    """Write the effect maps (4D NIfTI) and their figure; returns the figure's path."""
    mean_image, effects = population_effects(scm, model, step)
    columns = list(effects)
    volume = np.stack([effects[c] for c in columns], axis=-1).astype(np.float32)
    img = nib.Nifti1Image(volume, grid_affine(resolution_mm))
    img.header.set_xyzt_units("mm")
    save_nifti_atomic(img, out_nifti)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = 1 + len(columns)
    fig, axes = plt.subplots(rows, 3, figsize=(9, 2.8 * rows), squeeze=False)
    vmax = float(np.percentile(np.abs(volume), 99.9)) or 1e-6
    for r, (title, image, cmap, limits) in enumerate(
        [("decoded mean latent", mean_image, "gray", (0, float(mean_image.max()) or 1.0))]
        + [(effect_label(scm, c, step), effects[c], "coolwarm", (-vmax, vmax)) for c in columns]
    ):
        for v, (axis, view) in enumerate(_VIEWS):
            ax = axes[r, v]
            sl = np.take(image, image.shape[axis] // 2, axis=axis)
            shown = ax.imshow(np.rot90(sl), cmap=cmap, vmin=limits[0], vmax=limits[1])
            ax.set_axis_off()
            ax.set_title(f"{title}: {view}" if v == 0 else view, fontsize=8, loc="left")
        fig.colorbar(shown, ax=axes[r].tolist(), shrink=0.8)
    return save_figure_atomic(fig, out_png, dpi=90)


def plot_r2(scm: FittedSCM, out_png: str | Path) -> Path:
    """R^2 per latent dimension: channel-mean map on the latent grid (if spatial) and histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r2 = scm.r2.reshape(scm.latent_shape)
    spatial = r2.ndim == 4
    fig, axes = plt.subplots(
        1, 4 if spatial else 1, figsize=(14 if spatial else 5, 3.4), squeeze=False
    )
    if spatial:
        grid = r2.mean(axis=0)
        for v, (axis, view) in enumerate(_VIEWS):
            shown = axes[0, v].imshow(
                np.rot90(np.take(grid, grid.shape[axis] // 2, axis=axis)),
                cmap="viridis",
                vmin=0,
                vmax=1,
            )
            axes[0, v].set_axis_off()
            axes[0, v].set_title(f"R^2 (mean over channels): {view}", fontsize=8)
        fig.colorbar(shown, ax=axes[0, :3].tolist(), shrink=0.8)
    ax = axes[0, -1]
    ax.hist(scm.r2, bins=50, range=(0, 1), color="tab:blue")
    ax.set(
        xlabel="R^2 per latent dimension",
        ylabel="dimensions",
        title=f"{[c for c in scm.design.columns() if c != INTERCEPT]}, n = {scm.info.get('n_train')}",
    )
    ax.title.set_fontsize(7)
    return save_figure_atomic(fig, out_png, dpi=90)
