"""Segment a model's samples like the real scans: same backend, same settings, same volume table.

The folder written holds each sample's ``..._desc-<family>sample_dseg.nii.gz`` and ``volumes.tsv``
in the layout of the real scans' segment/chunk-<NN>/volumes.tsv (scan, image, label, name, voxels,
ml; summed structures as rows named after them), with the sample id ('sample-000') in the `scan`
column and 'sample' in the `image` column.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nibabel as nib
import pandas as pd

from latentcf import derivatives
from latentcf.errors import InputDataError
from latentcf.io import atomic_directory, write_tsv_atomic
from latentcf.segment import build_segmenter, voxel_volume_ml, write_dseg

log = logging.getLogger(__name__)

VOLUMES_TABLE = "volumes.tsv"
SAMPLE_IMAGE = "sample"  # the `image` column of the samples' volume rows


def read_samples_table(sample_dir: str | Path) -> pd.DataFrame:
    """samples.tsv of a sample folder (columns index, sample, image); InputDataError when absent."""
    path = Path(sample_dir) / derivatives.SAMPLES_TABLE
    if not path.is_file():
        raise InputDataError(path, "samples table not found", "Rerun the sample rule")
    return pd.read_csv(path, sep="\t", keep_default_na=False)


def segment_samples(
    sample_dir: str | Path,
    out_dir: str | Path,
    family: str,
    segment_config: Mapping[str, Any] | None,
    resolution_mm: int,
) -> pd.DataFrame:
    """Segment every image listed in `sample_dir`/samples.tsv into the folder `out_dir`
    (written beside it and renamed when complete); returns volumes.tsv."""
    samples = read_samples_table(sample_dir)
    segmenter = build_segmenter(segment_config, resolution_mm)
    tables = []
    with atomic_directory(out_dir) as tmp:
        for index, sample, image in samples[["index", "sample", "image"]].itertuples(index=False):
            img = nib.load(str(Path(sample_dir) / image))
            seg = segmenter.segment(img)
            write_dseg(
                seg,
                img.affine,
                tmp / derivatives.sample_dseg_file(int(index), resolution_mm, family),
            )
            volumes = seg.volumes(voxel_volume_ml(img.affine))
            tables.append(volumes.assign(scan=sample, image=SAMPLE_IMAGE))
        volumes = pd.concat(tables, ignore_index=True)
        front = ["scan", "image"]
        volumes = volumes[front + [c for c in volumes.columns if c not in front]]
        write_tsv_atomic(volumes, tmp / VOLUMES_TABLE)
    log.info("segmented %d samples", len(samples))
    return volumes
