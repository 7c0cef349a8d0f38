"""The KL autoencoder behind the LatentAutoencoder interface: shapes, objective, adversary,
perceptual loss from a local TorchScript file, config errors."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from vq_settings import TINY_KLAE

from latentcf.config import ConfigValidationError
from latentcf.errors import ConfigError
from latentcf.models.base import LatentAutoencoder, available_families, build_model, model_settings
from latentcf.models.settings import model_problems

# Residual blocks at both levels, so the full-resolution path is exercised too.
TINY = {**TINY_KLAE, "num_res_blocks": [1, 1]}


@pytest.mark.parametrize(
    ("settings", "image_shape", "latent_shape"),
    [
        ({}, (16, 16, 16), (4, 8, 8, 8)),
        ({"channels": [8, 8, 16], "num_res_blocks": [0, 1, 1]}, (16, 24, 32), (4, 4, 6, 8)),
        ({"channels": [8], "num_res_blocks": 1, "latent_channels": 3}, (16, 8, 16), (3, 16, 8, 16)),
        (
            {
                "latent_channels": 2,
                "use_convtranspose": True,
                "attention_levels": [False, True],
                "nonlocal_attention": True,
                "activation_checkpointing": True,
            },
            (16, 24, 16),
            (2, 8, 12, 8),
        ),
    ],
)
def test_encode_decode_shapes(settings, image_shape, latent_shape):
    torch.manual_seed(0)
    model = build_model({**TINY, **settings}).eval()
    assert isinstance(model, LatentAutoencoder) and model.family == "klae"
    x = torch.rand(2, 1, *image_shape)
    latent = model.encode(x)
    assert list(latent) == ["mu", "logvar"] and model.scm_latent == "mu"
    assert latent["mu"].shape == latent["logvar"].shape == (2, *latent_shape)
    assert model.latent_shapes(image_shape) == {"mu": latent_shape, "logvar": latent_shape}
    recon = model.decode(latent)
    assert recon.shape == x.shape
    # decode reads mu only: an edited latent needs no log-variance
    assert torch.equal(model.decode({"mu": latent["mu"]}), recon)
    assert torch.equal(model.reconstruct(x), recon)
    assert not model.has_prior
    with pytest.raises(NotImplementedError, match="no prior"):
        model.sample(1)
    objective = model.train().training_loss(x, step=1)
    objective.total.backward()


def test_default_architecture_is_for_1mm_without_attention():
    from monai.networks.blocks import SpatialAttentionBlock

    model = build_model({"family": "klae"})
    assert model.downsampling_factor == 8  # three downsamplings
    shape = (4, 20, 24, 20)
    assert model.latent_shapes((160, 192, 160)) == {"mu": shape, "logvar": shape}
    assert not any(isinstance(m, SpatialAttentionBlock) for m in model.modules())
    assert model.adversary() is model.discriminator is not None
    settings = model_settings({"family": "klae"})
    assert settings["kl_weight"] == 1e-6 and settings["perceptual_network"] is None
    # The discriminator is saved with the model, the (absent) perceptual network is not.
    assert any(k.startswith("discriminator.") for k in model.state_dict())


def test_same_seed_same_model_and_loss():
    x = torch.rand(2, 1, 16, 16, 16)

    def loss(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        model = build_model(TINY)
        return model.training_loss(x, step=5).total.detach()

    assert torch.equal(loss(0), loss(0))
    assert not torch.equal(loss(0), loss(1))


def test_loss_terms_around_adversarial_start_step():
    torch.manual_seed(0)
    model = build_model(TINY).train()
    x = torch.rand(2, 1, 16, 16, 16)
    before = model.training_loss(x, step=2)
    assert list(before.terms) == ["l1", "kl"] and "kl_per_scan" in before.stats
    assert before.reconstruction is not None and not before.reconstruction.requires_grad
    assert model.adversary_loss(x, before.reconstruction, step=2) is None

    after = model.training_loss(x, step=3)
    assert list(after.terms) == ["l1", "kl", "adversarial"]
    assert torch.allclose(after.total, sum(after.terms.values()))
    after.total.backward()
    # The generator's pass froze the discriminator: no gradient there, all in the autoencoder.
    assert all(p.grad is None for p in model.discriminator.parameters())
    assert all(p.requires_grad for p in model.discriminator.parameters())
    assert all(p.grad is not None for p in model.autoencoder.encoder.parameters())
    model.zero_grad(set_to_none=True)

    adversary = model.adversary_loss(x, after.reconstruction, step=3)
    assert list(adversary.terms) == ["discriminator"]
    assert set(adversary.stats) == {"adversary_loss_fake", "adversary_loss_real"}
    adversary.total.backward()
    assert all(p.grad is not None for p in model.discriminator.parameters())
    assert all(p.grad is None for p in model.autoencoder.parameters())


@pytest.mark.parametrize("criterion", ["least_squares", "hinge"])
def test_adversarial_criteria_and_switching_the_adversary_off(criterion):
    torch.manual_seed(0)
    x = torch.rand(2, 1, 16, 16, 16)
    model = build_model({**TINY, "adversarial_criterion": criterion})
    terms = model.training_loss(x, step=10).terms
    assert torch.isfinite(terms["adversarial"]) and terms["adversarial"] > 0
    off = build_model({**TINY, "adversarial_weight": 0})
    assert off.adversary() is None and off.discriminator is None
    assert not any(k.startswith("discriminator") for k in off.state_dict())
    objective = off.training_loss(x, step=10)
    assert list(objective.terms) == ["l1", "kl"] and objective.reconstruction is None


class _TwoScales(nn.Module):
    """A stand-in feature network returning two feature maps."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv3d(1, 2, 3, padding=1)
        self.b = nn.Conv3d(2, 3, 3, stride=2, padding=1)

    def forward(self, x):
        f = torch.relu(self.a(x))
        return f, self.b(f)


def _save_scripted(module: nn.Module, path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.trace(module, torch.rand(1, 1, 8, 8, 8)), str(path))
    return str(path)


@pytest.mark.parametrize("network", ["single", "two_scales"])
def test_perceptual_loss_from_a_local_torchscript_file(tmp_path, network):
    torch.manual_seed(0)
    module = nn.Conv3d(1, 2, 3, padding=1) if network == "single" else _TwoScales()
    path = _save_scripted(module, tmp_path / "features.pt")
    model = build_model({**TINY, "perceptual_network": path, "perceptual_weight": 0.5})
    x = torch.rand(2, 1, 16, 16, 16)
    objective = model.training_loss(x, step=1)
    assert list(objective.terms) == ["l1", "kl", "perceptual"]
    assert objective.terms["perceptual"] > 0
    objective.total.backward()
    assert all(p.grad is not None for p in model.autoencoder.encoder.parameters())
    # Never trained, never saved: not a parameter, not in the state dict, no gradient.
    net = model._perceptual[0]
    assert all(not p.requires_grad and p.grad is None for p in net.parameters())
    assert len(list(model.parameters())) == len(list(build_model(TINY).parameters()))
    assert set(model.state_dict()) == set(build_model(TINY).state_dict())


def test_missing_or_invalid_perceptual_network_names_key_and_file(tmp_path):
    x = torch.rand(1, 1, 16, 16, 16)
    missing = tmp_path / "missing.pt"
    model = build_model({**TINY, "perceptual_network": str(missing)})  # encoding needs no file
    with pytest.raises(ConfigError, match=r"perceptual_network'.*missing\.pt.*not found"):
        model.training_loss(x, step=1)
    invalid = tmp_path / "invalid.pt"
    invalid.write_bytes(b"not a torchscript archive")
    model = build_model({**TINY, "perceptual_network": str(invalid)})
    with pytest.raises(ConfigError, match=r"perceptual_network'.*invalid\.pt.*not a loadable"):
        model.training_loss(x, step=1)
    # The config check names it before any job starts.
    settings = model_settings({**TINY, "perceptual_network": str(missing)})
    assert list(model_problems({"ae": settings})) == [
        f"'models.ae.perceptual_network': file {str(missing)!r} not found (a local TorchScript file)"
    ]


def test_bad_configs_name_the_key():
    with pytest.raises(ConfigValidationError, match=r"family.*Did you mean 'klae'"):
        build_model({"family": "klea"})
    with pytest.raises(
        ConfigValidationError, match=r"unknown key\(s\) \['chanels'\].*Did you mean 'channels'"
    ):
        build_model({"family": "klae", "chanels": [8]})
    with pytest.raises(ConfigValidationError, match="adversarial_criterion"):
        build_model({**TINY, "adversarial_criterion": "bce"})
    with pytest.raises(ConfigError, match=r"num_res_blocks.*one entry per level \(2"):
        build_model({**TINY, "num_res_blocks": [1]})
    with pytest.raises(ConfigError, match=r"num_res_blocks.*only the first"):
        build_model({**TINY, "num_res_blocks": [1, 0]})
    with pytest.raises(ConfigError, match=r"attention_levels.*got 1"):
        build_model({**TINY, "attention_levels": [True]})
    with pytest.raises(ConfigError, match=r"norm_num_groups.*\(8\); \[12\]"):
        build_model({**TINY, "channels": [8, 12]})
    model = build_model(TINY)
    with pytest.raises(ConfigError, match="multiple of 2"):
        model.check_input_shape((17, 16, 16))
    model.check_input_shape((16, 16, 16))
    deep = build_model({**TINY, "discriminator_layers": 3})
    with pytest.raises(ConfigError, match=r"discriminator_layers.*\(0, 0, 0\)"):
        deep.check_input_shape((16, 16, 16))
    settings = model_settings({**TINY, "channels": [8, 12]})
    assert [p.split(":")[0] for p in model_problems({"ae": settings})] == [
        "'models.ae.norm_num_groups'"
    ]
    assert {"klae", "vqvae"} <= set(available_families())
