"""NIfTI input checks: each bad file gives a message naming the file and the problem."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from latentcf.errors import InputDataError
from latentcf.io import load_t1w, read_header_checked, save_nifti_atomic


def write(tmp_path, data, name="img.nii.gz", zooms=(2.0, 2.0, 2.0)):
    affine = np.diag(list(zooms[:3]) + [1.0])
    img = nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine)
    img.header.set_zooms(tuple(zooms)[:3] + (1.0,) * (np.ndim(data) - 3))
    path = tmp_path / name
    nib.save(img, path)
    return path


def volume(shape=(8, 9, 10)):
    return np.random.default_rng(0).random(shape).astype(np.float32)


def test_valid_3d_roundtrip(tmp_path):
    path = write(tmp_path, volume())
    img = load_t1w(path)
    assert img.shape == (8, 9, 10) and img.get_data_dtype() == np.float32


def test_singleton_4d_is_accepted(tmp_path):
    path = write(tmp_path, volume((8, 9, 10, 1)), zooms=(2.0, 2.0, 2.0, 1.0))
    assert load_t1w(path).shape == (8, 9, 10)


@pytest.mark.parametrize(
    ("data", "zooms", "expected"),
    [
        (volume((8, 9, 10, 3)), (2.0, 2.0, 2.0, 1.0), "expected a 3D image, got 4D (8, 9, 10, 3)"),
        (volume((8, 9, 1)), (2.0, 2.0, 2.0), "2D slice"),
        (volume(), (2.0, 2.0, 50.0), "voxel size (2.0, 2.0, 50.0) mm is outside"),
    ],
)
def test_bad_geometry(tmp_path, data, zooms, expected):
    path = write(tmp_path, data, zooms=zooms)
    with pytest.raises(InputDataError) as info:
        read_header_checked(path)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_nan_and_constant_images(tmp_path):
    data = volume()
    data[1, 2, 3] = np.nan
    with pytest.raises(InputDataError, match="1 voxels are NaN or Inf"):
        load_t1w(write(tmp_path, data, "nan.nii.gz"))
    with pytest.raises(InputDataError, match="the image is constant"):
        load_t1w(write(tmp_path, np.ones((8, 9, 10)), "const.nii.gz"))


def test_truncated_and_corrupt_files(tmp_path):
    good = write(tmp_path, volume((30, 30, 30)))
    truncated = tmp_path / "truncated.nii.gz"
    truncated.write_bytes(good.read_bytes()[:-2000])
    with pytest.raises(InputDataError, match="truncated"):
        load_t1w(truncated)
    corrupt = tmp_path / "corrupt.nii.gz"
    corrupt.write_bytes(gzip.compress(b"not a nifti header" * 30))
    with pytest.raises(InputDataError, match="unreadable NIfTI"):
        read_header_checked(corrupt)


def test_missing_and_wrong_suffix(tmp_path):
    with pytest.raises(InputDataError, match="file not found"):
        read_header_checked(tmp_path / "absent.nii.gz")
    with pytest.raises(InputDataError, match="expected a NIfTI file"):
        read_header_checked(tmp_path / "scan.mgz")


def test_atomic_save_leaves_no_temporary_files(tmp_path):
    img = nib.Nifti1Image(volume(), np.eye(4))
    out = save_nifti_atomic(img, tmp_path / "sub" / "out.nii.gz")
    assert np.allclose(nib.load(out).get_fdata(), volume())
    assert [p.name for p in out.parent.iterdir()] == ["out.nii.gz"]


def test_nifti_gz_bytes_depend_only_on_the_image(tmp_path):
    """Same image, other name and time: same .nii.gz bytes (gzip header: no name, mtime 0)."""
    import time

    img = nib.Nifti1Image(volume(), np.diag([2.0, 2.0, 2.0, 1.0]))
    first = save_nifti_atomic(img, tmp_path / "a" / "first.nii.gz")
    time.sleep(1.1)  # gzip stores whole seconds
    second = save_nifti_atomic(img, tmp_path / "b" / "second_name.nii.gz")
    raw = first.read_bytes()
    assert raw == second.read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    assert raw[4:8] == b"\x00\x00\x00\x00", "gzip mtime is not 0"
    assert not raw[3] & 0x08, "gzip header stores a file name (the temporary one)"


# ---------------------------------------------------------------- the write policy


def test_crash_mid_write_leaves_the_old_file_and_no_temporary(tmp_path):
    from latentcf.io import atomic_write, write_text_atomic

    target = write_text_atomic("old\n", tmp_path / "table.tsv")

    def half_then_crash(tmp):
        Path(tmp).write_text("new, but only ha")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_then_crash)
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.tsv"]


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_outputs_get_the_usual_permissions(tmp_path, umask):
    """Files and folders follow the umask (group-readable on a shared cluster), not mkstemp's 0600."""
    import pandas as pd

    from latentcf.io import (
        atomic_directory,
        save_nifti_atomic,
        save_npy_atomic,
        write_json_atomic,
        write_tsv_atomic,
    )

    old = os.umask(umask)
    try:
        files = [
            write_json_atomic({"a": 1}, tmp_path / "qc.json"),
            write_tsv_atomic(pd.DataFrame({"a": [1.5]}), tmp_path / "t.tsv"),
            save_npy_atomic(np.zeros(3), tmp_path / "z.npy"),
            save_nifti_atomic(
                nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), np.eye(4)), tmp_path / "x.nii.gz"
            ),
        ]
        with atomic_directory(tmp_path / "tree") as tree:
            (tree / "f.txt").write_text("x")
    finally:
        os.umask(old)
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path
    assert (tmp_path / "tree").stat().st_mode & 0o777 == 0o777 & ~umask
    assert (tmp_path / "tree" / "f.txt").read_text() == "x"
