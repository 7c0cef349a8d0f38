"""The model grid contains the whole template brain at every resolution."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from latentcf.errors import ConfigError
from latentcf.grid import grid_affine, grid_shape
from latentcf.templates import template_files


@pytest.mark.parametrize(
    ("res", "shape"), [(1, (160, 192, 160)), (2, (80, 96, 80)), (4, (40, 48, 40))]
)
def test_shapes(res, shape):
    assert grid_shape(res) == shape


@pytest.mark.parametrize("res", [1, 2, 4])
def test_box_contains_template_brain(res):
    mask = nib.load(template_files().brain_mask)
    voxels = np.argwhere(np.asarray(mask.dataobj) > 0)
    world = nib.affines.apply_affine(mask.affine, voxels)
    inside = nib.affines.apply_affine(np.linalg.inv(grid_affine(res)), world)
    upper = np.asarray(grid_shape(res)) - 0.5
    assert inside.min() >= -0.5 and np.all(inside.max(axis=0) <= upper)


def test_one_mm_grid_is_a_crop_of_the_template():
    template = nib.load(template_files().brain_mask)
    offset = np.linalg.inv(template.affine) @ grid_affine(1)
    assert np.allclose(offset[:3, :3], np.eye(3))
    assert np.allclose(offset[:3, 3], np.round(offset[:3, 3]))


def test_bad_resolution_is_a_config_error():
    with pytest.raises(ConfigError, match=r"expected one of \(1, 2, 4\), got 3"):
        grid_shape(3)
