"""What a segmentation backend returns: label map, per-label partial-volume fractions, volumes.

The fractions are the precise measurement (a voxel half covered by the hippocampus adds half a
voxel of hippocampus); the label map (dseg) is their argmax, for display and voxel counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from latentcf.atlas import STRUCTURES, structure_labels
from latentcf.io import save_nifti_atomic

# Value of the `label` column in the rows of summed structures.
STRUCTURE_ROW_LABEL = -1


@dataclass(frozen=True)
class Segmentation:
    """One image's segmentation on the image's own grid (X, Y, Z).

    dseg : int16 (X, Y, Z), FreeSurfer ids, 0 = background: the label with the largest
        fraction in each voxel (background when 1 - sum of fractions is larger).
    labels : FreeSurfer ids, the order of `fractions` (no 0).
    fractions : float32 (n_labels, X, Y, Z), the fraction of each voxel covered by each label
        (partial volumes, each in [0, 1], sum over labels <= 1; the rest is background).
    names : one name per label (FreeSurfer colour-table names).
    """

    dseg: np.ndarray
    labels: tuple[int, ...]
    fractions: np.ndarray
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.labels)
        if self.fractions.shape != (n, *self.dseg.shape) or len(self.names) != n:
            raise ValueError(
                f"fractions {self.fractions.shape} and {len(self.names)} names do not match "
                f"{n} labels on a {self.dseg.shape} label map"
            )

    def with_fractions(self, fractions: np.ndarray) -> Segmentation:
        """The same labels with other fractions (e.g. carried to another image by a warp); the
        label map is recomputed from them."""
        from latentcf.atlas import dseg_from_fractions

        return Segmentation(
            dseg_from_fractions(fractions, self.labels), self.labels, fractions, self.names
        )

    def fraction(self, ids: tuple[int, ...] | list[int]) -> np.ndarray:
        """float32 (X, Y, Z): the summed fractions of the labels `ids` (absent ids count 0)."""
        rows = [self.labels.index(i) for i in ids if i in self.labels]
        if not rows:
            return np.zeros(self.dseg.shape, dtype=np.float32)
        return self.fractions[rows].sum(axis=0, dtype=np.float32)

    def structure_fraction(self, structure: str) -> np.ndarray:
        """float32 (X, Y, Z): fraction of each voxel in `structure` (a key of STRUCTURES;
        cortical parcels count as cortex), e.g. as voxel weights for tensor-based morphometry."""
        return self.fraction(structure_labels(structure, self.labels))

    def volumes(self, voxel_ml: float) -> pd.DataFrame:
        """One row per label, then one per summed structure (`label` -1, `name` the structure).

        Columns: label (FreeSurfer id), name, voxels (count in `dseg`), ml (sum of the
        fractions x `voxel_ml`, the volume of one voxel in ml: see :func:`voxel_volume_ml`).
        """
        counts = np.bincount(self.dseg.ravel().astype(np.int64), minlength=1)

        def count(label: int) -> int:
            return int(counts[label]) if label < counts.size else 0

        sums = self.fractions.reshape(len(self.labels), -1).sum(axis=1, dtype=np.float64)
        rows = [
            {"label": lab, "name": name, "voxels": count(lab), "ml": float(s) * voxel_ml}
            for lab, name, s in zip(self.labels, self.names, sums, strict=True)
        ]
        for structure in STRUCTURES:
            members = structure_labels(structure, self.labels)
            idx = [self.labels.index(m) for m in members]
            rows.append(
                {
                    "label": STRUCTURE_ROW_LABEL,
                    "name": structure,
                    "voxels": sum(count(m) for m in members),
                    "ml": float(sums[idx].sum()) * voxel_ml,
                }
            )
        table = pd.DataFrame(rows, columns=["label", "name", "voxels", "ml"])
        return table.astype({"label": np.int64, "voxels": np.int64, "ml": np.float64})

    def label_table(self) -> pd.DataFrame:
        """BIDS dseg.tsv table (index, name) of the labels, background first."""
        return pd.DataFrame(
            {"index": [0, *self.labels], "name": ["Unknown", *self.names]},
        )


def voxel_volume_ml(affine: np.ndarray) -> float:
    """Volume of one voxel in ml of a grid with the 4x4 voxel-to-mm `affine`."""
    return float(abs(np.linalg.det(np.asarray(affine, dtype=float)[:3, :3]))) / 1000.0


def write_dseg(seg: Segmentation, affine: np.ndarray, path: str | Path) -> Path:
    """Write `seg.dseg` (int16, FreeSurfer ids) as a NIfTI with `affine`, atomically."""
    img = nib.Nifti1Image(np.asarray(seg.dseg, dtype=np.int16), np.asarray(affine, dtype=float))
    img.header.set_data_dtype(np.int16)
    img.header.set_xyzt_units("mm")
    return save_nifti_atomic(img, path)
