"""Segmentation results: volumes from partial-volume fractions, summed structures, dseg files."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from latentcf.atlas import STRUCTURES, dseg_from_fractions
from latentcf.grid import grid_affine
from latentcf.segment import Segmentation, voxel_volume_ml, write_dseg
from latentcf.segment.result import STRUCTURE_ROW_LABEL

LABELS = (2, 3, 4, 17, 53, 1001, 2002)
NAMES = ("WM", "Cortex", "Vent", "LHippo", "RHippo", "ctx-lh-bankssts", "ctx-rh-caudalmiddle")


def _boxes() -> tuple[Segmentation, dict[int, float], dict[int, int]]:
    """A 6x6x6 segmentation with boxes of known size and partial voxels.

    Returns it, the expected fraction sum (voxels) per label and the expected dseg count.
    """
    f = np.zeros((len(LABELS), 6, 6, 6), dtype=np.float32)
    row = {lab: i for i, lab in enumerate(LABELS)}
    f[row[17], 0:2, 0:2, 0:2] = 1.0  # 8 full voxels
    f[row[17], 2, 0, 0] = 0.625  # one partial voxel, label wins (0.625 > 0.375 background)
    f[row[53], 3:5, 3:5, 3:5] = 1.0  # 8 full voxels
    f[row[53], 5, 5, 5] = 0.25  # partial voxel shared with a ventricle: background (0.5) wins
    f[row[4], 5, 5, 5] = 0.25
    f[row[2], 0:6, 5, 0:3] = 0.5  # 18 voxels of half WM, half cortex: WM wins (first label)
    f[row[3], 0:6, 5, 0:3] = 0.5
    f[row[1001], 0, 3, 0:4] = 1.0  # 4 voxels of a left cortical parcel
    f[row[2002], 5, 0, 0:2] = 0.75  # 2 voxels of a right parcel, 0.75 each
    sums = {2: 9.0, 3: 9.0, 4: 0.25, 17: 8.625, 53: 8.25, 1001: 4.0, 2002: 1.5}
    counts = {2: 18, 3: 0, 4: 0, 17: 9, 53: 8, 1001: 4, 2002: 2}
    seg = Segmentation(dseg=dseg_from_fractions(f, LABELS), labels=LABELS, fractions=f, names=NAMES)
    return seg, sums, counts


def test_volumes_are_fraction_sums_and_voxel_counts():
    seg, sums, counts = _boxes()
    voxel_ml = 0.008  # 2 mm voxels
    table = seg.volumes(voxel_ml)
    assert list(table.columns) == ["label", "name", "voxels", "ml"]
    per_label = table.iloc[: len(LABELS)]
    assert per_label["label"].tolist() == list(LABELS)
    assert per_label["name"].tolist() == list(NAMES)
    for _, r in per_label.iterrows():
        assert r["voxels"] == counts[r["label"]], r
        assert r["ml"] == pytest.approx(sums[r["label"]] * voxel_ml, rel=1e-12, abs=0), r


def test_structure_rows_add_up():
    seg, sums, counts = _boxes()
    table = seg.volumes(0.008).set_index("name")
    structures = table[table["label"] == STRUCTURE_ROW_LABEL]
    assert list(structures.index) == list(STRUCTURES)
    expected = {
        "hippocampus": (17, 53),
        "amygdala": (),
        "lateral_ventricles": (4,),
        "cortex": (3, 1001, 2002),  # cortical parcels count as cortex
        "cerebral_white_matter": (2,),
    }
    for name, ids in expected.items():
        assert structures.loc[name, "ml"] == pytest.approx(sum(sums[i] for i in ids) * 0.008)
        assert structures.loc[name, "voxels"] == sum(counts[i] for i in ids)
    weights = seg.structure_fraction("hippocampus")
    assert weights.dtype == np.float32 and weights.shape == seg.dseg.shape
    assert float(weights.sum(dtype=np.float64)) == pytest.approx(sums[17] + sums[53])


def test_dseg_rule_background_and_ties():
    seg, _, _ = _boxes()
    assert seg.dseg.dtype == np.int16
    assert seg.dseg[2, 0, 0] == 17  # partial voxel where the label beats background
    assert seg.dseg[5, 5, 5] == 0  # 0.25 + 0.25 labels, background 0.5 wins
    assert seg.dseg[1, 5, 1] == 2  # WM/cortex tie: first label
    assert seg.dseg[5, 0, 0] == 2002


def test_structures_are_the_demo_groups_plus_white_matter():
    from latentcf.demo.anatomy import STRUCTURE_GROUPS

    assert STRUCTURES["cerebral_white_matter"] == (2, 41)
    assert {k: STRUCTURES[k] for k in STRUCTURE_GROUPS} == STRUCTURE_GROUPS
    assert list(STRUCTURE_GROUPS) == ["hippocampus", "amygdala", "lateral_ventricles", "cortex"]


def test_write_dseg_round_trip(tmp_path):
    seg, _, _ = _boxes()
    affine = grid_affine(2)
    path = write_dseg(seg, affine, tmp_path / "sub-01_dseg.nii.gz")
    img = nib.load(path)
    assert img.get_data_dtype() == np.int16
    np.testing.assert_array_equal(np.asarray(img.dataobj), seg.dseg)
    np.testing.assert_allclose(img.affine, affine)
    assert voxel_volume_ml(affine) == pytest.approx(0.008)
    assert not list(tmp_path.glob("*.tmp*"))
    table = seg.label_table()
    assert table["index"].tolist() == [0, *LABELS]


def test_segmentation_checks_shapes():
    with pytest.raises(ValueError, match="do not match"):
        Segmentation(
            dseg=np.zeros((2, 2, 2), np.int16),
            labels=(17,),
            fractions=np.zeros((2, 2, 2, 2), np.float32),
            names=("a",),
        )
