"""ONNX backend on tiny synthetic models (no third-party files): geometry, labels, errors."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from seg_helpers import conv_model, write_labels

from latentcf.errors import ConfigError, InputDataError
from latentcf.grid import grid_affine
from latentcf.segment import build_segmenter, voxel_volume_ml
from latentcf.segment.onnx_backend import label_table_path

# logits = w * t1 + b; with t1 in [0, 1] the winning channel is: background below 0.2, channel 3
# (a left cortical parcel) in (0.2, 0.5), channel 2 (53) in (0.5, 0.93), channel 1 (17) above.
WEIGHTS = [0.0, 60.0, 30.0, 10.0]
BIASES = [0.0, -40.0, -12.0, -2.0]
ROWS = [(0, 0, "Unknown"), (1, 17, "Left-Hippocampus"), (2, 53, "Right-Hippocampus"),
        (3, 1001, "ctx-lh-bankssts")]  # fmt: skip
# Boxes on the 4 mm model grid: (slices, intensity, expected label)
BOXES = [
    ((slice(10, 14), slice(10, 15), slice(10, 13)), 1.0, 17),  # 60 voxels
    ((slice(20, 26), slice(20, 22), slice(20, 24)), 0.65, 53),  # 48 voxels
    ((slice(5, 7), slice(30, 33), slice(25, 30)), 0.3, 1001),  # 30 voxels
]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    path = conv_model(folder / "conv.onnx", WEIGHTS, BIASES)
    write_labels(folder / "conv.labels.tsv", ROWS)
    return path


def _image() -> tuple[nib.Nifti1Image, np.ndarray]:
    data = np.zeros((40, 48, 40), dtype=np.float32)
    truth = np.zeros(data.shape, dtype=np.int16)
    for box, value, label in BOXES:
        data[box] = value
        truth[box] = label
    return nib.Nifti1Image(data, grid_affine(4)), truth


def _config(model, **onnx) -> dict:
    # A conform that only reorients (LIA, 4 mm, the grid's extent): exact geometry to test.
    base = {"model": str(model), "voxel_size_mm": 4.0, "shape": [40, 40, 48]}
    return {"backend": "onnx", "threads": 1, "onnx": {**base, **onnx}}


def test_reoriented_labels_land_back_on_the_image_grid(model):
    image, truth = _image()
    seg = build_segmenter(_config(model), 4).segment(image)
    assert seg.labels == (17, 53, 1001)
    assert seg.names == ("Left-Hippocampus", "Right-Hippocampus", "ctx-lh-bankssts")
    np.testing.assert_array_equal(seg.dseg, truth)
    assert set(np.unique(seg.fractions)) == {0.0, 1.0}
    table = seg.volumes(voxel_volume_ml(image.affine)).set_index("name")
    assert table.loc["Left-Hippocampus", "ml"] == pytest.approx(60 * 0.064)
    assert table.loc["hippocampus", "ml"] == pytest.approx(108 * 0.064)
    assert table.loc["cortex", "ml"] == pytest.approx(30 * 0.064)  # parcel -> cortex
    assert table.loc["cortex", "voxels"] == 30


def test_one_mm_conform_gives_partial_volumes_that_keep_the_volume(tmp_path):
    """The MeshNet grid (256^3, 1 mm, LIA): the labels of the 1 mm network voxels averaged over
    each 4 mm image voxel, so the volume is that of the network's labels, in partial voxels."""
    from nibabel.processing import conform

    model = conv_model(tmp_path / "half.onnx", [0.0, 20.0], [0.0, -9.0])  # label where x > 0.45
    write_labels(tmp_path / "half.labels.tsv", [(0, 0, "Unknown"), (1, 17, "Left-Hippocampus")])
    image, truth = _image()
    binary = nib.Nifti1Image((np.asarray(image.dataobj) > 0).astype(np.float32), image.affine)
    options = {"voxel_size_mm": 1.0, "shape": [256, 256, 256], "interpolation_order": 1}
    seg = build_segmenter(_config(model, **options), 4).segment(binary)
    assert seg.labels == (17,)
    partial = (seg.fractions > 0.05) & (seg.fractions < 0.95)
    assert np.any(partial) and seg.fractions.max() <= 1.0
    conformed = conform(binary, (256, 256, 256), (1, 1, 1), order=1, orientation="LIA")
    network_voxels = int(np.sum(np.asarray(conformed.dataobj) > 0.45))
    assert float(seg.fractions.sum(dtype=np.float64)) * 64 == pytest.approx(
        network_voxels, rel=1e-4
    )
    voxels = int(np.sum(truth > 0))
    assert network_voxels / 64 == pytest.approx(voxels, rel=0.25)  # edges on 1 mm voxel centres
    inner = np.zeros_like(truth, dtype=bool)
    for box, _, _ in BOXES:
        inner[tuple(slice(b.start + 1, b.stop - 1) for b in box)] = True
    assert np.all(seg.dseg[inner] == 17)
    assert np.all(seg.dseg[truth == 0] == 0)


def test_softmax_fractions_are_probabilities(model):
    image, _ = _image()
    seg = build_segmenter(_config(model, fractions="softmax"), 4).segment(image)
    x = np.asarray(image.dataobj)
    for voxel in [(12, 12, 11), (22, 21, 21), (6, 31, 27), (8, 20, 20)]:
        logits = np.asarray(WEIGHTS) * x[voxel] + np.asarray(BIASES)
        p = np.exp(logits - logits.max())
        np.testing.assert_allclose(seg.fractions[(slice(None), *voxel)], p[1:] / p.sum(), rtol=1e-5)
    # outside the crop (voxels <= 0.2 plus a margin) everything is background
    assert not np.any(seg.fractions[:, 35:, :, :])
    assert float(seg.fractions.sum(axis=0).max()) <= 1.0 + 1e-6


def test_channels_sharing_a_label_are_merged(tmp_path):
    """A merged-hemisphere table: two channels name the same id; the label appears once."""
    model = conv_model(tmp_path / "m.onnx", WEIGHTS, BIASES)
    write_labels(tmp_path / "m.labels.tsv", [(0, 0, "Unknown"), (1, 17, "Hippocampus"),
                                             (2, 17, "Hippocampus"), (3, 1001, "ctx")])  # fmt: skip
    image, truth = _image()
    seg = build_segmenter(_config(model), 4).segment(image)
    assert seg.labels == (17, 1001)
    np.testing.assert_array_equal(seg.dseg, np.where(truth == 53, 17, truth))


def test_same_image_twice_gives_identical_bytes(model):
    image, _ = _image()
    segmenter = build_segmenter(_config(model, voxel_size_mm=2.0, shape=[80, 80, 96]), 4)
    a, b = segmenter.segment(image), segmenter.segment(image)
    assert a.dseg.tobytes() == b.dseg.tobytes()
    assert a.fractions.tobytes() == b.fractions.tobytes()


def test_a_file_that_is_not_onnx_is_refused(tmp_path):
    bad = tmp_path / "weights.onnx"
    bad.write_text("this is not a model\n")
    write_labels(tmp_path / "weights.labels.tsv", ROWS)
    with pytest.raises(InputDataError, match=r"weights\.onnx: not a valid ONNX model") as err:
        build_segmenter(_config(bad), 4)
    assert err.value.path == bad


def test_a_label_table_with_the_wrong_number_of_rows_is_refused(model, tmp_path):
    short = write_labels(tmp_path / "short.tsv", ROWS[:3])
    with pytest.raises(InputDataError, match=r"short\.tsv: 3 rows, but the model has 4 output"):
        build_segmenter(_config(model, labels=str(short)), 4)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("index\tid\tname\n0\t0\tUnknown\n", r"missing \['label'\]"),
        ("index\tlabel\tname\n0\t0\tA\n1\tx\tB\n2\t3\tC\n3\t4\tD\n", "column 'label' must hold"),
        ("index\tlabel\tname\n0\t0\tA\n1\t2\tB\n1\t3\tC\n3\t4\tD\n", "0 .. 3 once each"),
    ],
)
def test_bad_label_tables_name_the_file(model, tmp_path, text, problem):
    table = tmp_path / "bad.tsv"
    table.write_text(text)
    with pytest.raises(InputDataError, match=rf"bad\.tsv: .*{problem}"):
        build_segmenter(_config(model, labels=str(table)), 4)


def test_missing_model_and_tables(tmp_path):
    with pytest.raises(ConfigError, match="segment.onnx.model"):
        build_segmenter({"backend": "onnx"}, 4)
    with pytest.raises(InputDataError, match="ONNX model file not found"):
        build_segmenter(_config(tmp_path / "absent.onnx"), 4)
    model = conv_model(tmp_path / "lonely.onnx", WEIGHTS, BIASES)
    with pytest.raises(InputDataError, match=r"lonely\.labels\.tsv: label table not found"):
        build_segmenter(_config(model), 4)
    assert label_table_path("/m/a.onnx", None).name == "a.labels.tsv"
    assert str(label_table_path("/m/a.onnx", "/t/x.tsv")) == "/t/x.tsv"
