"""The bad-input matrix: one test per kind of bad input, run through the function its workflow
rule calls (scripts/*.py). A refusal raises the project's error class with a message naming the
file or config key, what is wrong and what to do, and leaves no output behind; the "must work"
cases give the right result. MESSAGES is what the user reads, case by case.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml

from latentcf.cohort import IngestError, read_cohort, run_ingest
from latentcf.config import ConfigValidationError, validate_config
from latentcf.errors import InputDataError, LatentCFError
from latentcf.io import load_t1w, write_tsv_atomic

VOXEL_FIX = "The header's pixdim/sform is probably wrong; fix it before running the workflow"
STRICT = "scan(s) with problems (ingest.strict: true)"
STRICT_FIX = "Fix these values or files, or set ingest.strict: false to leave these scans out"

# CASE -> fragments of the one-line message (after "<file or config key>: ").
MESSAGES: dict[str, tuple[str, ...]] = {
    # images: refused by ingest (header-level cases) and by the per-scan preprocess job (all)
    "corrupt gzip": ("unreadable NIfTI (", "Re-export or re-download the file"),
    "corrupt gzip block": (
        "could not read the voxel data (BadGzipFile: CRC check failed); "
        "the file is truncated or corrupt",
        "Re-copy or re-download the file",
    ),
    "truncated NIfTI": (
        "could not read the voxel data (EOFError: Compressed file ended before the end-of-stream "
        "marker was reached); the file is truncated or corrupt",
        "Re-copy or re-download the file",
    ),
    "2D image": (
        "expected a 3D image, got 2D (16, 16)",
        "Pass one T1w volume per file (a 4D file with a single volume is accepted)",
    ),
    "2D slice": (
        "expected a 3D image, got a 2D slice of shape (16, 16, 1)",
        "Pass one 3D T1w volume per file",
    ),
    "4D series": (
        "expected a 3D image, got 4D (16, 16, 16, 3)",
        "Pass one T1w volume per file (a 4D file with a single volume is accepted)",
    ),
    "NaN/Inf voxels": (
        "2 voxels are NaN or Inf; expected finite intensities",
        "Replace them (e.g. by 0) or re-export the scan",
    ),
    "all-zero image": (
        "the image is constant (every voxel is 0.0); expected a T1w scan",
        "Check the conversion that wrote this file (an empty image usually means it failed)",
    ),
    "voxel size 50 mm": ("voxel size (2.0, 2.0, 50.0) mm is outside [0.1, 10.0] mm", VOXEL_FIX),
    "voxel size 1e-6 mm": ("voxel size (2.0, 2.0, 1e-06) mm is outside [0.1, 10.0] mm", VOXEL_FIX),
    "pixdim NaN": (
        "expected positive voxel sizes in the header (pixdim[1:4]), got (2.0, 2.0, nan) mm",
        VOXEL_FIX,
    ),
    "pixdim 0": (
        "expected positive voxel sizes in the header (pixdim[1:4]), got (2.0, 2.0, 0.0) mm",
        VOXEL_FIX,
    ),
    "pixdim negative": (
        "expected positive voxel sizes in the header (pixdim[1:4]), got (2.0, -2.0, 2.0) mm",
        VOXEL_FIX,
    ),
    "affine voxel size 50 mm": (
        "voxel size (from the affine) (2.0, 2.0, 50.0) mm is outside [0.1, 10.0] mm",
        VOXEL_FIX,
    ),
    # covariate tables (ingest); per-scan problems exclude the scan, or fail in strict mode
    "missing covariate value": (
        "participants.tsv line 4, column 'age': missing value 'n/a'; expected a number in [0, 120]",
    ),
    "unseen category": (
        "participants.tsv line 4, column 'sex': unseen category 'f'; expected one of ['F', 'M']. "
        "Did you mean 'F'?",
    ),
    "duplicate participant": (
        "participants.tsv: lines 3 and 4, column 'participant_id': duplicate value 'sub-002'; "
        "expected one row per participant",
        "Merge or remove the duplicate rows",
    ),
    "duplicate session": (
        "sub-001_sessions.tsv: lines 2 and 3, column 'session_id': duplicate value 'ses-01'; "
        "expected one row per session",
        "Merge or remove the duplicate rows",
    ),
    "duplicate table row": (
        "scans.tsv: lines 2 and 3, columns 'participant_id'/'session_id': duplicate scan "
        "'sub-001'/'n/a'; expected one row per subject and session",
        "Merge or remove the duplicate rows",
    ),
    # the latent SCM (fit_scm)
    "collinear covariates": (
        "the design matrix over the train split is ill-conditioned (condition number",
        "> scm.max_condition_number 1e+06): columns ['age', 'age_months'] are (nearly) collinear",
        "Remove one of these covariates from image_parents (or scm.extra_terms), or set scm.ridge",
    ),
    # the config (validated when the Snakefile is parsed)
    "unknown config key": ("'<top level>': unknown key(s) ['sedd']", "Did you mean 'seed'?"),
    "unknown nested config key": (
        "'preprocess': unknown key(s) ['resolution_mn']",
        "Did you mean 'resolution_mm'?",
    ),
    "intervention on an unknown covariate": (
        "'interventions.0' (older): unknown covariate 'aeg' in shift; configured covariates are "
        "['age', 'sex']. Did you mean 'age'?",
    ),
    "intervention to an unseen level": (
        "'interventions.0' (female): unseen level 'Female' for 'sex'; expected one of ['F', 'M'].",
    ),
    "intervention shifting a category": (
        "'interventions.0' (flip): cannot shift categorical covariate 'sex'; "
        "use set: {sex: <level>}",
    ),
    "intervention out of range": (
        "'interventions.0' (old): set age: 200 is outside the range of 'age' [0, 120]",
    ),
    # model files
    "ONNX file that is not a model": (
        "not a valid ONNX model (onnxruntime: ",
        "Point segment.onnx.model at a SynthSeg-compatible .onnx network "
        "(re-download it if the file is truncated)",
    ),
    "checkpoint from another configuration": (
        "the file was trained with a different model configuration "
        "(latent_channels: file has 4, config has 8)",
        "Retrain the model (snakemake --forcerun train) or restore the config",
    ),
}

COVARIATES = {
    "age": {"type": "numeric", "min": 0, "max": 120},
    "sex": {"type": "categorical", "levels": ["F", "M"]},
}
SPLIT = {"val_fraction": 0.2, "test_fraction": 0.2}


def assert_message(error: BaseException, name: str, case: str) -> None:
    """The message names `name` (file or key) and holds every fragment of MESSAGES[case]."""
    message = str(error)
    assert isinstance(error, LatentCFError)
    assert name in message, message
    for fragment in MESSAGES[case]:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def files_under(folder: Path) -> list[Path]:
    """Every file or folder under `folder` (temporary ones included); [] if it does not exist."""
    return sorted(folder.rglob("*")) if folder.exists() else []


# ---------------------------------------------------------------- input files


def write_nifti(
    path: Path,
    data: np.ndarray | None = None,
    affine: np.ndarray | None = None,
    seed: int = 0,
) -> Path:
    """A random float32 16^3 image with 2 mm voxels (or `data`, `affine`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if data is None:
        data = np.random.default_rng(seed).random((16, 16, 16), dtype=np.float32)
    affine = np.diag([2.0, 2.0, 2.0, 1.0]) if affine is None else affine
    nib.save(nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine), str(path))
    return path


def with_pixdim(path: Path, values: Sequence[float]) -> Path:
    """`path` (.nii.gz) with pixdim[1:4] overwritten in the stored header, as nibabel would refuse
    to write (it turns 0 into 1 and negatives into their absolute value)."""
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[80:92] = struct.pack("<3f", *values)  # pixdim: 8 float32 at byte 76, little-endian
    path.write_bytes(gzip.compress(bytes(raw)))
    return path


def _volume() -> np.ndarray:
    return np.random.default_rng(1).random((16, 16, 16), dtype=np.float32)


def _non_finite() -> np.ndarray:
    data = _volume()
    data[1, 2, 3], data[4, 5, 6] = np.nan, -np.inf
    return data


def _corrupt_block(path: Path) -> Path:
    """A byte range in the middle of the deflate stream zeroed: the header still reads."""
    raw = write_nifti(path, np.random.default_rng(2).random((30, 30, 30), dtype=np.float32))
    data = raw.read_bytes()
    middle = len(data) // 2
    path.write_bytes(data[:middle] + bytes(300) + data[middle + 300 :])
    return path


def _truncated(path: Path) -> Path:
    data = write_nifti(path).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _corrupt_gzip(path: Path) -> Path:
    data = write_nifti(path).read_bytes()
    path.write_bytes(data[:20] + bytes(range(256)) + data[276:])  # the header's deflate blocks
    return path


# CASE -> (writes the bad image at the path it is given, caught by ingest's header check)
BAD_IMAGES: dict[str, tuple[Callable[[Path], Path], bool]] = {
    "corrupt gzip": (_corrupt_gzip, True),
    "corrupt gzip block": (_corrupt_block, False),
    "truncated NIfTI": (_truncated, False),
    "2D image": (lambda p: write_nifti(p, np.ones((16, 16)) + np.eye(16)), True),
    "2D slice": (lambda p: write_nifti(p, _volume()[:, :, :1]), True),
    "4D series": (lambda p: write_nifti(p, np.stack([_volume()] * 3, axis=-1)), True),
    "NaN/Inf voxels": (lambda p: write_nifti(p, _non_finite()), False),
    "all-zero image": (lambda p: write_nifti(p, np.zeros((16, 16, 16))), False),
    "voxel size 50 mm": (lambda p: write_nifti(p, affine=np.diag([2.0, 2.0, 50.0, 1.0])), True),
    "voxel size 1e-6 mm": (lambda p: write_nifti(p, affine=np.diag([2.0, 2.0, 1e-6, 1.0])), True),
    "pixdim NaN": (lambda p: with_pixdim(write_nifti(p), (2.0, 2.0, np.nan)), True),
    "pixdim 0": (lambda p: with_pixdim(write_nifti(p), (2.0, 2.0, 0.0)), True),
    "pixdim negative": (lambda p: with_pixdim(write_nifti(p), (2.0, -2.0, 2.0)), True),
    "affine voxel size 50 mm": (
        # pixdim says 2 mm, the sform (what registration and resampling use) says 50 mm
        lambda p: with_pixdim(write_nifti(p, affine=np.diag([2.0, 2.0, 50.0, 1.0])), (2, 2, 2)),
        True,
    ),
}
HEADER_CASES = [case for case, (_, header) in BAD_IMAGES.items() if header]


def write_tsv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)] + ["\t".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_bids(root: Path, n: int = 8, sessions: Sequence[str] = ()) -> Path:
    """sub-001..sub-00n (T1w 16^3, one per session); age 60+i and sex in participants.tsv."""
    rows = []
    for i in range(1, n + 1):
        sub = f"sub-{i:03d}"
        rows.append((sub, 60 + i, "F" if i % 2 else "M"))
        for ses in sessions or [None]:
            folder = root / sub / (f"ses-{ses}" if ses else "") / "anat"
            stem = f"{sub}_ses-{ses}" if ses else sub
            write_nifti(folder / f"{stem}_T1w.nii.gz", seed=i)
    (root / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.9.0"}')
    write_tsv(root / "participants.tsv", ["participant_id", "age", "sex"], rows)
    return root


def set_cell(path: Path, line: int, column: str, value: str) -> None:
    """Overwrite one cell of a TSV (1-based line numbers, header = line 1)."""
    lines = path.read_text().splitlines()
    fields = lines[line - 1].split("\t")
    fields[lines[0].split("\t").index(column)] = value
    lines[line - 1] = "\t".join(fields)
    path.write_text("\n".join(lines) + "\n")


def ingest(source: Path, out: Path, strict: bool):
    """The ingest rule's call (scripts/ingest.py)."""
    return run_ingest(
        source,
        out / "cohort.tsv",
        out / "excluded.tsv",
        COVARIATES,
        SPLIT,
        options={"strict": strict},
    )


def assert_excluded_scan(bids: Path, out: Path, case: str, scan: str) -> None:
    """Strict ingest fails listing the scan's problem and writes nothing; default ingest leaves
    the scan out, lists why in excluded.tsv and keeps every other scan."""
    with pytest.raises(IngestError) as error:
        ingest(bids, out / "strict", strict=True)
    assert_message(error.value, STRICT, case)
    assert STRICT_FIX in str(error.value)
    assert files_under(out / "strict") == []
    cohort = ingest(bids, out / "default", strict=False).table
    assert (
        scan not in set(cohort["scan"]) and len(cohort) == len(list(bids.rglob("*_T1w.nii*"))) - 1
    )
    excluded = pd.read_csv(out / "default" / "excluded.tsv", sep="\t", keep_default_na=False)
    (reason,) = excluded.loc[excluded["participant_id"] == scan.split("/")[0], "reason"]
    for fragment in MESSAGES[case]:
        assert fragment in reason, f"{fragment!r} not in {reason!r}"


# ---------------------------------------------------------------- images


@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_bad_image_fails_its_preprocess_job_and_writes_nothing(case, tmp_path):
    """preprocess_native (scripts/preprocess_native.py) loads the raw T1w first."""
    from latentcf.preprocess.pipeline import run_native

    t1w = BAD_IMAGES[case][0](tmp_path / "in put ü" / "sub-001_T1w.nii.gz")
    out = tmp_path / "out"
    names = ("t1w.nii.gz", "mask.nii.gz", "qc.png", "qc.json")
    with pytest.raises(InputDataError) as error:
        run_native(t1w, *(out / name for name in names))
    assert_message(error.value, str(t1w), case)
    assert error.value.path == t1w
    assert files_under(out) == []


@pytest.mark.parametrize("case", HEADER_CASES)
def test_bad_image_header_is_caught_by_ingest(case, tmp_path):
    bids = make_bids(tmp_path / "bids")
    BAD_IMAGES[case][0](bids / "sub-001" / "anat" / "sub-001_T1w.nii.gz")
    assert_excluded_scan(bids, tmp_path, case, "sub-001/anat/sub-001")


def test_4d_singleton_volume_is_read_as_3d(tmp_path):
    data = _volume()
    bids = make_bids(tmp_path / "bids")
    t1w = write_nifti(bids / "sub-001" / "anat" / "sub-001_T1w.nii.gz", data[..., None])
    img = load_t1w(t1w)
    assert img.shape == (16, 16, 16)
    np.testing.assert_array_equal(np.asarray(img.dataobj), data)
    cohort = ingest(bids, tmp_path / "out", strict=True).table
    assert "sub-001/anat/sub-001" in set(cohort["scan"]) and len(cohort) == 8


# ---------------------------------------------------------------- covariate tables


def test_missing_covariate_value(tmp_path):
    bids = make_bids(tmp_path / "bids")
    set_cell(bids / "participants.tsv", 4, "age", "n/a")  # sub-003
    assert_excluded_scan(bids, tmp_path, "missing covariate value", "sub-003/anat/sub-003")


def test_unseen_category(tmp_path):
    bids = make_bids(tmp_path / "bids")
    set_cell(bids / "participants.tsv", 4, "sex", "f")  # sub-003
    assert_excluded_scan(bids, tmp_path, "unseen category", "sub-003/anat/sub-003")


def _duplicate_participant(root: Path) -> tuple[Path, Path]:
    bids = make_bids(root / "bids")
    lines = (bids / "participants.tsv").read_text().splitlines()
    (bids / "participants.tsv").write_text("\n".join([*lines[:3], lines[2], *lines[3:]]) + "\n")
    return bids, bids / "participants.tsv"


def _duplicate_session(root: Path) -> tuple[Path, Path]:
    bids = make_bids(root / "bids", sessions=("01", "02"))
    table = bids / "sub-001" / "sub-001_sessions.tsv"
    write_tsv(table, ["session_id", "age"], [("ses-01", 70), ("01", 71), ("ses-02", 72)])
    return bids, table


def _duplicate_table_row(root: Path) -> tuple[Path, Path]:
    rows = [(f"sub-{i:03d}", f"t1/{i}.nii.gz", 60 + i, "F") for i in range(1, 9)]
    for _, path, _, _ in rows:
        write_nifti(root / path)
    rows.insert(1, ("001", "t1/9.nii.gz", 70, "M"))
    table = write_tsv(root / "scans.tsv", ["participant_id", "path", "age", "sex"], rows)
    return table, table


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("duplicate participant", _duplicate_participant),
        ("duplicate session", _duplicate_session),
        ("duplicate table row", _duplicate_table_row),
    ],
)
def test_duplicate_subject_or_session_fails_ingest(case, make, tmp_path):
    source, table = make(tmp_path / "input")
    for strict in (False, True):  # a dataset-level problem: no scan is silently dropped
        with pytest.raises(InputDataError) as error:
            ingest(source, tmp_path / "out", strict=strict)
        assert_message(error.value, str(table), case)
        assert files_under(tmp_path / "out") == []


def test_covariates_from_scans_tsv_win_over_sessions_and_participants(tmp_path):
    bids = make_bids(tmp_path / "bids", sessions=("01", "02"))
    write_tsv(
        bids / "sub-001" / "sub-001_sessions.tsv",
        ["session_id", "age"],
        [("ses-01", 71), ("ses-02", 72)],
    )
    write_tsv(
        bids / "sub-001" / "ses-02" / "sub-001_ses-02_scans.tsv",
        ["filename", "age"],
        [("anat/sub-001_ses-02_T1w.nii.gz", 73.5)],
    )
    write_tsv(
        bids / "sub-002" / "ses-01" / "sub-002_ses-01_scans.tsv",
        ["filename", "age", "sex"],
        [("anat/sub-002_ses-01_T1w.nii.gz", 80, "F")],
    )
    cohort = ingest(bids, tmp_path / "out", strict=True).table.set_index("scan")
    got = {scan: (cohort.loc[scan, "age"], cohort.loc[scan, "sex"]) for scan in cohort.index}
    assert got["sub-001/ses-01/anat/sub-001_ses-01"] == (71.0, "F")  # sessions.tsv
    assert got["sub-001/ses-02/anat/sub-001_ses-02"] == (73.5, "F")  # scans.tsv over sessions.tsv
    assert got["sub-002/ses-01/anat/sub-002_ses-01"] == (80.0, "F")  # scans.tsv over participants
    assert got["sub-002/ses-02/anat/sub-002_ses-02"] == (62.0, "M")  # participants.tsv
    assert got["sub-003/ses-01/anat/sub-003_ses-01"] == (63.0, "F")


@pytest.mark.parametrize("layout", ["bids", "table"])
def test_paths_with_spaces_and_non_ascii_characters_work(layout, tmp_path):
    root = tmp_path / "my data" / "Zürich ü é – 東京"
    if layout == "bids":
        source = make_bids(root / "bids ds")
        subjects = [f"sub-{i:03d}" for i in range(1, 9)]
        expected = {f"{s}/anat/{s}": source / s / "anat" / f"{s}_T1w.nii.gz" for s in subjects}
    else:
        rows = [(f"sub-{i:03d}", f"scans ü/t1 é {i}.nii.gz", 60 + i, "F") for i in range(1, 9)]
        for _, path, _, _ in rows:
            write_nifti(root / path, seed=1)
        source = write_tsv(
            root / "input table ö.tsv", ["participant_id", "path", "age", "sex"], rows
        )
        expected = {
            f"sub-{i:03d}/anat/sub-{i:03d}": root / path
            for i, (_, path, _, _) in enumerate(rows, 1)
        }
    out = tmp_path / "out dir ñ"
    ingest(source, out, strict=True)
    cohort = read_cohort(out / "cohort.tsv", COVARIATES)
    assert dict(zip(cohort["scan"], map(Path, cohort["path"]), strict=True)) == expected
    for path in cohort["path"]:
        assert load_t1w(path).shape == (16, 16, 16)


# ---------------------------------------------------------------- the latent SCM


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A tiny vqvae saved the way the train rule saves it, and its config."""
    import torch
    from vq_settings import TINY_MODEL

    from latentcf.models.base import build_model
    from latentcf.models.checkpoint import save_model

    torch.manual_seed(0)
    model = build_model(TINY_MODEL)
    shape = (40, 48, 40)
    meta = {
        "image_shape": list(shape),
        "latent_shapes": {k: list(v) for k, v in model.latent_shapes(shape).items()},
        "scm_latent": model.scm_latent,
    }
    path = tmp_path_factory.mktemp("model") / "model.pt"
    return save_model(path, model, TINY_MODEL, meta), TINY_MODEL


def test_collinear_covariates_fail_fit_scm_and_write_nothing(model_file, tmp_path):
    from latentcf.scm.fit import run_fit_scm
    from latentcf.scm.glm import DesignError

    model_path, model_config = model_file
    n = 24
    ids = [f"sub-{i:03d}" for i in range(n)]
    age = np.random.default_rng(0).uniform(55, 85, n)
    cohort = pd.DataFrame(
        {
            "scan": [f"{p}/anat/{p}" for p in ids],
            "participant_id": ids,
            "session_id": "n/a",
            "path": [f"/data/{p}_T1w.nii.gz" for p in ids],
            "split": ["train"] * 18 + ["val"] * 3 + ["test"] * 3,
            "age": age,
            "age_months": age * 12,  # the same covariate in another unit
        }
    )
    write_tsv_atomic(cohort, tmp_path / "cohort.tsv", float_format="%.10g")
    covariates = {"age": {"type": "numeric"}, "age_months": {"type": "numeric"}}
    out = tmp_path / "scm"
    outputs = {
        "design": out / "design.json",
        "coefficients": out / "coefficients.npz",
        "r2": out / "r2.png",
        "effects": out / "effects.png",
        "effects_nifti": out / "effects.nii.gz",
    }
    with pytest.raises(DesignError) as error:
        run_fit_scm(
            tmp_path / "cohort.tsv",
            [tmp_path / "no chunks"],
            model_path,
            model_config,
            covariates,
            None,
            {},
            outputs,
            resolution_mm=4,
        )
    assert_message(error.value, "scm.max_condition_number", "collinear covariates")
    assert files_under(out) == []


# ---------------------------------------------------------------- the config


def _validate(tmp_path: Path, config: dict) -> None:
    """What the Snakefile does with --configfile: read the YAML, validate_config."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"demo": {"enabled": True}, **config}))
    validate_config(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize(
    ("case", "key", "config"),
    [
        ("unknown config key", "'<top level>'", {"sedd": 3}),
        ("unknown nested config key", "'preprocess'", {"preprocess": {"resolution_mn": 2}}),
    ],
)
def test_unknown_config_key_suggests_the_closest(case, key, config, tmp_path):
    with pytest.raises(ConfigValidationError) as error:
        _validate(tmp_path, config)
    assert_message(error.value, key, case)


@pytest.mark.parametrize(
    ("case", "intervention"),
    [
        ("intervention on an unknown covariate", {"name": "older", "shift": {"aeg": 10}}),
        ("intervention to an unseen level", {"name": "female", "set": {"sex": "Female"}}),
        ("intervention shifting a category", {"name": "flip", "shift": {"sex": 1}}),
        ("intervention out of range", {"name": "old", "set": {"age": 200}}),
    ],
)
def test_invalid_intervention(case, intervention, tmp_path):
    with pytest.raises(ConfigValidationError) as error:
        _validate(tmp_path, {"covariates": COVARIATES, "interventions": [intervention]})
    assert_message(error.value, "'interventions.0'", case)


# ---------------------------------------------------------------- model files


def test_onnx_file_that_is_not_a_model_fails_segment_and_writes_nothing(tmp_path):
    """segment_scans (scripts/segment_scans.py) builds the segmenter before any image."""
    from latentcf.evaluate.chunks import segment_scans
    from latentcf.grid import grid_affine

    model = tmp_path / "models" / "synthseg.onnx"
    model.parent.mkdir()
    model.write_bytes(np.random.default_rng(0).bytes(4096))
    write_tsv(
        model.with_name("synthseg.labels.tsv"),
        ["index", "label", "name"],
        [(0, 0, "Unknown"), (1, 17, "Left-Hippocampus")],
    )
    image = write_nifti(tmp_path / "t1w.nii.gz", _volume(), grid_affine(4))
    out = tmp_path / "segment" / "chunk-0"
    config = {"backend": "onnx", "threads": 1, "onnx": {"model": str(model)}}
    with pytest.raises(InputDataError) as error:
        segment_scans(["sub-001/anat/sub-001"], [image], out, config, 4)
    assert_message(error.value, str(model), "ONNX file that is not a model")
    assert files_under(out.parent) == []


def test_checkpoint_from_another_configuration_fails_encode_and_writes_nothing(
    model_file, tmp_path
):
    """encode_chunk (scripts/encode.py) loads the model with the configured settings first."""
    from latentcf.encode import encode_chunk

    model_path, model_config = model_file
    image = write_nifti(tmp_path / "t1w.nii.gz", _volume())
    out = tmp_path / "encode" / "chunk-0"
    with pytest.raises(InputDataError) as error:
        encode_chunk(
            model_path,
            ["sub-001/anat/sub-001"],
            [image],
            [image],
            out,
            {**model_config, "latent_channels": 8},
            resolution_mm=4,
            encode_config={"device": "cpu"},
            threads=1,
        )
    assert_message(error.value, str(model_path), "checkpoint from another configuration")
    assert files_under(out.parent) == []


def test_every_case_has_a_test():
    tested = set(BAD_IMAGES) | {
        "missing covariate value",
        "unseen category",
        "duplicate participant",
        "duplicate session",
        "duplicate table row",
        "collinear covariates",
        "unknown config key",
        "unknown nested config key",
        "intervention on an unknown covariate",
        "intervention to an unseen level",
        "intervention shifting a category",
        "intervention out of range",
        "ONNX file that is not a model",
        "checkpoint from another configuration",
    }
    assert tested == set(MESSAGES)
