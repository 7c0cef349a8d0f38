"""Atlas backend: the template's atlas warped to model-grid images by SyN."""

from __future__ import annotations

import os
import tempfile

import nibabel as nib
import numpy as np
import pytest
from seg_helpers import deformed_template, dice

from latentcf.atlas import dseg_from_fractions
from latentcf.config import ConfigValidationError
from latentcf.errors import ConfigError, InputDataError
from latentcf.grid import grid_affine
from latentcf.segment import build_segmenter, voxel_volume_ml

GROUPS = {
    "hippocampus": (17, 53),
    "lateral_ventricles": (4, 43),
    "thalamus": (10, 49),
    "cortex": (3, 42),
    "cerebral_white_matter": (2, 41),
}


@pytest.fixture(scope="module")
def segmenter4():
    return build_segmenter(None, 4)


@pytest.fixture(scope="module")
def deformed4():
    """The 4 mm template moved by a smooth displacement of 3 mm RMS (up to ~9 mm)."""
    return deformed_template(4, rms_mm=3.0, seed=0)


def test_template_segmented_by_its_own_atlas(segmenter4):
    grid = segmenter4.grid
    seg = segmenter4.segment(nib.Nifti1Image(grid.brain.copy(), grid.affine))
    assert seg.labels == grid.labels and seg.dseg.dtype == np.int16
    assert seg.fractions.dtype == np.float32
    assert seg.fractions.shape == (len(grid.labels), 40, 48, 40)
    assert float(seg.fractions.sum(axis=0).max()) <= 1.0 + 1e-6
    truth = grid.dseg()
    atlas = grid.fractions()
    for name, ids in GROUPS.items():
        assert dice(np.isin(seg.dseg, ids), np.isin(truth, ids)) >= 0.97, name
        ours, ref = seg.fraction(ids).sum(), atlas[[grid.labels.index(i) for i in ids]].sum()
        assert ours == pytest.approx(ref, rel=0.02), name
    table = seg.volumes(voxel_volume_ml(grid.affine)).set_index("name")
    hippo = float(atlas[[grid.labels.index(i) for i in (17, 53)]].sum()) * 0.064
    assert table.loc["hippocampus", "ml"] == pytest.approx(hippo, rel=0.02)


def test_deformed_template_is_recovered(segmenter4, deformed4):
    image, fractions, grid = deformed4
    truth = dseg_from_fractions(fractions, grid.labels)
    identity = grid.dseg()
    seg = segmenter4.segment(nib.Nifti1Image(image, grid.affine))
    for name, ids in GROUPS.items():
        ours = dice(np.isin(seg.dseg, ids), np.isin(truth, ids))
        before = dice(np.isin(identity, ids), np.isin(truth, ids))
        assert ours >= 0.88 and ours >= before + 0.08, (name, ours, before)
        expected = fractions[[grid.labels.index(i) for i in ids]].sum()
        assert seg.fraction(ids).sum() == pytest.approx(expected, rel=0.05), name


def test_sparse_warp_equals_ants_apply_transforms(segmenter4, deformed4):
    import ants

    from latentcf.preprocess.antsimg import to_ants
    from latentcf.segment.atlas_backend import warp_fractions

    image, _, grid = deformed4
    fixed = to_ants(image, grid.affine)
    with tempfile.TemporaryDirectory() as tmp:
        reg = ants.registration(
            fixed,
            to_ants(grid.brain, grid.affine),
            "SyNOnly",
            initial_transform="identity",
            outprefix=os.path.join(tmp, "t_"),
            syn_metric="meansquares",
            reg_iterations=(20, 10),
        )
        ours = warp_fractions(grid.table, reg["fwdtransforms"], fixed)
        dense = grid.fractions()
        for j in (grid.labels.index(17), grid.labels.index(2), grid.labels.index(24)):
            ref = ants.apply_transforms(
                fixed, to_ants(dense[j], grid.affine), reg["fwdtransforms"], interpolator="linear"
            ).numpy()
            np.testing.assert_allclose(ours[j], ref, atol=1e-5)


def test_same_image_twice_gives_identical_bytes(segmenter4, deformed4):
    image, _, grid = deformed4
    a = segmenter4.segment(nib.Nifti1Image(image, grid.affine))
    b = build_segmenter({"atlas": {"random_seed": 1}}, 4).segment(
        nib.Nifti1Image(image.copy(), grid.affine)
    )
    assert a.dseg.tobytes() == b.dseg.tobytes()
    assert a.fractions.tobytes() == b.fractions.tobytes()


def test_image_off_the_model_grid_is_refused(segmenter4, tmp_path):
    path = tmp_path / "sub-01_T1w.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((80, 96, 80), np.float32), grid_affine(2)), path)
    with pytest.raises(InputDataError, match=r"sub-01_T1w\.nii\.gz.*4 mm model grid"):
        segmenter4.segment(nib.load(path))
    with pytest.raises(InputDataError, match="no voxel > 0"):
        segmenter4.segment(nib.Nifti1Image(np.zeros((40, 48, 40), np.float32), grid_affine(4)))
    bad = np.ones((40, 48, 40), np.float32)
    bad[0, 0, 0] = np.nan
    with pytest.raises(InputDataError, match="NaN"):
        segmenter4.segment(nib.Nifti1Image(bad, grid_affine(4)))


def test_config_is_validated_and_levels_follow_the_resolution():
    from latentcf.segment.atlas_backend import level_iterations

    with pytest.raises(ConfigValidationError, match="segment.atlas"):
        build_segmenter({"atlas": {"reg_iteration": [1, 2, 3, 4, 5]}}, 4)
    with pytest.raises(ConfigValidationError, match="backend"):
        build_segmenter({"backend": "synthseg"}, 4)
    with pytest.raises(ConfigError, match="resolution_mm"):
        build_segmenter(None, 3)
    its = [60, 40, 30, 10, 5]
    assert level_iterations(its, 4) == (60, 40, 30)
    assert level_iterations(its, 2) == (60, 40, 30, 10)
    assert level_iterations(its, 1) == (60, 40, 30, 10, 5)


def test_unscaled_intensities_are_reported(segmenter4, caplog):
    grid = segmenter4.grid
    image = nib.Nifti1Image(grid.brain * 1000.0, grid.affine)
    with caplog.at_level("WARNING", logger="latentcf.segment.atlas_backend"):
        segmenter4._check_grid(image, np.asarray(image.dataobj))
    assert "expects images scaled like the preprocessed ones" in caplog.text
    caplog.clear()
    segmenter4._check_grid(nib.Nifti1Image(grid.brain, grid.affine), grid.brain)
    assert not caplog.text
