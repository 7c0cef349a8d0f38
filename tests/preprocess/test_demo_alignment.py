"""Demo-cohort scans (random pose, bias field, skull) come out aligned with the template.

The simulator's ground-truth label map (derivatives/truth/..._dseg.nii.gz, native space) is
warped with the saved transform and compared with the template brain mask.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from latentcf.demo import simulate_demo
from latentcf.preprocess.metrics import warped_mask_dice
from latentcf.preprocess.pipeline import run_native, run_registration

DEMO = {"n_subjects": 2, "sessions_per_subject": 1, "resolution_mm": 2, "field_spacing_mm": 4}


@pytest.fixture(scope="module")
def demo_bids(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "bids"
    return simulate_demo(out, DEMO, seed=11)


def test_demo_scan_is_aligned_like_its_truth(demo_bids, tmp_path, subject="sub-002"):
    t1w = sorted((demo_bids / subject).rglob("*_T1w.nii.gz"))
    assert t1w, f"no T1w for {subject} in {demo_bids}"
    stem = t1w[0].name.replace("_T1w.nii.gz", "")
    truth = next((demo_bids / "derivatives" / "truth").rglob(f"{stem}_dseg.nii.gz"))
    native = [tmp_path / n for n in ("t1w.nii.gz", "mask.nii.gz", "ss.png", "ss.json")]
    run_native(t1w[0], *native)
    xfm = tmp_path / "xfm.mat"
    qc = run_registration(native[0], native[1], xfm, tmp_path / "reg.png", tmp_path / "reg.json")
    assert qc["dice_template_brain_mask"] >= 0.9
    assert warped_mask_dice(truth, xfm) >= 0.9
