"""The counterfactual montage of the report: for a few held-out scans, in three orthogonal
mid-slices, the factual scan | its reconstruction (null intervention) | each counterfactual |
each counterfactual minus the reconstruction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from latentcf import derivatives
from latentcf.interventions import NULL
from latentcf.io import save_figure_atomic

_VIEWS = ((2, "axial"), (1, "coronal"), (0, "sagittal"))


def plot_counterfactuals(
    scans: Sequence[str],
    inputs: Mapping[str, str | Path],
    chunk_dirs: Mapping[str, str | Path],
    interventions: Sequence[str],
    resolution_mm: int,
    family: str,
    out_png: str | Path,
) -> Path:
    """Rows: scan x view; columns: factual, reconstruction, counterfactuals, differences (PNG).

    `inputs` maps each scan to its model-grid input, `chunk_dirs` to its counterfactual folder.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def load(path: str | Path) -> np.ndarray:
        return np.asarray(nib.load(str(path)).dataobj, dtype=np.float32)

    n_cols = 2 + 2 * len(interventions)
    n_rows = max(1, len(scans)) * len(_VIEWS)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.9 * n_cols, 1.9 * n_rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for s, scan in enumerate(scans):
        folder = Path(chunk_dirs[scan])
        factual = load(inputs[scan])
        null = load(folder / derivatives.counterfactual_file(scan, resolution_mm, NULL, family))
        cfs = [
            load(folder / derivatives.counterfactual_file(scan, resolution_mm, n, family))
            for n in interventions
        ]
        vmax = float(np.percentile(factual[factual > 0], 99.5)) if (factual > 0).any() else 1.0
        dmax = max([float(np.percentile(np.abs(cf - null), 99.9)) for cf in cfs] + [1e-6])
        panels = [
            ("factual", factual, "gray", 0.0, vmax),
            ("reconstruction", null, "gray", 0.0, vmax),
        ]
        panels += [
            (f"cf-{n}", cf, "gray", 0.0, vmax) for n, cf in zip(interventions, cfs, strict=True)
        ]
        panels += [
            (f"cf-{n} - recon", cf - null, "coolwarm", -dmax, dmax)
            for n, cf in zip(interventions, cfs, strict=True)
        ]
        for v, (axis, view) in enumerate(_VIEWS):
            r = s * len(_VIEWS) + v
            for c, (title, image, cmap, lo, hi) in enumerate(panels):
                sl = np.take(image, image.shape[axis] // 2, axis=axis)
                axes[r, c].imshow(np.rot90(sl), cmap=cmap, vmin=lo, vmax=hi)
                if v == 0:
                    axes[r, c].set_title(title, fontsize=7)
            axes[r, 0].text(
                -0.05, 0.5, f"{Path(scan).name}\n{view}", transform=axes[r, 0].transAxes,
                ha="right", va="center", fontsize=6,
            )  # fmt: skip
    fig.tight_layout()
    return save_figure_atomic(fig, out_png, dpi=80)
