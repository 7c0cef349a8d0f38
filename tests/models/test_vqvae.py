"""The VQ-VAE behind the LatentAutoencoder interface: shapes, registry, config errors."""

from __future__ import annotations

import pytest
import torch

from latentcf.errors import ConfigError
from latentcf.models import LatentAutoencoder, available_families, build_model

TINY = {"channels": [8, 16], "res_units": [1, 1], "latent_channels": 4, "codebook_size": 64}


def test_encode_quantise_decode_shapes():
    torch.manual_seed(0)
    model = build_model("vqvae", TINY)
    assert isinstance(model, LatentAutoencoder) and model.family == "vqvae"
    x = torch.rand(2, 1, 40, 48, 40)
    z = model.encode(x)
    assert z.shape == (2, 4, 10, 12, 10) == (2, *model.latent_shape((40, 48, 40)))
    q = model.quantise(z)
    assert q.z_q.shape == z.shape and q.indices.shape == (2, 2, 10, 12, 10)
    recon = model.decode(q.z_q)
    assert recon.shape == x.shape
    out = model(x)
    (out.recon - x).abs().mean().add(out.quant.loss).backward()
    assert all(p.grad is not None for p in model.encoder.parameters())


def test_default_architecture_downsamples_three_times():
    model = build_model("vqvae", {})
    assert model.downsampling_factor == 8
    assert model.latent_shape((160, 192, 160)) == (8, 20, 24, 20)
    # The first layer is strided: nothing but the last decoder layer runs at full resolution.
    first = next(m for m in model.encoder.modules() if isinstance(m, torch.nn.Conv3d))
    assert first.stride == (2, 2, 2)


def test_bad_configs_name_the_key():
    with pytest.raises(ConfigError, match="model.family.*Did you mean 'vqvae'"):
        build_model("vqvea", {})
    with pytest.raises(ConfigError, match="model.vqvae.chanels"):
        build_model("vqvae", {"chanels": [8]})
    with pytest.raises(ConfigError, match="res_units"):
        build_model("vqvae", {"channels": [8, 16], "res_units": [1]})
    model = build_model("vqvae", TINY)
    with pytest.raises(ConfigError, match="multiple of 4"):
        model.check_input_shape((42, 48, 40))
    assert "vqvae" in available_families()
