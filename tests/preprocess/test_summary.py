"""Cohort QC table and mosaic."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
from pp_helpers import png_panels_vary

from latentcf.grid import grid_affine, grid_shape
from latentcf.preprocess.summary import write_qc_summary


def test_qc_summary_flags_bad_scans(tmp_path):
    scans, ss, reg, images = [], [], [], []
    for i, (volume, dice_) in enumerate([(1500.0, 0.96), (600.0, 0.95), (1400.0, 0.7)]):
        scan = f"sub-{i:03d}/anat/sub-{i:03d}"
        scans.append(scan)
        ss.append(tmp_path / f"{i}_ss.json")
        ss[-1].write_text(json.dumps({"skullstrip_method": "deepbet", "brain_volume_ml": volume}))
        reg.append(tmp_path / f"{i}_reg.json")
        reg[-1].write_text(
            json.dumps(
                {
                    "dice_template_brain_mask": dice_,
                    "ncc_template_brain": 0.8,
                    "affine_scale_factor": 1.0,
                }
            )
        )
        data = np.random.default_rng(i).random(grid_shape(4)).astype(np.float32)
        images.append(tmp_path / f"{i}.nii.gz")
        nib.save(nib.Nifti1Image(data, grid_affine(4)), images[-1])
    table = write_qc_summary(scans, ss, reg, images, tmp_path / "qc.tsv", tmp_path / "qc.png")
    assert list(table["flag"]) == ["n/a", "brain_volume", "registration"]
    lines = (tmp_path / "qc.tsv").read_text().splitlines()
    assert lines[0].startswith("scan\t")
    # numbers as Python prints them (whole numbers keep their ".0"), no flag as n/a
    assert lines[1] == "sub-000/anat/sub-000\tdeepbet\t1500.0\t0.96\t0.8\t1.0\tn/a"
    # 3 scans: one row of 3 panels, figsize (1.8 * 3, 2.2) inches at 90 dpi.
    panels = [(i / 3 + 1 / 12, (i + 1) / 3 - 1 / 12, 0.35, 0.65) for i in range(3)]
    stds = png_panels_vary(tmp_path / "qc.png", (486, 198), panels)
    assert min(stds) > 1.0, stds  # each panel shows its scan's slice
