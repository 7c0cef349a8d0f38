"""QC figures (matplotlib's object API, no pyplot): three orthogonal slices with outlines drawn over them.

- skull stripping: the brain-mask outline over the bias-corrected native head;
- registration: the template brain-mask outline over the registered brain (template space).

Slices are shown in neurological convention (the subject's right on the image's right,
anterior to the right in the sagittal view) with the physical voxel aspect ratio.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from latentcf.io import atomic_path


def _to_ras(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorient a 3D array to RAS voxel axes; return it and its voxel sizes (mm)."""
    img = nib.as_closest_canonical(nib.Nifti1Image(np.asarray(data), np.asarray(affine)))
    return np.asarray(img.dataobj), np.asarray(img.header.get_zooms()[:3], dtype=float)


def outline_figure(
    background: np.ndarray,
    affine: np.ndarray,
    outlines: Sequence[tuple[np.ndarray, str, str]],
    path: str | Path,
    title: str,
    centre_mask: np.ndarray | None = None,
) -> Path:
    """Save a PNG with 3 orthogonal slices of `background` and each outline's contour.

    `outlines`: (boolean mask on the background's grid, colour, legend label). Slices go
    through the centroid of `centre_mask` (default: the first outline), in RAS orientation.
    """
    bg, zooms = _to_ras(np.asarray(background, dtype=np.float32), affine)
    masks = [
        (_to_ras(np.asarray(m, dtype=np.uint8), affine)[0] > 0, c, lab) for m, c, lab in outlines
    ]
    ref = (
        _to_ras(np.asarray(centre_mask, dtype=np.uint8), affine)[0] > 0
        if centre_mask is not None
        else None
    )
    if ref is None and masks:
        ref = masks[0][0]
    if ref is not None and ref.any():
        centre = [int(round(c)) for c in np.argwhere(ref).mean(axis=0)]
    else:
        centre = [s // 2 for s in bg.shape]
    vmax = float(np.percentile(bg[bg > 0], 99.5)) if np.any(bg > 0) else 1.0
    views = [
        ("sagittal", lambda a: a[centre[0], :, :].T, (zooms[1], zooms[2])),
        ("coronal", lambda a: a[:, centre[1], :].T, (zooms[0], zooms[2])),
        ("axial", lambda a: a[:, :, centre[2]].T, (zooms[0], zooms[1])),
    ]
    fig = Figure(figsize=(12, 4.6), facecolor="black")  # no pyplot: nothing global to close
    axes = fig.subplots(1, 3)
    for ax, (name, cut, (dx, dy)) in zip(axes, views, strict=True):
        ax.imshow(cut(bg), cmap="gray", origin="lower", vmin=0, vmax=vmax, aspect=dy / dx)
        for mask, colour, _ in masks:
            sl = cut(mask.astype(np.float32))
            if sl.any() and not sl.all():
                ax.contour(sl, levels=[0.5], colors=[colour], linewidths=1.0)
        ax.set_title(name, color="white", fontsize=10)
        ax.axis("off")
    handles = [Line2D([], [], color=c, label=lab) for _, c, lab in masks]
    if handles:
        fig.legend(
            handles=handles,
            loc="lower center",
            ncol=len(handles),
            frameon=False,
            labelcolor="white",
        )
    fig.suptitle(title, color="white", fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 0.94))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80, facecolor="black")
    return Path(path)
