"""Per-chunk measurement jobs: segment a chunk's images, and measure its counterfactuals' volume changes.

- :func:`segment_scans`: the model-grid scans of a chunk -> each scan's ``..._dseg.nii.gz`` and
  a long ``volumes.tsv`` (scan, image, label, name, voxels, ml; summed structures included).
- :func:`counterfactual_volumes`: a counterfactual chunk folder -> the same for every null and
  counterfactual image, and ``changes.tsv``: per scan, intervention and structure, the relative
  volume change of the counterfactual against the scan's null image, by tensor-based morphometry
  (the Jacobian of the SyN warp from the null image to the counterfactual, averaged inside the null
  image's partial-volume segmentation) and by segmentation volumes. The null image is segmented
  by the configured backend; a counterfactual's segmentation is the null image's carried through
  the same warp (one registration per counterfactual, consistent with its Jacobian; a
  counterfactual identical to the null image is a null intervention for that scan and costs none).
Volumes are in template space (ml of the model grid: head size is normalised by the affine
registration).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from latentcf import derivatives
from latentcf.evaluate.tbm import register, relative_changes, tbm_settings
from latentcf.interventions import FACTUAL, NULL
from latentcf.io import atomic_directory, write_tsv_atomic
from latentcf.segment import STRUCTURES, Segmentation, build_segmenter, write_dseg

log = logging.getLogger(__name__)

VOLUMES_TABLE = "volumes.tsv"
CHANGES_TABLE = "changes.tsv"


def structure_weights(seg: Segmentation) -> dict[str, np.ndarray]:
    """Partial-volume fractions (X, Y, Z) of each summed structure."""
    return {name: seg.structure_fraction(name) for name in STRUCTURES}


def _voxel_ml(img: nib.Nifti1Image) -> float:
    return float(np.prod(img.header.get_zooms()[:3])) / 1000.0


def _volume_rows(seg: Segmentation, img: nib.Nifti1Image, **ids: str) -> pd.DataFrame:
    return seg.volumes(_voxel_ml(img)).assign(**ids)


def segment_scans(
    scans: Sequence[str],
    images: Sequence[str | Path],
    out_dir: str | Path,
    segment_config: Mapping[str, Any] | None,
    resolution_mm: int,
) -> pd.DataFrame:
    """Segment model-grid images (one per scan) into the folder `out_dir`; returns volumes.tsv."""
    segmenter = build_segmenter(segment_config, resolution_mm)
    tables = []
    with atomic_directory(out_dir) as tmp:
        for scan, path in zip(scans, images, strict=True):
            img = nib.load(str(path))
            seg = segmenter.segment(img)
            write_dseg(seg, img.affine, tmp / derivatives.scan_dseg_file(scan, resolution_mm))
            tables.append(_volume_rows(seg, img, scan=scan, image=FACTUAL))
        volumes = _long(tables)
        write_tsv_atomic(volumes, tmp / VOLUMES_TABLE)
    return volumes


def counterfactual_volumes(
    counterfactual_dir: str | Path,
    out_dir: str | Path,
    family: str,
    segment_config: Mapping[str, Any] | None,
    evaluate_config: Mapping[str, Any] | None,
    resolution_mm: int,
) -> pd.DataFrame:
    """Segment the null and counterfactual images of one counterfactual chunk folder and measure
    each counterfactual's change against its null image; returns changes.tsv."""
    settings = tbm_settings(evaluate_config)
    segmenter = build_segmenter(segment_config, resolution_mm)
    table = pd.read_csv(
        Path(counterfactual_dir) / derivatives.COUNTERFACTUALS_TABLE,
        sep="\t",
        keep_default_na=False,
    )
    volume_tables, change_rows = [], []
    with atomic_directory(out_dir) as tmp:
        for scan, rows in table.groupby("scan", sort=False):
            names = [NULL] + [n for n in rows["intervention"] if n != FACTUAL]
            null_img = _load(counterfactual_dir, scan, NULL, resolution_mm, family)
            null = segmenter.segment(null_img)
            null_data = np.asarray(null_img.dataobj, dtype=np.float32)
            weights = structure_weights(null)
            for name in names:
                img = (
                    null_img
                    if name == NULL
                    else _load(counterfactual_dir, scan, name, resolution_mm, family)
                )
                data = np.asarray(img.dataobj, dtype=np.float32)
                if name == NULL or np.array_equal(data, null_data):
                    seg, tbm = null, dict.fromkeys(STRUCTURES, 0.0)
                else:
                    jac, to_changed = register(null_data, data, null_img.affine, settings)
                    seg = null.with_fractions(to_changed(null.fractions))
                    tbm = relative_changes(jac, weights)
                dseg = derivatives.counterfactual_dseg_file(scan, resolution_mm, name, family)
                write_dseg(seg, img.affine, tmp / dseg)
                volume_tables.append(_volume_rows(seg, img, scan=scan, image=name))
                if name == NULL:
                    null_ml = _structure_ml(seg, img)
                    continue
                seg_ml = _structure_ml(seg, img)
                for structure in STRUCTURES:
                    change_rows.append(
                        {
                            "scan": scan,
                            "intervention": name,
                            "structure": structure,
                            "tbm_pct": 100.0 * tbm[structure],
                            "segmentation_pct": 100.0
                            * (seg_ml[structure] / null_ml[structure] - 1.0),
                        }
                    )
        write_tsv_atomic(_long(volume_tables), tmp / VOLUMES_TABLE)
        changes = pd.DataFrame(change_rows)
        write_tsv_atomic(changes, tmp / CHANGES_TABLE)
    log.info(
        "%d scans: volumes and changes of %d counterfactuals",
        table["scan"].nunique(),
        len(change_rows) // len(STRUCTURES),
    )
    return changes


def _load(
    folder: str | Path, scan: str, name: str, resolution_mm: int, family: str
) -> nib.Nifti1Image:
    return nib.load(
        str(Path(folder) / derivatives.counterfactual_file(scan, resolution_mm, name, family))
    )


def _structure_ml(seg: Segmentation, img: nib.Nifti1Image) -> dict[str, float]:
    volumes = seg.volumes(_voxel_ml(img)).set_index("name")["ml"]
    return {name: float(volumes[name]) for name in STRUCTURES}


def _long(tables: list[pd.DataFrame]) -> pd.DataFrame:
    volumes = pd.concat(tables, ignore_index=True)
    front = ["scan", "image"]
    return volumes[front + [c for c in volumes.columns if c not in front]]
