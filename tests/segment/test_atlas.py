"""The template's atlas (CerebrA in FreeSurfer ids) on the model grid."""

from __future__ import annotations

import numpy as np
import pytest

from latentcf.atlas import (
    FS_NAMES,
    aseg_id,
    atlas_on_grid,
    grid_crop,
    load_anatomy,
    structure_labels,
)
from latentcf.grid import grid_affine, grid_shape


def test_one_mm_fractions_are_the_atlas_labels():
    grid = atlas_on_grid(1)
    labels1 = load_anatomy().labels[grid_crop()]
    assert grid.table.shape == (labels1.size, len(grid.labels))
    assert set(np.unique(grid.table.data)) == {1.0}  # one-hot: every labelled voxel once
    np.testing.assert_array_equal(grid.dseg(), labels1)
    assert set(grid.labels) == set(np.unique(labels1)) - {0}
    assert set(grid.labels) <= set(FS_NAMES)


@pytest.mark.parametrize("resolution_mm", [2, 4])
def test_block_fractions_keep_every_labels_volume(resolution_mm):
    """Block averaging conserves volume: the grid box holds the whole template brain."""
    grid = atlas_on_grid(resolution_mm)
    labels = load_anatomy().labels
    assert grid.brain.shape == grid_shape(resolution_mm)
    np.testing.assert_array_equal(grid.affine, grid_affine(resolution_mm))
    volumes = np.asarray(grid.table.sum(axis=0), dtype=np.float64).ravel() * resolution_mm**3
    for lab, vol in zip(grid.labels, volumes, strict=True):
        assert vol == pytest.approx(float(np.sum(labels == lab)), rel=1e-5), FS_NAMES[lab]
    rows = np.asarray(grid.table.sum(axis=1)).ravel()
    assert rows.max() <= 1.0 + 1e-6 and rows.min() >= 0.0
    fractions = grid.fractions()
    assert fractions.shape == (len(grid.labels), *grid.brain.shape)
    assert 0.0 < fractions.max() <= 1.0


def test_template_brain_is_scaled_like_a_preprocessed_scan():
    grid = atlas_on_grid(4)
    assert grid.brain.dtype == np.float32
    assert grid.brain.min() == 0.0 and grid.brain.max() == 1.0
    assert not np.any(grid.brain[~grid.mask])
    assert np.median(grid.brain[grid.mask]) > 0.3


def test_cortical_parcels_belong_to_the_cortex():
    assert [aseg_id(i) for i in (1001, 1035, 2001, 2035, 17, 42)] == [3, 3, 42, 42, 17, 42]
    assert structure_labels("cortex", [3, 17, 1001, 2002, 41]) == (3, 1001, 2002)
    assert structure_labels("cerebral_white_matter", [3, 17, 2, 41]) == (2, 41)
