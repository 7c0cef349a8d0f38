"""NIfTI reading with input checks, and atomic writing.

`read_header_checked` is cheap (header only) and is what ingest uses for every scan;
`load_t1w` reads the voxels too and is what per-scan stages use, so that a truncated or
NaN-filled file fails its own job and nothing else. Every output file is written through
:func:`atomic_path` (one write policy: atomic, usual permissions).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nibabel as nib
import numpy as np
from nibabel.openers import ImageOpener

if TYPE_CHECKING:
    import pandas as pd

from latentcf.errors import InputDataError

# Voxel sizes outside this range (mm) are almost certainly a broken header.
MIN_VOXEL_MM = 0.1
MAX_VOXEL_MM = 10.0
NIFTI_SUFFIXES = (".nii", ".nii.gz")


def read_header_checked(path: str | Path) -> nib.Nifti1Image:
    """Open `path` as a 3D NIfTI (header only) or raise :class:`InputDataError`.

    Accepts 4D images whose 4th axis has length 1. Voxel data are not read.
    """
    path = Path(path)
    if not path.name.endswith(NIFTI_SUFFIXES):
        raise InputDataError(
            path, f"expected a NIfTI file ending in .nii or .nii.gz, got '{path.name}'"
        )
    if not path.is_file():
        raise InputDataError(
            path, "file not found", "Check the path in the cohort table or BIDS folder"
        )
    try:
        img = nib.load(str(path))
    except Exception as exc:  # nibabel raises several types for corrupt headers
        raise InputDataError(
            path,
            f"unreadable NIfTI ({type(exc).__name__}: {exc})",
            "Re-export or re-download the file",
        ) from exc
    shape = img.shape
    if len(shape) == 4 and shape[3] == 1:
        pass
    elif len(shape) != 3:
        kind = f"{len(shape)}D {tuple(shape)}"
        raise InputDataError(
            path,
            f"expected a 3D image, got {kind}",
            "Pass one T1w volume per file (a 4D file with a single volume is accepted)",
        )
    if min(shape[:3]) < 2:
        raise InputDataError(
            path,
            f"expected a 3D image, got a 2D slice of shape {tuple(shape)}",
            "Pass one 3D T1w volume per file",
        )
    _check_voxel_size(path, img)
    if not np.all(np.isfinite(img.affine)) or abs(np.linalg.det(img.affine[:3, :3])) < 1e-9:
        raise InputDataError(
            path,
            "the voxel-to-world affine is singular or not finite",
            "Fix the header's sform/qform or re-convert the scan",
        )
    return img


def _mm(sizes: Any) -> tuple[float, ...]:
    """Voxel sizes for messages: 4 significant digits, tiny ones not rounded to 0."""
    return tuple(float(f"{float(z):.4g}") for z in sizes)


def _check_voxel_size(path: Path, img: nib.Nifti1Image) -> None:
    """Refuse a voxel size outside [MIN_VOXEL_MM, MAX_VOXEL_MM] in the header or the affine.

    nibabel silently turns a stored pixdim of 0 into 1 and a negative one into its absolute
    value, so the stored header is re-read without those fixes; the affine's voxel sizes are
    what the registration and resampling use.
    """
    fix = "The header's pixdim/sform is probably wrong; fix it before running the workflow"
    with ImageOpener(str(path)) as fh:
        stored = type(img.header).from_fileobj(fh, check=False)
    pixdim = np.asarray(stored["pixdim"][1:4], dtype=float)
    if not np.all(np.isfinite(pixdim)) or pixdim.min() <= 0:
        raise InputDataError(
            path,
            f"expected positive voxel sizes in the header (pixdim[1:4]), got {_mm(pixdim)} mm",
            fix,
        )
    for what, sizes in (
        ("", np.asarray(img.header.get_zooms()[:3], dtype=float)),
        (" (from the affine)", np.linalg.norm(np.asarray(img.affine, dtype=float)[:3, :3], axis=0)),
    ):
        if (
            not np.all(np.isfinite(sizes))
            or sizes.min() < MIN_VOXEL_MM
            or sizes.max() > MAX_VOXEL_MM
        ):
            raise InputDataError(
                path,
                f"voxel size{what} {_mm(sizes)} mm is outside [{MIN_VOXEL_MM}, {MAX_VOXEL_MM}] mm",
                fix,
            )


def load_t1w(path: str | Path) -> nib.Nifti1Image:
    """Load a 3D T1w image with its voxels as float32, after full validity checks.

    Returns a 3D `Nifti1Image` (a singleton 4th axis is dropped). Raises
    :class:`InputDataError` for unreadable/truncated/corrupt files, wrong dimensionality,
    NaN/Inf voxels and constant images.
    """
    img = read_header_checked(path)
    try:
        if Path(path).name.endswith(".gz"):
            # The whole stream, so that its CRC is checked: nibabel stops reading after the
            # last voxel, and a corrupt block in the middle would give wrong voxels silently.
            img = type(img).from_bytes(gzip.decompress(Path(path).read_bytes()))
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as exc:  # truncated or corrupt gzip, short file
        raise InputDataError(
            path,
            f"could not read the voxel data ({type(exc).__name__}: {exc}); the file is truncated or corrupt",
            "Re-copy or re-download the file",
        ) from exc
    if data.ndim == 4:
        data = data[..., 0]
    n_bad = int(np.count_nonzero(~np.isfinite(data)))
    if n_bad:
        raise InputDataError(
            path,
            f"{n_bad} voxels are NaN or Inf; expected finite intensities",
            "Replace them (e.g. by 0) or re-export the scan",
        )
    if float(data.max()) == float(data.min()):
        raise InputDataError(
            path,
            f"the image is constant (every voxel is {float(data.min())}); expected a T1w scan",
            "Check the conversion that wrote this file (an empty image usually means it failed)",
        )
    header = img.header.copy()
    header.set_data_dtype(np.float32)
    return nib.Nifti1Image(data, img.affine, header)


def save_nifti_atomic(img: nib.Nifti1Image, path: str | Path) -> Path:
    """Write `img` to `path` atomically (see :func:`atomic_path`)."""
    suffix = ".nii.gz" if str(path).endswith(".nii.gz") else ".nii"
    with atomic_path(path, suffix) as tmp:
        nib.save(img, str(tmp))
    return Path(path)


# ---------------------------------------------------------------- the one write policy


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success give it the usual permissions and
    rename it to `path`, on failure delete it.

    Every output is written this way: a crash mid-write never leaves a partial file under the
    final name (the old file, if any, stays), and the file is readable like any other file the
    user creates (0666 minus the umask; ``tempfile.mkstemp`` alone would leave 0600, unreadable
    to a lab group on a shared cluster). `suffix` (default: the name's suffixes) lets writers
    that pick the format from the extension (nibabel, matplotlib) see the right one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = suffix if suffix is not None else "".join(path.suffixes[-2:]) or ".tmp"
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write(path: str | Path, write: Callable[[str], Any]) -> Path:
    """Call `write(tmp)` on a temporary file beside `path`, then rename it (:func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        write(str(tmp))
    return Path(path)


def write_text_atomic(text: str, path: str | Path) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json_atomic(data: Any, path: str | Path) -> Path:
    """Write `data` as indented JSON with sorted keys to `path` atomically."""
    return write_text_atomic(json.dumps(data, indent=2, sort_keys=True) + "\n", path)


def write_tsv_atomic(table: pd.DataFrame, path: str | Path, float_format: str = "%.6g") -> Path:
    """Write `table` tab-separated (missing values as n/a, no index) to `path` atomically."""
    return atomic_write(
        path,
        lambda tmp: table.to_csv(
            tmp, sep="\t", index=False, float_format=float_format, na_rep="n/a", lineterminator="\n"
        ),
    )


def save_npy_atomic(array: np.ndarray, path: str | Path) -> Path:
    """np.save `array` (no pickles) to `path` atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            np.save(fh, array, allow_pickle=False)

    return atomic_write(path, write)


def save_npz_atomic(path: str | Path, **arrays: np.ndarray) -> Path:
    """np.savez-compatible archive of `arrays` written atomically, byte-reproducible: numpy's
    own savez stamps each member with the current time."""
    import zipfile

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, array in arrays.items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                with archive.open(info, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)

    return atomic_write(path, write)


def save_figure_atomic(fig: Any, path: str | Path, **savefig: Any) -> Path:
    """Save a matplotlib figure as PNG to `path` atomically, then close it."""
    import matplotlib.pyplot as plt

    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", **savefig))
    finally:
        plt.close(fig)


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; on success replace `path` by it (usual
    permissions, 0777 minus the umask, not mkdtemp's 0700), on failure delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
