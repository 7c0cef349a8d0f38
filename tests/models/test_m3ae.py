"""The multiscale metamorphic VAE: multiscale shapes, the template at zero fields, scaling and
squaring through the model (constant velocity = translation, small field = positive Jacobian),
the loss terms on hand-made fields, bf16, determinism, weights_only round trip, bad config, and
that training makes the decoder use the latent."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch
from vq_settings import TINY_M3AE

from latentcf import deform
from latentcf.atlas import atlas_on_grid
from latentcf.config import ConfigValidationError
from latentcf.errors import ConfigError, InputDataError
from latentcf.models.base import build_model
from latentcf.models.checkpoint import load_model, save_model
from latentcf.models.m3ae import Transformation, multiscale_terms

GRID = (40, 48, 40)


def _model(seed: int = 0, shape=GRID, **settings) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model({**TINY_M3AE, **settings}, image_shape=shape)


def _constant_heads(model, level: int, velocity=(0.0, 0.0, 0.0), intensity: float | None = None):
    """Zero every head, then give level `level` a constant velocity / intensity (its bias)."""
    with torch.no_grad():
        for head in [*model.deformation_decoder.heads, *model.intensity_decoder.heads]:
            head.weight.zero_()
            head.bias.zero_()
        model.deformation_decoder.heads[level].bias.copy_(torch.tensor(velocity))
        if intensity is not None:
            model.intensity_decoder.heads[level].bias.fill_(intensity)


@pytest.mark.parametrize(
    ("shape", "channels", "levels"),
    [
        (GRID, [4, 8, 8], [(5, 6, 5), (10, 12, 10), (20, 24, 20), GRID]),
        ((16, 24, 16), [4, 8], [(4, 6, 4), (8, 12, 8), (16, 24, 16)]),
        ((8, 8, 16), [4], [(4, 4, 8), (8, 8, 16)]),
    ],
)
def test_multiscale_shapes(shape, channels, levels):
    torch.manual_seed(0)
    model = build_model(
        {**TINY_M3AE, "channels": channels, "decoder_channels": channels[::-1]},
        image_shape=shape,
        for_loading=True,  # no template file for these grids; the buffer is zeros
    ).eval()
    assert model.family == "m3ae" and model.has_prior and model.scm_latent == "mu"
    assert model.downsampling_factor == 2 ** len(channels)
    x = torch.rand(2, 1, *shape)
    latent = model.encode(x)
    assert latent["mu"].shape == latent["logvar"].shape == (2, 16)
    assert model.latent_shapes(shape) == {"mu": (16,), "logvar": (16,)}
    out = model.transform(latent["mu"])
    assert [tuple(m.shape) for m in out.images] == [(2, 1, *shape)] * len(levels)
    assert [tuple(u.shape[2:]) for u in out.displacements] == levels[:-1]
    assert [tuple(a.shape[2:]) for a in out.intensities] == levels
    assert all(u.shape[:2] == (2, 3) for u in out.displacements)
    assert torch.equal(model.decode(latent), out.images[-1])
    fields = model.deformation_fields(latent)
    assert [tuple(f.shape) for f in fields] == [(2, 3, *shape)] * (len(levels) - 1)
    model.train().training_loss(x, step=1).total.backward()


def test_untrained_model_outputs_the_icbm_template():
    model = _model().eval()
    template = torch.from_numpy(np.array(atlas_on_grid(4).brain))
    assert torch.equal(model.template[0, 0], template)
    with torch.no_grad():
        images = model.sample(3, torch.Generator().manual_seed(0))
        fields = model.deformation_fields({"mu": torch.randn(3, 16)})
    # zero-initialised heads: no deformation, no intensity change
    assert torch.allclose(images, template.expand(3, 1, *GRID), atol=1e-5)
    assert all(float(f.abs().max()) == 0.0 for f in fields)


def _ramp_template(tmp_path, shape=GRID):
    """A template T(x) = x0 + 2 x1 + 3 x2 (voxels), exactly reproduced by trilinear sampling."""
    axes = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij")
    path = tmp_path / "ramp.nii.gz"
    nib.save(nib.Nifti1Image(axes[0] + 2 * axes[1] + 3 * axes[2], np.eye(4)), path)
    return str(path)


@pytest.mark.parametrize("level", [0, 1, 2])
def test_constant_velocity_is_a_translation_of_the_template(tmp_path, level):
    model = _model(template=_ramp_template(tmp_path)).eval()
    velocity = (0.5, -0.25, 0.125)  # voxels of the level's grid
    _constant_heads(model, level, velocity)
    with torch.no_grad():
        out = model.transform(torch.randn(2, 16))
    u = out.displacements[level]
    assert torch.allclose(u, torch.tensor(velocity).view(1, 3, 1, 1, 1).expand_as(u), atol=1e-5)
    # on the image grid the shift is scaled by the grids' ratio, (N - 1) / (n - 1) per axis
    n = [(5, 6, 5), (10, 12, 10), (20, 24, 20)][level]
    shift = [v * (N - 1) / (k - 1) for v, N, k in zip(velocity, GRID, n, strict=True)]
    with torch.no_grad():
        full = model.deformation_fields({"mu": torch.randn(1, 16)})[level]
    assert torch.allclose(full[0, :, 5, 5, 5], torch.tensor(shift), atol=1e-5)
    # the ramp moved by the shift: T(x + s) = T(x) + s0 + 2 s1 + 3 s2 away from the border
    expected = shift[0] + 2 * shift[1] + 3 * shift[2]
    moved = (out.images[-1] - model.template)[..., 6:-6, 6:-6, 6:-6]
    assert torch.allclose(moved, torch.full_like(moved, expected), atol=1e-3)


def test_small_random_fields_are_diffeomorphic():
    model = _model().eval()
    with torch.no_grad():
        for head in model.deformation_decoder.heads:
            head.weight.normal_(0.0, 0.05)
        fields = model.deformation_fields({"mu": torch.randn(4, 16)})
    assert all(float(f.abs().max()) > 0.05 for f in fields)  # really deformed
    for f in fields:
        assert float(deform.jacobian_determinant(f).min()) > 0


def _linear_field(shape, slope: float) -> torch.Tensor:
    """u = (slope * x0, 0, 0): |grad u|^2 = slope^2, div u = slope, |u|^2 = (slope x0)^2."""
    x0 = torch.arange(shape[0], dtype=torch.float32).view(-1, 1, 1).expand(*shape)
    u = torch.zeros(1, 3, *shape)
    u[0, 0] = slope * x0
    return u


def test_loss_terms_on_hand_made_fields():
    target = torch.zeros(1, 1, 8, 8, 8)
    images = [torch.full_like(target, 0.5), torch.full_like(target, 0.25)]
    displacements = [_linear_field((4, 4, 4), 0.1)]
    intensities = [torch.full((1, 1, 4, 4, 4), 2.0), torch.full_like(target, 3.0)]
    out = Transformation(images, displacements, intensities)
    gammas = {1: [10.0], 2: [1.0, 0.5], 3: [2.0], 4: [3.0], 5: [4.0]}
    terms = multiscale_terms(out, target, gammas)
    mean_u2 = float((0.1 * torch.arange(4.0)).pow(2).mean())
    expected = {
        "l1": 0.25,
        "intermediate_l1": 10 * 0.5,
        "intensity": 1.0 * 4 + 0.5 * 9,
        "gradient": 2.0 * 0.01,
        "divergence": 3.0 * 0.01,
        "displacement": 4.0 * mean_u2,
    }
    assert set(terms) == set(expected)
    for name, value in expected.items():
        assert float(terms[name]) == pytest.approx(value, rel=1e-5), name


def test_training_loss_terms_kl_warm_up_and_gradients():
    model = _model().train()
    x = torch.rand(2, 1, *GRID)
    first = model.training_loss(x, step=1)
    assert list(first.terms) == [
        "kl",
        "l1",
        "intermediate_l1",
        "intensity",
        "gradient",
        "divergence",
        "displacement",
    ]
    assert model.beta_at(1) == pytest.approx(model.beta / 4) and model.beta_at(9) == model.beta
    first.total.backward()
    # the zero heads still get gradients, so training moves away from the template
    assert all(h.weight.grad.abs().sum() > 0 for h in model.intensity_decoder.heads)
    assert all(h.weight.grad.abs().sum() > 0 for h in model.deformation_decoder.heads)


def test_bf16_autocast_keeps_fields_and_losses_fp32():
    model = _model().train()
    x = torch.rand(2, 1, *GRID)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.transform(model.encode(x)["mu"])
        objective = model.training_loss(x, step=3)
    assert all(t.dtype == torch.float32 for t in [*out.images, *out.displacements])
    assert all(t.dtype == torch.float32 and torch.isfinite(t) for t in objective.terms.values())
    objective.total.backward()


def test_same_seed_same_model_loss_and_samples():
    x = torch.rand(2, 1, *GRID)

    def run(seed):
        model = _model(seed)
        with torch.no_grad():
            for head in model.deformation_decoder.heads:
                head.weight.normal_(0.0, 0.05)
        torch.manual_seed(seed)
        loss = model.training_loss(x, step=2).total.detach()
        return loss, model.eval().sample(2, torch.Generator().manual_seed(5)).detach()

    (l0, s0), (l0b, s0b), (l1, s1) = run(0), run(0), run(1)
    assert torch.equal(l0, l0b) and torch.equal(s0, s0b)
    assert not torch.equal(l0, l1) and not torch.equal(s0, s1)


def test_weights_only_round_trip_keeps_the_template(tmp_path):
    model = _model(template=_ramp_template(tmp_path)).eval()
    with torch.no_grad():
        for head in model.intensity_decoder.heads:
            head.weight.normal_(0.0, 0.05)
    path = save_model(
        tmp_path / "m3ae.pt", model, TINY_M3AE | {"template": _ramp_template(tmp_path)}
    )
    (tmp_path / "ramp.nii.gz").unlink()  # loading does not need the template file any more
    loaded, _ = load_model(path)
    assert torch.equal(loaded.template, model.template) and loaded.image_shape == GRID
    z = torch.randn(2, 16)
    assert torch.equal(loaded.decode({"mu": z}), model.decode({"mu": z}))


def test_template_problems(tmp_path):
    with pytest.raises(ConfigError, match="template.*not found"):
        _model(template=str(tmp_path / "missing.nii.gz"))
    with pytest.raises(
        InputDataError, match=r"shape \(40, 48, 40\), expected the training images' \(16, 16, 16\)"
    ):
        _model(
            shape=(16, 16, 16),
            channels=[4, 8],
            decoder_channels=[8, 4],
            template=_ramp_template(tmp_path),
        )
    with pytest.raises(ConfigError, match="'icbm' exists on the model grids"):
        _model(shape=(16, 16, 16), channels=[4, 8], decoder_channels=[8, 4])


@pytest.mark.parametrize(
    ("settings", "key", "message"),
    [
        ({"decoder_channels": [8, 4]}, "decoder_channels", "expected one entry per encoder level"),
        ({"deformation_latent_dim": 16}, "deformation_latent_dim", "between 1 and latent_dim - 1"),
        ({"gamma1": [1.0, 1.0]}, "gamma1", r"one entry per warped level .* \(3\), got 2"),
        ({"gamma2": [1.0, 1.0, 1.0]}, "gamma2", r"one entry per level \(4\), got 3"),
        ({"norm_num_groups": 3}, "norm_num_groups", "multiple of norm_num_groups"),
    ],
)
def test_bad_settings_name_the_key(settings, key, message):
    with pytest.raises(ConfigError, match=rf"models.<name>.{key}'.*{message}"):
        _model(**settings)


def test_schema_rejects_unknown_keys_and_image_shape_is_checked():
    with pytest.raises(ConfigValidationError, match="gama1"):
        build_model({**TINY_M3AE, "gama1": 1.0}, image_shape=GRID)
    with pytest.raises(ValueError, match="needs the image shape"):
        build_model(TINY_M3AE)
    model = _model()
    with pytest.raises(ConfigError, match=r"built for \(40, 48, 40\)"):
        model.check_input_shape((48, 48, 40), "scan.nii.gz")


def test_decodes_two_different_scans_differently():
    """The decoder uses the latent: trained (no KL term) on two clearly different images, the
    template and the template shifted by 3 voxels at 80 % intensity, its two reconstructions
    differ about as much as the images do (ratio 1.0 after 50 steps), and they fit the images at
    least twice as well as the template does."""
    brain = torch.tensor(atlas_on_grid(4).brain, dtype=torch.float32)
    x = torch.stack([brain, 0.8 * torch.roll(brain, 3, dims=1)])[:, None]
    model = _model(beta=0.0).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=5e-4)
    for step in range(1, 76):
        optimiser.zero_grad()
        model.training_loss(x, step).total.backward()
        optimiser.step()
    with torch.no_grad():
        recon = model.eval().decode(model.encode(x))
    ratio = float((recon[0] - recon[1]).abs().mean() / (x[0] - x[1]).abs().mean())
    assert ratio > 0.5, f"the reconstructions differ {ratio:.3f} times as much as the images"
    assert float((recon - x).abs().mean()) < 0.5 * float((model.template - x).abs().mean())
