"""Cohort-level preprocessing QC: one table row per scan and a mosaic of registered brains."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from latentcf.antslib import ants  # noqa: E402
from latentcf.io import atomic_path, write_tsv_atomic  # noqa: E402
from latentcf.preprocess.antsimg import reference_image  # noqa: E402
from latentcf.preprocess.pipeline import PLAUSIBLE_BRAIN_ML  # noqa: E402
from latentcf.preprocess.template import load_template  # noqa: E402

# Below this Dice with the template brain mask a registration is flagged for a look.
MIN_DICE = 0.85
MAX_MOSAIC_SCANS = 64


def qc_table(
    scans: Sequence[str],
    skullstrip_jsons: Sequence[str | Path],
    registration_jsons: Sequence[str | Path],
) -> pd.DataFrame:
    """One row per scan: brain volume (ml), Dice/NCC with the template, scale factor, `flag`."""
    rows = []
    for scan, ss, reg in zip(scans, skullstrip_jsons, registration_jsons, strict=True):
        a = json.loads(Path(ss).read_text())
        b = json.loads(Path(reg).read_text())
        lo, hi = PLAUSIBLE_BRAIN_ML
        flags = []
        if not lo <= a["brain_volume_ml"] <= hi:
            flags.append("brain_volume")
        if b["dice_template_brain_mask"] < MIN_DICE:
            flags.append("registration")
        rows.append(
            {
                "scan": scan,
                "skullstrip_method": a["skullstrip_method"],
                "brain_volume_ml": a["brain_volume_ml"],
                "dice_template_brain_mask": b["dice_template_brain_mask"],
                "ncc_template_brain": b["ncc_template_brain"],
                "affine_scale_factor": b["affine_scale_factor"],
                "flag": ",".join(flags) or "n/a",
            }
        )
    return pd.DataFrame(rows)


def mosaic(images: Sequence[str | Path], labels: Sequence[str], path: str | Path) -> Path:
    """PNG: mid-axial slice of each model-grid image with the template brain-mask outline."""
    images, labels = list(images)[:MAX_MOSAIC_SCANS], list(labels)[:MAX_MOSAIC_SCANS]
    n = max(1, len(images))
    cols = min(8, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(1.8 * cols, 2.2 * rows), facecolor="black", squeeze=False
    )
    outline = None
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, label in zip(axes.ravel(), images, labels, strict=False):
        img = nib.load(str(image))
        data = np.asarray(img.dataobj, dtype=np.float32)
        if outline is None:
            ref = reference_image(data.shape, img.affine)
            mask = ants.resample_image_to_target(load_template(1.0).mask, ref, interp_type="linear")
            outline = mask.numpy() > 0.5
        z = int(round(np.linalg.inv(img.affine)[2, 3]))  # the slice through z = 0 mm
        z = min(max(z, 0), data.shape[2] - 1)
        ax.imshow(data[:, :, z].T, cmap="gray", origin="lower", vmin=0, vmax=1)
        ax.contour(outline[:, :, z].T.astype(float), levels=[0.5], colors=["red"], linewidths=0.6)
        ax.set_title(str(label).split("/")[-1][:28], color="white", fontsize=6)
    fig.suptitle(
        "Registered brains (z = 0 mm) with the template brain outline", color="white", fontsize=9
    )
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90, facecolor="black")
    plt.close(fig)
    return Path(path)


def write_qc_summary(
    scans: Sequence[str],
    skullstrip_jsons: Sequence[str | Path],
    registration_jsons: Sequence[str | Path],
    images: Sequence[str | Path],
    out_table: str | Path,
    out_mosaic: str | Path,
) -> pd.DataFrame:
    """Write the cohort QC table (TSV; missing values as n/a) and mosaic (PNG); return the table."""
    table = qc_table(scans, skullstrip_jsons, registration_jsons)
    # "%s": each number as Python prints it (1500.0, 0.9591), as pandas does without a format;
    # the default "%.6g" would drop the ".0" of whole numbers.
    write_tsv_atomic(table, out_table, float_format="%s")
    mosaic(images, scans, out_mosaic)
    return table
