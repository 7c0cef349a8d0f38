"""Both backends on two real adult heads (IXI, 2 mm, skull on) and the MeshNet models.

Atlas: each scan preprocessed to the 2 mm model grid, segmented there; volumes brought back to
native ml with the affine's scale. ONNX: the 18-class model (hemispheres merged) on the native
head, as its convention expects, and on the model-grid image. Plausible adult ranges: hippocampus
2-5 ml per side (4-10 ml both), lateral ventricles 5-80 ml. Skipped where ../shared is absent.
"""

from __future__ import annotations

import nibabel as nib
import pytest

from latentcf.errors import InputDataError
from latentcf.segment import build_segmenter, voxel_volume_ml

pytestmark = pytest.mark.realdata


def _onnx(meshnet_dir, model="model18cls", **options):
    onnx = {"model": str(meshnet_dir / f"{model}.onnx"), **options}
    return build_segmenter({"backend": "onnx", "onnx": onnx}, 2)


def _native_ml(seg, affine, det: float = 1.0):
    table = seg.volumes(voxel_volume_ml(affine))
    return {
        (row["label"], row["name"]): row["ml"] * det for _, row in table.iterrows()
    }, table.assign(native_ml=table["ml"] * det)


def test_atlas_backend_volumes_are_plausible(ixi_model_grid):
    segmenter = build_segmenter(None, 2)
    for scan, (path, det) in ixi_model_grid.items():
        img = nib.load(path)
        seg = segmenter.segment(img)
        ml, table = _native_ml(seg, img.affine, det)
        report = f"{scan}, |det| {det:.3f}:\n{table.to_string()}"
        left, right = ml[(17, "Left-Hippocampus")], ml[(53, "Right-Hippocampus")]
        assert 2.0 <= left <= 5.0 and 2.0 <= right <= 5.0, report
        assert 5.0 <= ml[(-1, "lateral_ventricles")] <= 80.0, report
        assert 300.0 <= ml[(-1, "cortex")] <= 800.0, report
        assert 300.0 <= ml[(-1, "cerebral_white_matter")] <= 800.0, report
        print(report)


def test_onnx_backend_on_native_heads(meshnet_dir, ixi_paths):
    segmenter = _onnx(meshnet_dir)
    for scan, path in ixi_paths.items():
        img = nib.load(path)
        seg = segmenter.segment(img)
        assert seg.dseg.shape == img.shape
        ml, table = _native_ml(seg, img.affine)
        report = f"{scan} (18-class, merged hemispheres):\n{table.to_string()}"
        assert 4.0 <= ml[(17, "Hippocampus")] <= 10.0, report  # both sides
        assert 5.0 <= ml[(-1, "lateral_ventricles")] <= 80.0, report
        print(report)


def test_onnx_backend_on_a_model_grid_image_is_reproducible(meshnet_dir, ixi_model_grid):
    path, det = ixi_model_grid["IXI012-HH-1211"]
    img = nib.load(path)
    segmenter = _onnx(meshnet_dir)
    a, b = segmenter.segment(img), segmenter.segment(img)
    assert a.dseg.tobytes() == b.dseg.tobytes()
    assert a.fractions.tobytes() == b.fractions.tobytes()
    ml, table = _native_ml(a, img.affine, det)
    assert 4.0 <= ml[(17, "Hippocampus")] <= 10.0, table.to_string()
    assert 5.0 <= ml[(-1, "lateral_ventricles")] <= 80.0, table.to_string()


def test_real_model_with_a_mismatched_label_table_is_refused(meshnet_dir):
    table = meshnet_dir / "model21_104class.labels.tsv"
    with pytest.raises(InputDataError, match=r"model21_104class\.labels\.tsv: 104 rows, but the "
                       r"model has 18 output channels"):  # fmt: skip
        _onnx(meshnet_dir, labels=str(table))
