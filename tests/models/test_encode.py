"""Encoding a scan writes latent, reconstruction and metrics; the summary keeps val/test scans."""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from vq_settings import TINY_MODEL, TINY_TRAIN

from latentcf.encode import METRIC_COLUMNS, encode_scan, summarise_reconstructions
from latentcf.errors import InputDataError
from latentcf.train import TrainOutputs, train_model


@pytest.fixture(scope="module")
def trained(tmp_path_factory, synthetic_4mm):
    images, masks = synthetic_4mm
    root = tmp_path_factory.mktemp("model")
    out = TrainOutputs(root / "model.pt", root / "t.tsv", root / "t.png", root / "ck")
    train_model(
        images[:4],
        images[4:],
        masks[4:],
        "vqvae",
        TINY_MODEL,
        {**TINY_TRAIN, "max_steps": 3},
        1,
        out,
    )
    return out.model


def _encode(trained, image, mask, root, scan, **cfg):
    paths = {k: root / f"{scan}_{k}" for k in ("latent.npy", "recon.nii.gz", "metrics.tsv")}
    metrics = encode_scan(
        trained,
        image,
        mask,
        scan,
        paths["latent.npy"],
        paths["recon.nii.gz"],
        paths["metrics.tsv"],
        "vqvae",
        TINY_MODEL,
        cfg,
    )
    return metrics, paths


def test_encode_outputs(trained, synthetic_4mm, tmp_path):
    images, masks = synthetic_4mm
    metrics, paths = _encode(trained, images[4], masks[4], tmp_path, "sub-004")
    latent = np.load(paths["latent.npy"])
    umask = os.umask(0)
    os.umask(umask)
    assert paths["latent.npy"].stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    assert (
        latent.shape == (4, 10, 12, 10) and latent.dtype == np.float32 and np.isfinite(latent).all()
    )
    recon = nib.load(paths["recon.nii.gz"])
    src = nib.load(images[4])
    assert recon.shape == src.shape and np.allclose(recon.affine, src.affine)
    assert recon.get_data_dtype() == np.float32 and float(np.asarray(recon.dataobj).min()) >= 0
    row = pd.read_csv(paths["metrics.tsv"], sep="\t")
    assert list(row.columns) == METRIC_COLUMNS and len(row) == 1 and row["scan"][0] == "sub-004"
    assert row["ssim"][0] == pytest.approx(metrics["ssim"], rel=1e-5) and 0 < metrics["mae"] < 1
    # Deterministic, and float16 storage is close to float32.
    _, again = _encode(
        trained, images[4], masks[4], tmp_path / "again", "sub-004", latent_dtype="float16"
    )
    half = np.load(again["latent.npy"])
    assert half.dtype == np.float16
    np.testing.assert_allclose(half.astype(np.float32), latent, rtol=2e-3, atol=2e-3)


def test_wrong_model_config_or_grid_is_reported(trained, synthetic_4mm, tmp_path):
    images, masks = synthetic_4mm
    with pytest.raises(InputDataError, match="different model configuration"):
        encode_scan(
            trained,
            images[4],
            masks[4],
            "s",
            tmp_path / "l.npy",
            tmp_path / "r.nii.gz",
            tmp_path / "m.tsv",
            "vqvae",
            {**TINY_MODEL, "codebook_size": 32},
        )
    small = nib.Nifti1Image(np.random.default_rng(0).random((40, 48, 32), np.float32), np.eye(4))
    nib.save(small, tmp_path / "small.nii.gz")
    with pytest.raises(
        InputDataError, match=r"differs from the model's training grid \(40, 48, 40\)"
    ):
        _encode(trained, tmp_path / "small.nii.gz", masks[4], tmp_path, "s")
    assert not list(tmp_path.glob("s_*"))


def test_summary_table_and_figure(trained, synthetic_4mm, tmp_path):
    images, masks = synthetic_4mm
    scans = [f"sub-00{i}/anat/sub-00{i}" for i in range(6)]
    splits = ["train"] * 4 + ["val", "test"]
    cohort = pd.DataFrame(
        {
            "scan": scans,
            "participant_id": [s[:7] for s in scans],
            "session_id": "n/a",
            "split": splits,
            "age": 70,
        }
    )
    cohort.to_csv(tmp_path / "cohort.tsv", sep="\t", index=False)
    metric_files, recons = [], []
    for i in (4, 5):
        _, paths = _encode(trained, images[i], masks[i], tmp_path, f"scan{i}")
        df = pd.read_csv(paths["metrics.tsv"], sep="\t").assign(scan=scans[i])
        df.to_csv(paths["metrics.tsv"], sep="\t", index=False)
        metric_files.append(paths["metrics.tsv"])
        recons.append(paths["recon.nii.gz"])
    table = summarise_reconstructions(
        tmp_path / "cohort.tsv",
        metric_files,
        tmp_path / "summary.tsv",
        tmp_path / "recon.png",
        images[4:],
        recons,
        figure_scans=2,
    )
    assert list(table["split"]) == ["val", "test"]
    written = pd.read_csv(tmp_path / "summary.tsv", sep="\t")
    assert list(written.columns) == [
        "scan",
        "participant_id",
        "session_id",
        "split",
        "mae",
        "psnr",
        "ssim",
        "n_voxels",
    ]
    assert (tmp_path / "recon.png").stat().st_size > 20_000
