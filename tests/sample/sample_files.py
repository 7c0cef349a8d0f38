"""Helpers of the sample tests: sample folders as the sample stage writes them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from latentcf import derivatives
from latentcf.grid import grid_affine

FAMILY = "betavae"


def write_sample_folder(folder: Path, images: Sequence[np.ndarray], resolution_mm: int = 4) -> Path:
    """`images` (X, Y, Z) as sample NIfTIs on the model grid with samples.tsv, like sample_model."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, image in enumerate(images):
        name = derivatives.sample_file(i, resolution_mm, FAMILY)
        nib.save(
            nib.Nifti1Image(np.asarray(image, np.float32), grid_affine(resolution_mm)),
            folder / name,
        )
        rows.append({"index": i, "sample": derivatives.sample_id(i), "image": name})
    pd.DataFrame(rows).to_csv(folder / derivatives.SAMPLES_TABLE, sep="\t", index=False)
    return folder
