"""The VQ-VAE behind the LatentAutoencoder interface: shapes, objective, registry, config errors."""

from __future__ import annotations

import pytest
import torch
from vq_settings import TINY_MODEL

from latentcf.config import ConfigValidationError
from latentcf.errors import ConfigError
from latentcf.models.base import LatentAutoencoder, available_families, build_model

TINY = TINY_MODEL


@pytest.mark.parametrize(
    ("settings", "image_shape", "latent_shape"),
    [
        ({}, (40, 48, 40), (4, 10, 12, 10)),
        ({"channels": [8], "res_units": [0]}, (40, 48, 40), (4, 20, 24, 20)),
        ({"channels": [8, 8, 8], "res_units": [1, 0, 1]}, (40, 48, 40), (4, 5, 6, 5)),
        ({"latent_channels": 2}, (16, 24, 32), (2, 4, 6, 8)),
    ],
)
def test_encode_decode_shapes(settings, image_shape, latent_shape):
    torch.manual_seed(0)
    model = build_model({**TINY, **settings}).eval()
    assert isinstance(model, LatentAutoencoder) and model.family == "vqvae"
    x = torch.rand(2, 1, *image_shape)
    latent = model.encode(x)
    assert list(latent) == [model.scm_latent] == ["z"]
    assert latent["z"].shape == (2, *latent_shape)
    assert model.latent_shapes(image_shape) == {"z": latent_shape}
    assert model.decode(latent).shape == x.shape
    assert not model.has_prior
    with pytest.raises(NotImplementedError, match="no prior"):
        model.sample(1)


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_objective_terms_and_statistics_follow_the_settings(levels):
    torch.manual_seed(0)
    model = build_model({**TINY, "num_levels": levels, "ssim_weight": 0.5}).train()
    x = torch.rand(2, 1, 16, 16, 16)
    objective = model.training_loss(x, step=1)
    assert list(objective.terms) == ["l1", "commitment", "ssim"]
    assert [k for k in objective.stats if k.startswith("perplexity")] == [
        f"perplexity_l{i}" for i in range(levels)
    ]
    total = objective.total
    assert torch.allclose(total, sum(objective.terms.values()))
    total.backward()
    assert all(p.grad is not None for p in model.encoder.parameters())
    without_ssim = build_model({**TINY, "num_levels": levels}).training_loss(x, 1)
    assert "ssim" not in without_ssim.terms


def test_default_architecture_downsamples_three_times():
    model = build_model({"family": "vqvae"})
    assert model.downsampling_factor == 8
    assert model.latent_shapes((160, 192, 160)) == {"z": (8, 20, 24, 20)}
    # The first layer is strided: nothing but the last decoder layer runs at full resolution.
    first = next(m for m in model.encoder.modules() if isinstance(m, torch.nn.Conv3d))
    assert first.stride == (2, 2, 2)


def test_bad_configs_name_the_key():
    with pytest.raises(ConfigValidationError, match=r"family.*Did you mean 'vqvae'"):
        build_model({"family": "vqvea"})
    with pytest.raises(
        ConfigValidationError, match=r"unknown key\(s\) \['chanels'\].*Did you mean 'channels'"
    ):
        build_model({"family": "vqvae", "chanels": [8]})
    with pytest.raises(ConfigValidationError, match="'family' is a required property"):
        build_model({"channels": [8]})
    with pytest.raises(ConfigError, match="res_units"):
        build_model({"family": "vqvae", "channels": [8, 16], "res_units": [1]})
    model = build_model(TINY)
    with pytest.raises(ConfigError, match="multiple of 4"):
        model.check_input_shape((42, 48, 40))
    assert "vqvae" in available_families()
