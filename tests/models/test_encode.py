"""Encoding a chunk writes latents, reconstructions and metrics; the summary keeps held-out scans."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from image_checks import assert_figure_panels
from vq_settings import TINY_MODEL, TINY_TRAIN

from latentcf import derivatives
from latentcf.encode import deviations_from_mean, encode_chunk, summarise_reconstructions
from latentcf.errors import InputDataError
from latentcf.models.checkpoint import load_model
from latentcf.train import TrainOutputs, train_model

SCANS = [f"sub-00{i}/anat/sub-00{i}" for i in range(6)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, synthetic_4mm):
    images, masks = synthetic_4mm
    root = tmp_path_factory.mktemp("model")
    out = TrainOutputs(root / "model.pt", root / "t.tsv", root / "t.png", root / "ck")
    cfg = {**TINY_TRAIN, "max_steps": 3}
    train_model(images[:4], images[4:], masks[4:], TINY_MODEL, cfg, 1, out)
    return out.model


def _encode(trained, synthetic_4mm, out_dir, picks=(4, 5, 0), **cfg):
    images, masks = synthetic_4mm
    return encode_chunk(
        trained,
        [SCANS[i] for i in picks],
        [images[i] for i in picks],
        [masks[i] for i in picks],
        out_dir,
        TINY_MODEL,
        resolution_mm=4,
        encode_config={"batch_size": 2, **cfg},
    )


def _digest(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_chunk_outputs(trained, synthetic_4mm, tmp_path):
    images, _ = synthetic_4mm
    table = _encode(trained, synthetic_4mm, tmp_path / "chunk-00")
    chunk = tmp_path / "chunk-00"
    assert list(table["scan"]) == [SCANS[4], SCANS[5], SCANS[0]]
    assert list(table["row"]) == [0, 1, 2]
    written = pd.read_csv(chunk / derivatives.SCANS_TABLE, sep="\t")
    pd.testing.assert_frame_equal(written, table, check_dtype=False, rtol=1e-5)
    latent = np.load(chunk / derivatives.latent_file("z"))
    assert latent.shape == (3, 4, 10, 12, 10) and latent.dtype == np.float32
    umask = os.umask(0)
    os.umask(umask)
    assert chunk.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's 0700

    # Each row is that scan's latent, whatever batch it was encoded in.
    model, _ = load_model(trained, TINY_MODEL)
    import torch

    x = torch.from_numpy(np.asarray(nib.load(images[5]).dataobj, np.float32))[None, None]
    with torch.no_grad():
        z5 = model.encode(x)["z"][0].numpy()
    np.testing.assert_allclose(latent[1], z5, rtol=1e-5, atol=1e-6)

    recon = nib.load(chunk / derivatives.recon_file(SCANS[5], 4, "vqvae"))
    src = nib.load(images[5])
    assert recon.shape == src.shape and np.allclose(recon.affine, src.affine)
    assert recon.get_data_dtype() == np.float32 and float(np.asarray(recon.dataobj).min()) >= 0
    assert table["ssim"].between(-1, 1).all() and (table["mae"] > 0).all()


def test_same_inputs_give_byte_identical_chunks(trained, synthetic_4mm, tmp_path):
    _encode(trained, synthetic_4mm, tmp_path / "a")
    _encode(trained, synthetic_4mm, tmp_path / "b")
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert len(a) == 5 and a == b


def test_float16_storage_is_close_to_float32(trained, synthetic_4mm, tmp_path):
    _encode(trained, synthetic_4mm, tmp_path / "f32")
    _encode(trained, synthetic_4mm, tmp_path / "f16", latent_dtype="float16")
    full = np.load(tmp_path / "f32" / derivatives.latent_file("z"))
    half = np.load(tmp_path / "f16" / derivatives.latent_file("z"))
    assert half.dtype == np.float16
    np.testing.assert_allclose(half.astype(np.float32), full, rtol=2e-3, atol=2e-3)
    assert not np.array_equal(half.astype(np.float32), full)


def test_wrong_model_config_or_grid_is_reported_and_leaves_nothing(
    trained, synthetic_4mm, tmp_path
):
    images, masks = synthetic_4mm
    with pytest.raises(InputDataError, match="codebook_size: file has 64, config has 32"):
        encode_chunk(
            trained,
            [SCANS[4]],
            [images[4]],
            [masks[4]],
            tmp_path / "c",
            {**TINY_MODEL, "codebook_size": 32},
            resolution_mm=4,
        )
    small = nib.Nifti1Image(np.random.default_rng(0).random((40, 48, 32), np.float32), np.eye(4))
    nib.save(small, tmp_path / "small.nii.gz")
    with pytest.raises(
        InputDataError, match=r"differs from the model's training grid \(40, 48, 40\)"
    ):
        encode_chunk(
            trained,
            [SCANS[4], "sub-009/anat/sub-009"],
            [images[4], tmp_path / "small.nii.gz"],
            [masks[4], masks[4]],
            tmp_path / "c",
            TINY_MODEL,
            resolution_mm=4,
        )
    assert not (tmp_path / "c").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["small.nii.gz"]


def test_summary_table_and_figure(trained, synthetic_4mm, tmp_path):
    images, _ = synthetic_4mm
    cohort = pd.DataFrame(
        {
            "scan": SCANS,
            "participant_id": [s[:7] for s in SCANS],
            "session_id": "n/a",
            "path": [str(Path(p).absolute()) for p in images],
            "split": ["train"] * 4 + ["val", "test"],
        }
    )
    cohort.to_csv(tmp_path / "cohort.tsv", sep="\t", index=False)
    _encode(trained, synthetic_4mm, tmp_path / "chunk-00", picks=(0, 5))
    _encode(trained, synthetic_4mm, tmp_path / "chunk-01", picks=(1, 4))
    table = summarise_reconstructions(
        tmp_path / "cohort.tsv",
        [tmp_path / "chunk-00", tmp_path / "chunk-01"],
        ["val", "test"],
        tmp_path / "summary.tsv",
        tmp_path / "recon.png",
        {SCANS[4]: images[4], SCANS[5]: images[5]},
        resolution_mm=4,
        family="vqvae",
        figure_scans=2,
    )
    assert list(table["split"]) == ["val", "test"] and list(table["scan"]) == [SCANS[4], SCANS[5]]
    written = pd.read_csv(tmp_path / "summary.tsv", sep="\t")
    assert list(written.columns) == [
        "scan", "participant_id", "session_id", "split", "mae", "mse", "psnr", "ssim", "n_voxels",
        "deviation_real", "deviation_recon",
    ]  # fmt: skip
    assert (written[["deviation_real", "deviation_recon"]] > 0).all().all()
    assert_figure_panels(tmp_path / "recon.png", rows=2, columns=9)


def test_deviations_from_mean_tell_a_model_that_ignores_its_latent(tmp_path):
    """Real volumes 0.5 +- 0.1 (two scans, brain = where they are > 0): each lies 0.1 from their
    mean. Reconstructions equal to the scans deviate as much; identical ones not at all; the
    background (0 in both real scans) does not count."""
    brain = np.zeros((4, 4, 4), np.float32)
    brain[1:3, 1:3, 1:3] = 1
    paths = {}
    for name, volume in {
        "real-a": 0.4 * brain, "real-b": 0.6 * brain,
        "same-a": 0.5 * brain + 0.3 * (1 - brain), "same-b": 0.5 * brain,
    }.items():  # fmt: skip
        paths[name] = tmp_path / f"{name}.nii.gz"
        nib.save(nib.Nifti1Image(volume, np.eye(4)), paths[name])
    real = [paths["real-a"], paths["real-b"]]
    assert deviations_from_mean(real, real) == (pytest.approx([0.1] * 2), pytest.approx([0.1] * 2))
    _, collapsed = deviations_from_mean(real, [paths["same-a"], paths["same-b"]])
    assert collapsed == pytest.approx([0.0, 0.0], abs=1e-7)
    one = deviations_from_mean(real[:1], real[:1])
    assert all(np.isnan(v) for values in one for v in values)


def test_summary_without_held_out_scans_is_an_empty_table(synthetic_4mm, tmp_path):
    """split fractions 0 (one or two subjects): no chunk holds a val/test scan."""
    images, _ = synthetic_4mm
    cohort = pd.DataFrame(
        {"scan": SCANS[:2], "participant_id": [s[:7] for s in SCANS[:2]], "session_id": "n/a",
         "path": [str(Path(p).absolute()) for p in images[:2]], "split": "train"}
    )  # fmt: skip
    cohort.to_csv(tmp_path / "cohort.tsv", sep="\t", index=False)
    table = summarise_reconstructions(
        tmp_path / "cohort.tsv", [], ["val", "test"], tmp_path / "summary.tsv",
        tmp_path / "recon.png", {}, resolution_mm=4, family="vqvae",
    )  # fmt: skip
    assert table.empty
    assert list(pd.read_csv(tmp_path / "summary.tsv", sep="\t").columns)[:4] == [
        "scan", "participant_id", "session_id", "split",
    ]  # fmt: skip
    assert (tmp_path / "recon.png").exists()
