"""Same inputs, same outputs: two runs of the three steps agree byte for byte.

The registration's voxel sampling is seeded (preprocess.registration.random_seed); without the
seed ANTs draws one from the clock and the transform, and every model-grid image after it,
differ between runs. A different seed must give a (slightly) different transform, which proves
that the seed reaches antsRegistration.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import ants
import numpy as np
import pytest

from latentcf.config import section_defaults
from latentcf.errors import ConfigError
from latentcf.preprocess.pipeline import run_grid, run_native, run_registration
from latentcf.preprocess.register import ants_random_seed, check_random_seed, load_transform
from latentcf.preprocess.summary import write_qc_summary

NATIVE = ("t1w.nii.gz", "mask.nii.gz", "ss.png", "ss.json")
REGISTRATION = ("xfm.mat", "reg.png", "reg.json")
GRID = ("grid_T1w.nii.gz", "grid_mask.nii.gz")
QC = ("qc.tsv", "qc.png")


def _run(t1w: Path, out: Path, registration: dict | None = None) -> Path:
    """The three steps on `t1w` into `out`, then the cohort QC table and mosaic of this one scan."""
    native = [out / n for n in NATIVE]
    run_native(t1w, *native)
    run_registration(
        native[0], native[1], *(out / n for n in REGISTRATION), registration=registration
    )
    run_grid(native[0], native[1], out / "xfm.mat", *(out / n for n in GRID), resolution_mm=2)
    write_qc_summary(
        ["sub-posed"], [native[3]], [out / "reg.json"], [out / GRID[0]], out / QC[0], out / QC[1]
    )
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _max_displacement_mm(a: ants.ANTsTransform, b: ants.ANTsTransform) -> float:
    """Largest distance between where `a` and `b` send the corners of a brain-sized box (mm)."""
    corners = itertools.product((-70.0, 70.0), (-100.0, 70.0), (-50.0, 80.0))
    return max(
        float(np.linalg.norm(np.subtract(a.apply_to_point(p), b.apply_to_point(p))))
        for p in corners
    )


@pytest.fixture(scope="module")
def two_runs(posed_template, tmp_path_factory) -> tuple[Path, Path]:
    """The posed 2 mm template head preprocessed twice (default settings), in two folders."""
    return tuple(_run(posed_template["path"], tmp_path_factory.mktemp(f"run{i}")) for i in (1, 2))


@pytest.mark.parametrize("name", NATIVE + REGISTRATION + GRID + QC)
def test_two_runs_write_identical_files(two_runs, name):
    first, second = (run / name for run in two_runs)
    assert _sha256(first) == _sha256(second), f"{name} differs between two runs of the same scan"


def test_another_seed_reaches_ants(two_runs, tmp_path):
    """Seed 2 moves the transform a little (not at all would mean the seed never reached ANTs)."""
    native = two_runs[0]
    # the two runs used the schema's default seed
    assert section_defaults("preprocess.schema.yaml")["registration"]["random_seed"] != 2
    xfm = tmp_path / "xfm.mat"
    run_registration(
        native / NATIVE[0],
        native / NATIVE[1],
        xfm,
        tmp_path / "reg.png",
        tmp_path / "reg.json",
        registration={"random_seed": 2},
    )
    assert _sha256(xfm) != _sha256(native / "xfm.mat")
    shift = _max_displacement_mm(load_transform(xfm), load_transform(native / "xfm.mat"))
    assert 1e-4 < shift < 1.0, shift  # sampling noise, not another alignment


def test_seed_is_restored_for_other_callers():
    before = ants.config._random_seed
    with ants_random_seed(7):
        assert ants.config._random_seed == 7
    assert ants.config._random_seed == before
    ants.config._random_seed = 123  # someone else's global choice survives our calls
    try:
        with pytest.raises(RuntimeError), ants_random_seed(7):
            raise RuntimeError("registration failed")
        assert ants.config._random_seed == 123
    finally:
        ants.config._random_seed = before


@pytest.mark.parametrize("seed", [-1, 2**31, 1.5, True, "1"])
def test_bad_seed_names_the_config_key(seed):
    with pytest.raises(ConfigError, match="preprocess.registration.random_seed"):
        check_random_seed(seed)
