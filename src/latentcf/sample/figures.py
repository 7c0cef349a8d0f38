"""The samples figure of the report: a few images drawn from a model's prior next to real held-out
scans, in three orthogonal mid-slices, on one grey scale."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from latentcf.io import save_figure_atomic

VIEWS = ((2, "axial"), (1, "coronal"), (0, "sagittal"))


def _load(path: str | Path) -> np.ndarray:
    return np.asarray(nib.load(str(path)).dataobj, dtype=np.float32)


def plot_samples(
    samples: Sequence[str | Path],
    reals: Sequence[str | Path],
    out_png: str | Path,
    sample_labels: Sequence[str] = (),
    real_labels: Sequence[str] = (),
) -> Path:
    """Rows: axial, coronal, sagittal mid-slice; columns: each sample, then each real scan (PNG).

    Every panel shares one grey scale, 0 to the 99.5th percentile of the real scans' non-zero
    voxels (the samples' when there is no real scan), so intensity differences show.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = [_load(p) for p in samples] + [_load(p) for p in reals]
    labels = [
        *(
            sample_labels[i] if i < len(sample_labels) else Path(p).name
            for i, p in enumerate(samples)
        ),
        *(real_labels[i] if i < len(real_labels) else Path(p).name for i, p in enumerate(reals)),
    ]
    reference = images[len(samples) :] or images
    voxels = np.concatenate([im[im > 0] for im in reference]) if reference else np.zeros(0)
    vmax = float(np.percentile(voxels, 99.5)) if voxels.size else 1.0
    n_cols = max(1, len(images))
    fig, axes = plt.subplots(
        len(VIEWS), n_cols, figsize=(1.9 * n_cols, 1.9 * len(VIEWS)), squeeze=False
    )
    for ax in axes.ravel():
        ax.set_axis_off()
    for c, (image, label) in enumerate(zip(images, labels, strict=True)):
        for r, (axis, view) in enumerate(VIEWS):
            sl = np.take(image, image.shape[axis] // 2, axis=axis)
            axes[r, c].imshow(np.rot90(sl), cmap="gray", vmin=0.0, vmax=vmax)
            if r == 0:
                axes[r, c].set_title(label, fontsize=7)
            if c == 0:
                axes[r, c].text(
                    -0.05, 0.5, view, transform=axes[r, c].transAxes, ha="right", va="center",
                    fontsize=7,
                )  # fmt: skip
    fig.tight_layout()
    return save_figure_atomic(fig, out_png, dpi=80)
