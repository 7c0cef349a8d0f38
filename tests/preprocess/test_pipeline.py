"""The stage's entry points end to end: bad inputs fail cleanly; a posed head is recovered."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from pp_helpers import OUTLINE_PANELS, OUTLINE_PX, png_panels_vary

from latentcf.errors import InputDataError
from latentcf.grid import grid_affine, grid_shape
from latentcf.preprocess.metrics import dice, warped_mask_dice
from latentcf.preprocess.outputs import write_dataset_description
from latentcf.preprocess.pipeline import run_grid, run_native, run_registration

NATIVE = ("t1w.nii.gz", "mask.nii.gz", "ss.png", "ss.json")


def _native_outputs(folder):
    return [folder / name for name in NATIVE]


def _save(tmp_path, name, data, affine=None):
    path = tmp_path / name
    nib.save(
        nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0]) if affine is None else affine), path
    )
    return path


@pytest.mark.parametrize(
    "name,data,message",
    [
        (
            "4d.nii.gz",
            np.random.default_rng(0).random((10, 10, 10, 3)).astype(np.float32),
            "expected a 3D image",
        ),
        ("2d.nii.gz", np.random.default_rng(0).random((10, 10, 1)).astype(np.float32), "2D slice"),
        (
            "nan.nii.gz",
            np.where(np.eye(10)[..., None] > 0, np.nan, 1.0) * np.ones((10, 10, 10)),
            "NaN or Inf",
        ),
        ("const.nii.gz", np.full((10, 10, 10), 5.0, np.float32), "constant"),
    ],
)
def test_bad_inputs_fail_with_the_file_named_and_write_nothing(tmp_path, name, data, message):
    path = _save(tmp_path, name, np.asarray(data, dtype=np.float32))
    out = tmp_path / "out"
    with pytest.raises(InputDataError, match=message) as info:
        run_native(path, *_native_outputs(out), skullstrip={"method": "template"})
    assert name in str(info.value)
    assert not out.exists() or not any(out.iterdir())


def test_absurd_voxel_size_is_rejected(tmp_path):
    path = _save(
        tmp_path,
        "huge.nii.gz",
        np.random.default_rng(1).random((8, 8, 8)).astype(np.float32),
        np.diag([50.0, 50.0, 50.0, 1.0]),
    )
    with pytest.raises(InputDataError, match="voxel size"):
        run_native(path, *_native_outputs(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def processed(posed_template, tmp_path_factory):
    """The posed template head through the three steps (deepbet, defaults, 2 mm grid)."""
    out = tmp_path_factory.mktemp("processed")
    native = _native_outputs(out)
    qc_native = run_native(posed_template["path"], *native)
    xfm = out / "xfm.mat"
    qc_reg = run_registration(native[0], native[1], xfm, out / "reg.png", out / "reg.json")
    grid_t1w, grid_mask = out / "grid_T1w.nii.gz", out / "grid_mask.nii.gz"
    qc_grid = run_grid(native[0], native[1], xfm, grid_t1w, grid_mask, resolution_mm=2)
    return {
        "out": out,
        "native": native,
        "xfm": xfm,
        "grid": (grid_t1w, grid_mask),
        "qc": (qc_native, qc_reg, qc_grid),
        **posed_template,
    }


def test_native_outputs_stay_on_the_scan_grid(processed):
    raw = nib.load(processed["path"])
    head, mask = (nib.load(p) for p in processed["native"][:2])
    for img in (head, mask):
        assert img.shape == raw.shape
        np.testing.assert_allclose(img.affine, raw.affine, atol=1e-4)
    assert head.get_data_dtype() == np.float32 and mask.get_data_dtype() == np.uint8
    truth = np.asarray(nib.load(processed["truth_mask"]).dataobj) > 0
    assert dice(np.asarray(mask.dataobj) > 0, truth) >= 0.9
    qc = json.loads(processed["native"][3].read_text())
    assert qc["skullstrip_method"] == "deepbet"
    assert 1200 <= qc["brain_volume_ml"] <= 2000  # the template brain is ~1.65 l
    assert "timings" not in qc  # run times go to the log, never into files later stages read
    stds = png_panels_vary(processed["native"][2], OUTLINE_PX, OUTLINE_PANELS)
    assert min(stds) > 1.0, stds  # each slice panel shows an image, not a blank


def test_registration_recovers_the_known_pose(processed):
    from latentcf.preprocess.register import load_transform

    qc = json.loads((processed["out"] / "reg.json").read_text())
    assert set(qc) == {
        "template",
        "dice_template_brain_mask",
        "ncc_template_brain",
        "affine_scale_factor",
    }
    assert qc["dice_template_brain_mask"] >= 0.9
    stds = png_panels_vary(processed["out"] / "reg.png", OUTLINE_PX, OUTLINE_PANELS)
    assert min(stds) > 1.0, stds
    assert abs(qc["affine_scale_factor"] - 1.0) < 0.05  # the template was only rotated and shifted
    assert warped_mask_dice(processed["truth_mask"], processed["xfm"]) >= 0.9
    # The transform maps template points (LPS) to scan points: compare with the true pose.
    transform = load_transform(processed["xfm"])
    pose = processed["pose"]
    flip = np.array([-1.0, -1.0, 1.0])
    errors = []
    for point in [(0, 0, 0), (50, 0, 0), (0, 60, 0), (0, 0, 50), (-40, -50, 20)]:
        expected = pose[:3, :3] @ np.asarray(point, float) + pose[:3, 3]
        got = np.asarray(transform.apply_to_point(tuple(np.asarray(point) * flip))) * flip
        errors.append(np.linalg.norm(got - expected))
    assert max(errors) < 3.0, errors


def test_grid_outputs_follow_the_contract(processed):
    t1w, mask = (nib.load(p) for p in processed["grid"])
    for img in (t1w, mask):
        assert img.shape == grid_shape(2)
        np.testing.assert_allclose(img.affine, grid_affine(2))
    assert t1w.get_data_dtype() == np.float32 and mask.get_data_dtype() == np.uint8
    data = np.asarray(t1w.dataobj)
    brain = np.asarray(mask.dataobj) > 0
    assert data[~brain].max() == 0.0
    assert 0.0 <= data.min() and data.max() <= 1.0
    assert 0.3 < float(np.median(data[brain])) < 0.9
    # the grid mask is the template brain (it was the template, posed)
    import ants

    from latentcf.preprocess.antsimg import reference_image
    from latentcf.preprocess.template import load_template

    tpl = ants.resample_image_to_target(
        load_template(1.0).mask,
        reference_image(grid_shape(2), grid_affine(2)),
        interp_type="linear",
    )
    assert dice(brain, tpl.numpy() > 0.5) >= 0.9


def test_to_native_brings_grid_images_back(processed):
    import ants

    from latentcf.preprocess.antsimg import to_ants
    from latentcf.preprocess.register import load_transform, to_native

    grid_mask = nib.load(processed["grid"][1])
    native_mask = nib.load(processed["native"][1])
    back = to_native(
        to_ants(np.asarray(grid_mask.dataobj, dtype=np.float32), grid_mask.affine),
        load_transform(processed["xfm"]),
        to_ants(np.asarray(native_mask.dataobj, dtype=np.float32), native_mask.affine),
    )
    assert isinstance(back, ants.ANTsImage)
    assert dice(back.numpy() > 0.5, np.asarray(native_mask.dataobj) > 0) >= 0.9


def test_changing_grid_settings_reuses_the_registration(processed, tmp_path):
    """Step 3 alone gives the other resolutions and normalisations from the same transform."""
    t1w, mask = tmp_path / "t.nii.gz", tmp_path / "m.nii.gz"
    qc = run_grid(
        *processed["native"][:2],
        processed["xfm"],
        t1w,
        mask,
        resolution_mm=4,
        normalisation={"lower_percentile": 0, "upper_percentile": 90, "clip": True},
    )
    assert nib.load(t1w).shape == grid_shape(4)
    assert qc["intensity_hi"] < processed["qc"][2]["intensity_hi"]


def test_dataset_description(tmp_path):
    path = write_dataset_description(tmp_path / "dataset_description.json")
    desc = json.loads(path.read_text())
    assert desc["DatasetType"] == "derivative"
    assert desc["GeneratedBy"][0]["Name"] == "latentcf"
