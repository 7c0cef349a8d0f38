"""The stage on real heads: two IXI scans (2 mm) and Colin27 (downsampled to 2 mm).

Registered brain mask vs template brain mask: Dice >= 0.90; skull-stripped brain volume
between 900 and 2000 ml. Skipped, with the reason, where the data are absent.
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from latentcf.preprocess.metrics import dice
from latentcf.preprocess.pipeline import run_native, run_registration

pytestmark = pytest.mark.realdata


def _run(t1w, out):
    native = [out / n for n in ("t1w.nii.gz", "mask.nii.gz", "ss.png", "ss.json")]
    run_native(t1w, *native)
    run_registration(native[0], native[1], out / "xfm.mat", out / "reg.png", out / "reg.json")
    return json.loads(native[3].read_text()), json.loads((out / "reg.json").read_text()), native


@pytest.mark.parametrize("name", ["IXI012-HH-1211_T1.nii.gz", "IXI015-HH-1258_T1.nii.gz"])
def test_ixi_scan_is_stripped_and_registered(ixi_dir, tmp_path, name):
    skull, reg, _ = _run(ixi_dir / name, tmp_path)
    assert 900 <= skull["brain_volume_ml"] <= 2000, skull
    assert reg["dice_template_brain_mask"] >= 0.90, reg
    assert reg["ncc_template_brain"] > 0.3, reg


def test_colin27_is_stripped_and_registered(colin27_2mm, tmp_path):
    from pp_helpers import COLIN27_BRAIN

    skull, reg, native = _run(colin27_2mm, tmp_path)
    assert 900 <= skull["brain_volume_ml"] <= 2000, skull
    assert reg["dice_template_brain_mask"] >= 0.90, reg
    if COLIN27_BRAIN.is_file():  # the distributed skull-stripped Colin27, as a reference
        mask = nib.load(native[1])
        ref = nib.load(COLIN27_BRAIN)
        import ants

        from latentcf.preprocess.antsimg import to_ants

        ref_on_scan = ants.resample_image_to_target(
            to_ants((np.asarray(ref.dataobj) > 0).astype(np.float32), ref.affine),
            to_ants(np.asarray(mask.dataobj, dtype=np.float32), mask.affine),
            interp_type="linear",
        )
        assert dice(np.asarray(mask.dataobj) > 0, ref_on_scan.numpy() > 0.5) >= 0.88
