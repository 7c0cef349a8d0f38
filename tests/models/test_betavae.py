"""The beta-VAE baseline: shapes, prior samples, KL warm-up, determinism, round trip, bad config."""

from __future__ import annotations

import pytest
import torch
from vq_settings import TINY_BETAVAE

from latentcf.errors import ConfigError
from latentcf.models.base import build_model
from latentcf.models.checkpoint import load_model, save_model

GRID = (40, 48, 40)


def _model(seed: int = 0, shape=GRID, **settings):
    torch.manual_seed(seed)
    return build_model({**TINY_BETAVAE, **settings}, image_shape=shape)


@pytest.mark.parametrize(
    ("shape", "channels"), [(GRID, [4, 8, 8]), ((16, 24, 16), [4, 8]), ((8, 8, 16), [4])]
)
def test_shapes_and_samples(shape, channels):
    model = _model(shape=shape, channels=channels, decoder_channels=channels[::-1]).eval()
    assert model.family == "betavae" and model.has_prior and model.scm_latent == "mu"
    x = torch.rand(3, 1, *shape)
    latent = model.encode(x)
    assert latent["mu"].shape == latent["logvar"].shape == (3, 16)
    assert model.latent_shapes(shape) == {"mu": (16,), "logvar": (16,)}
    assert model.decode(latent).shape == x.shape
    with torch.no_grad():
        a = model.sample(2, torch.Generator().manual_seed(3))
        b = model.sample(2, torch.Generator().manual_seed(3))
        c = model.sample(2, torch.Generator().manual_seed(4))
    assert a.shape == (2, 1, *shape) and torch.equal(a, b) and not torch.equal(a, c)


def test_loss_kl_warm_up_and_determinism():
    x = torch.rand(2, 1, *GRID)

    def loss(seed, step):
        model = _model(seed)
        torch.manual_seed(seed)
        return model.training_loss(x, step)

    first = loss(0, 1)
    assert list(first.terms) == ["l1", "kl"]
    kl = float(first.stats["kl_per_scan"])
    assert kl > 0
    assert first.terms["kl"].item() == pytest.approx(1e-4 / 4 * kl, rel=1e-5)  # warm-up 1/4
    assert loss(0, 8).terms["kl"].item() == pytest.approx(1e-4 * kl, rel=1e-5)  # after it
    assert torch.equal(first.total, loss(0, 1).total)
    assert not torch.equal(first.total, loss(1, 1).total)
    first.total.backward()


def test_weights_only_round_trip(tmp_path):
    model = _model().eval()
    loaded, _ = load_model(save_model(tmp_path / "b.pt", model, TINY_BETAVAE), TINY_BETAVAE)
    z = torch.randn(2, 16)
    assert torch.equal(loaded.decode({"mu": z}), model.decode({"mu": z}))
    with pytest.raises(ConfigError, match=r"built for \(40, 48, 40\)"):
        loaded.check_input_shape((40, 48, 48), "scan.nii.gz")


@pytest.mark.parametrize(
    ("settings", "key", "message"),
    [
        ({"decoder_channels": [8, 4]}, "decoder_channels", "one entry per encoder level"),
        ({"norm_num_groups": 3}, "norm_num_groups", "multiple of norm_num_groups"),
    ],
)
def test_bad_settings_name_the_key(settings, key, message):
    with pytest.raises(ConfigError, match=rf"models.<name>.{key}'.*{message}"):
        _model(**settings)


def test_grid_not_divisible_by_the_downsampling():
    with pytest.raises(ConfigError, match=r"multiple of 8"):
        _model(shape=(36, 48, 40))
