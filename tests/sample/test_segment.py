"""Samples are segmented exactly like the real scans: same backend, settings and volume table."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
from sample_files import FAMILY, write_sample_folder

from latentcf import derivatives
from latentcf.atlas import atlas_on_grid
from latentcf.evaluate.chunks import segment_scans
from latentcf.grid import grid_affine
from latentcf.sample.segment import SAMPLE_IMAGE, VOLUMES_TABLE, segment_samples


def test_samples_get_the_real_scans_segmentation(tmp_path):
    grid = atlas_on_grid(4)
    rng = np.random.default_rng(0)
    noisy = np.clip(grid.brain + rng.normal(0, 0.05, grid.brain.shape) * grid.mask, 0, None)
    images = [grid.brain, noisy.astype(np.float32)]
    folder = write_sample_folder(tmp_path / "images", images)
    volumes = segment_samples(folder, tmp_path / "segment", FAMILY, {"backend": "atlas"}, 4)

    written = pd.read_csv(tmp_path / "segment" / VOLUMES_TABLE, sep="\t")
    assert list(written["scan"].unique()) == ["sample-000", "sample-001"]
    assert set(written["image"]) == {SAMPLE_IMAGE}
    for i in range(2):
        dseg = nib.load(tmp_path / "segment" / derivatives.sample_dseg_file(i, 4, FAMILY))
        assert dseg.shape == grid.brain.shape and np.allclose(dseg.affine, grid_affine(4))
    # The template segmented as a sample has the atlas's own volumes (a SyN onto itself).
    ml = volumes[volumes["scan"] == "sample-000"].set_index("label")["ml"]
    atlas_ml = pd.Series(grid.fractions().reshape(len(grid.labels), -1).sum(1) * 0.064, grid.labels)
    assert np.allclose(ml.loc[list(grid.labels)], atlas_ml, rtol=0.02, atol=0.05)

    # The same images as real scans of a segment chunk: the same volumes.
    scans = ["sub-01/anat/sub-01", "sub-02/anat/sub-02"]
    paths = [folder / derivatives.sample_file(i, 4, FAMILY) for i in range(2)]
    real = segment_scans(scans, paths, tmp_path / "real", {"backend": "atlas"}, 4)
    assert list(real.columns) == list(volumes.columns)
    np.testing.assert_allclose(real["ml"].to_numpy(), volumes["ml"].to_numpy(), rtol=1e-6)
    assert (real["name"].to_numpy() == volumes["name"].to_numpy()).all()
