"""The mixed-precision path a GPU takes (bf16 autocast, channels_last_3d) runs on the CPU too."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from vq_settings import TINY_BETAVAE, TINY_KLAE, TINY_M3AE, TINY_MODEL, TINY_TRAIN

from latentcf import hardware
from latentcf.encode import encode_batch
from latentcf.models.checkpoint import load_model
from latentcf.train import TrainOutputs, train_model
from latentcf.train.data import load_volume
from latentcf.train.device import resolve_precision


def test_bf16_channels_last_training_and_encoding(tmp_path, synthetic_4mm):
    images, masks = synthetic_4mm
    out = TrainOutputs(tmp_path / "m.pt", tmp_path / "t.tsv", tmp_path / "t.png", tmp_path / "ck")
    cfg = {**TINY_TRAIN, "precision": "bf16", "channels_last": True, "max_steps": 3}
    train_model(images[:4], images[4:], masks[4:], TINY_MODEL, cfg, 1, out)
    model, meta = load_model(out.model, TINY_MODEL)
    assert meta["precision"] == "bf16"
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay fp32
    table = pd.read_csv(out.table, sep="\t", na_values="n/a")
    assert np.isfinite(table["loss"]).all() and table["val_ssim"].notna().any()

    volume = load_volume(images[4])[None]
    z16, recon16 = encode_batch(model, volume, torch.device("cpu"), "bf16")
    z32, recon32 = encode_batch(model, volume, torch.device("cpu"), "fp32")
    assert z16["z"].dtype == np.float32 and recon16.dtype == np.float32
    assert not np.array_equal(z16["z"], z32["z"])  # bf16 really ran
    scale = np.abs(z32["z"]).max()
    assert np.abs(z16["z"] - z32["z"]).max() < 0.05 * scale


def test_klae_bf16_channels_last_training_with_adversary(tmp_path, synthetic_4mm):
    images, masks = synthetic_4mm
    model_config = {**TINY_KLAE, "adversarial_start_step": 2}
    out = TrainOutputs(tmp_path / "m.pt", tmp_path / "t.tsv", tmp_path / "t.png", tmp_path / "ck")
    cfg = {**TINY_TRAIN, "precision": "bf16", "channels_last": True, "max_steps": 3}
    train_model(images[:4], images[4:], masks[4:], model_config, cfg, 1, out)
    model, meta = load_model(out.model, model_config)
    assert meta["precision"] == "bf16" and meta["scm_latent"] == "mu"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    table = pd.read_csv(out.table, sep="\t", na_values="n/a")
    assert np.isfinite(table["loss"]).all() and table["val_ssim"].notna().any()
    assert table["adversary_loss"].isna().tolist() == [True, False, False]
    assert np.isfinite(table["loss_adversarial"].iloc[1:]).all()

    volume = load_volume(images[4])[None]
    z16, _ = encode_batch(model, volume, torch.device("cpu"), "bf16")
    z32, _ = encode_batch(model, volume, torch.device("cpu"), "fp32")
    assert set(z16) == {"mu", "logvar"} and z16["mu"].dtype == np.float32
    assert not np.array_equal(z16["mu"], z32["mu"])  # bf16 really ran
    assert np.abs(z16["mu"] - z32["mu"]).max() < 0.05 * np.abs(z32["mu"]).max()


@pytest.mark.parametrize("model_config", [TINY_M3AE, TINY_BETAVAE], ids=["m3ae", "betavae"])
def test_vector_vae_bf16_channels_last_training_encoding_and_sampling(
    tmp_path, synthetic_4mm, model_config
):
    images, masks = synthetic_4mm
    out = TrainOutputs(tmp_path / "m.pt", tmp_path / "t.tsv", tmp_path / "t.png", tmp_path / "ck")
    cfg = {**TINY_TRAIN, "precision": "bf16", "channels_last": True, "max_steps": 3}
    train_model(images[:4], images[4:], masks[4:], model_config, cfg, 1, out)
    model, meta = load_model(out.model, model_config)
    assert meta["precision"] == "bf16" and meta["latent_shapes"]["mu"] == [16]
    assert all(p.dtype == torch.float32 for p in model.parameters())
    table = pd.read_csv(out.table, sep="\t", na_values="n/a")
    assert np.isfinite(table["loss"]).all() and table["val_ssim"].notna().any()
    assert np.isfinite(table["loss_kl"]).all()

    volume = load_volume(images[4])[None]
    z16, recon16 = encode_batch(model, volume, torch.device("cpu"), "bf16")
    z32, _ = encode_batch(model, volume, torch.device("cpu"), "fp32")
    assert not np.array_equal(z16["mu"], z32["mu"])  # bf16 really ran
    assert np.abs(z16["mu"] - z32["mu"]).max() < 0.05 * np.abs(z32["mu"]).max()
    assert recon16.dtype == np.float32 and np.isfinite(recon16).all()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        samples = model.sample(2, torch.Generator().manual_seed(0))
    assert samples.shape == (2, 1, *volume.shape[1:]) and torch.isfinite(samples).all()


@pytest.mark.parametrize(("native", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_precision_on_cpu_follows_native_bf16(monkeypatch, native, expected):
    monkeypatch.setattr("latentcf.train.device.cpu_has_native_bf16", lambda: native)
    assert resolve_precision("auto", torch.device("cpu")) == expected
    assert resolve_precision("fp32", torch.device("cpu")) == "fp32"


def test_cpu_flags_are_read_from_cpuinfo(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"sse2", "avx512_bf16"}))
    assert hardware.cpu_has_native_bf16()
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"sse2", "avx2"}))
    assert not hardware.cpu_has_native_bf16()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    hardware.host_sees_gpu.cache_clear()
    assert hardware.gpu_request("auto") == 0 and hardware.gpu_request("cuda") == 1
    hardware.host_sees_gpu.cache_clear()
