"""template backend: affine head-to-template registration, template brain mask brought back."""

from __future__ import annotations

import nibabel as nib
import numpy as np

from latentcf.config import section_defaults
from latentcf.preprocess.antsimg import to_ants
from latentcf.preprocess.register import affine_register, to_native
from latentcf.preprocess.settings import SCHEMA
from latentcf.preprocess.template import load_template


def brain_mask(head: nib.Nifti1Image, *, mask_threshold: float) -> np.ndarray:
    """Brain mask (bool, shape of `head`): the template brain mask mapped to `head`.

    The head (skull on) is registered to the template head at 2 mm; the template mask is
    resampled onto the native grid with the inverse transform and thresholded at `mask_threshold`
    (``preprocess.skullstrip.template.mask_threshold``, default in preprocess.schema.yaml).
    The registration uses the schema defaults of ``preprocess.registration``, not the
    configured values: the skull-stripping step does not depend on the registration settings.
    """
    moving = to_ants(head)
    template = load_template(2.0)
    xfm = affine_register(moving, template.head, **section_defaults(SCHEMA)["registration"])
    mask = to_native(template.mask, xfm, moving)
    return mask.numpy() > float(mask_threshold)
