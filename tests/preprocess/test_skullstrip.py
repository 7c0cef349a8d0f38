"""Skull-stripping backends behind one interface."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from pp_helpers import rigid_pose, template_head_2mm

from latentcf.config import section_defaults
from latentcf.errors import ConfigError, InputDataError
from latentcf.preprocess.metrics import dice
from latentcf.preprocess.skullstrip import BACKENDS, clean_mask, skull_strip

OPTIONS = section_defaults("preprocess.schema.yaml")["skullstrip"]


def test_unknown_method_names_key_and_suggests():
    head, _, affine = template_head_2mm()
    with pytest.raises(ConfigError, match=r"preprocess.skullstrip.method.*deepbet"):
        skull_strip(nib.Nifti1Image(head, affine), "deepbett")


def test_clean_mask_keeps_largest_component_and_fills_holes():
    mask = np.zeros((20, 20, 20), bool)
    mask[2:12, 2:12, 2:12] = True
    mask[6, 6, 6] = False  # a hole
    mask[16:18, 16:18, 16:18] = True  # a speck
    out = clean_mask(mask)
    assert out[6, 6, 6] and not out[17, 17, 17]
    assert out.sum() == 1000
    with pytest.raises(InputDataError, match="no brain"):
        clean_mask(np.zeros((4, 4, 4), bool), source="x.nii.gz")


# deepbet (the default) is exercised end to end in test_pipeline.py and test_realdata.py.
def test_template_backend_finds_the_brain_of_a_posed_head():
    head, mask, affine = template_head_2mm()
    # A posed copy: the backend must not depend on the image being in template space.
    posed = rigid_pose(3, 15.0, 10.0) @ affine
    found = skull_strip(nib.Nifti1Image(head, posed), "template", **OPTIONS["template"])
    assert found.shape == head.shape and found.dtype == bool
    assert dice(found, mask) >= 0.9


def test_brainextractor_backend_finds_a_plausible_brain():
    head, mask, affine = template_head_2mm()
    # 4 mm and few iterations keep this fast (most of the time is numba compiling BET).
    small, small_mask = head[::2, ::2, ::2], mask[::2, ::2, ::2]
    small_affine = affine @ np.diag([2.0, 2.0, 2.0, 1.0])
    options = {**OPTIONS["brainextractor"], "iterations": 200}
    found = skull_strip(nib.Nifti1Image(small, small_affine), "brainextractor", **options)
    assert found.shape == small.shape
    assert dice(found, small_mask) >= 0.8


def test_every_backend_is_importable():
    import importlib

    for module in BACKENDS.values():
        assert callable(importlib.import_module(module).brain_mask)
