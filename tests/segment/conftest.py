"""Fixtures of the segmentation tests: thread limits, the MeshNet models and the IXI scans
from ../shared (skipped with the reason where absent; a failure under CI=true), and the IXI
scans preprocessed to the 2 mm model grid once per session."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from latentcf.preprocess import set_threads

IXI_SCANS = ("IXI012-HH-1211_T1.nii.gz", "IXI015-HH-1258_T1.nii.gz")


@pytest.fixture(scope="session", autouse=True)
def _two_threads():
    set_threads(2)


def missing_asset(reason: str) -> None:
    """Skip the test with `reason`, except under CI (CI=true), where a missing asset fails it."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"missing real-data asset under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def meshnet_dir(shared_dir: Path) -> Path:
    """../shared/models/meshnet: two pretrained ONNX segmentation models with label tables."""
    folder = shared_dir / "models" / "meshnet"
    for name in ("model18cls.onnx", "model18cls.labels.tsv", "model21_104class.labels.tsv"):
        if not (folder / name).is_file():
            missing_asset(f"MeshNet model file {folder / name} is absent")
    return folder


@pytest.fixture(scope="session")
def ixi_paths(shared_dir: Path) -> dict[str, Path]:
    """The two real IXI heads (2 mm, skull on), by scan name."""
    folder = shared_dir / "data" / "ixi"
    paths = {name.split("_")[0]: folder / name for name in IXI_SCANS}
    for path in paths.values():
        if not path.is_file():
            missing_asset(f"real IXI scan {path} is absent")
    return paths


@pytest.fixture(scope="session")
def ixi_model_grid(ixi_paths: dict[str, Path], tmp_path_factory) -> dict[str, tuple[Path, float]]:
    """Each IXI scan preprocessed to the 2 mm model grid (run_native -> run_registration ->
    run_grid): (model-grid image path, |det| of the .mat transform's linear part, which maps
    template to native, so native ml = template ml x |det|)."""
    from latentcf.preprocess.pipeline import run_grid, run_native, run_registration
    from latentcf.preprocess.register import load_transform

    out = {}
    for scan, path in ixi_paths.items():
        d = tmp_path_factory.mktemp(scan)
        run_native(path, d / "t1w.nii.gz", d / "mask.nii.gz", d / "ss.png", d / "ss.json")
        run_registration(
            d / "t1w.nii.gz", d / "mask.nii.gz", d / "xfm.mat", d / "r.png", d / "r.json"
        )
        run_grid(
            d / "t1w.nii.gz",
            d / "mask.nii.gz",
            d / "xfm.mat",
            d / "grid.nii.gz",
            d / "grid_mask.nii.gz",
            resolution_mm=2,
        )
        linear = np.asarray(load_transform(d / "xfm.mat").parameters[:9], dtype=float).reshape(3, 3)
        out[scan] = (d / "grid.nii.gz", float(abs(np.linalg.det(linear))))
    return out
