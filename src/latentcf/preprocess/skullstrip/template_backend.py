"""template backend: affine head-to-template registration, template brain mask brought back."""

from __future__ import annotations

import nibabel as nib
import numpy as np

from latentcf.preprocess.antsimg import to_ants
from latentcf.preprocess.register import affine_register, to_native
from latentcf.preprocess.template import load_template


def brain_mask(head: nib.Nifti1Image, mask_threshold: float = 0.5) -> np.ndarray:
    """Brain mask (bool, shape of `head`): the template brain mask mapped to `head`.

    The head (skull on) is registered to the template head at 2 mm; the template mask is
    resampled onto the native grid with the inverse transform and thresholded at `mask_threshold`.
    """
    moving = to_ants(head)
    template = load_template(2.0)
    xfm = affine_register(moving, template.head)
    mask = to_native(template.mask, xfm, moving)
    return mask.numpy() > float(mask_threshold)
