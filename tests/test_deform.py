"""Displacement fields (latentcf.deform): translations, inverses, composition, Jacobians, grads."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from latentcf import deform

SHAPE = (20, 18, 16)


def constant_field(vector: tuple[float, float, float], batch: int = 1) -> torch.Tensor:
    return torch.tensor(vector, dtype=torch.float32).view(1, 3, 1, 1, 1).expand(batch, 3, *SHAPE)


def smooth_random_field(seed: int, rms: float, batch: int = 1) -> torch.Tensor:
    """White noise on a 4^3 lattice, trilinearly upsampled and box-smoothed twice: a smooth
    field (B, 3, X, Y, Z) of root-mean-square length `rms` voxels."""
    gen = torch.Generator().manual_seed(seed)
    lattice = torch.randn(batch, 3, 4, 4, 4, generator=gen)
    field = F.interpolate(lattice, size=SHAPE, mode="trilinear", align_corners=True)
    for _ in range(2):
        field = F.avg_pool3d(field, 5, stride=1, padding=2, count_include_pad=False)
    return field * (rms / field.pow(2).sum(1).mean().sqrt())


def interior(x: torch.Tensor, margin: int = 4) -> torch.Tensor:
    return x[..., margin:-margin, margin:-margin, margin:-margin]


def ramp() -> torch.Tensor:
    """Image (1, 1, X, Y, Z) = 1 x + 2 y + 3 z, exactly interpolated by trilinear sampling."""
    axes = torch.meshgrid(*[torch.arange(n, dtype=torch.float32) for n in SHAPE], indexing="ij")
    return (axes[0] + 2 * axes[1] + 3 * axes[2])[None, None]


@pytest.mark.parametrize("vector", [(1.5, 0.0, 0.0), (0.0, -2.25, 0.0), (0.7, 0.3, -1.1)])
def test_constant_velocity_integrates_to_the_same_translation(vector):
    ddf = deform.integrate_velocity(constant_field(vector, batch=2))
    assert ddf.shape == (2, 3, *SHAPE)
    expected = constant_field(vector, batch=2)
    assert torch.allclose(interior(ddf), interior(expected), atol=1e-4)


def test_warp_channel_i_moves_along_array_axis_i():
    """out(x) = image(x + u): a shift of (1, 0, 0) reads the next voxel along axis 0 (+1)."""
    image = ramp()
    for axis, gain in enumerate((1.0, 2.0, 3.0)):
        vector = [0.0, 0.0, 0.0]
        vector[axis] = 1.0
        out = deform.warp(image, constant_field(tuple(vector)))
        assert torch.allclose(interior(out - image), torch.full_like(interior(out), gain))


def test_compose_two_translations_add():
    a, b = constant_field((1.0, -0.5, 0.25)), constant_field((0.5, 2.0, -1.0))
    assert torch.allclose(interior(deform.compose(a, b)), interior(a + b), atol=1e-5)


def test_compose_applies_inner_first():
    """outer = linear field u(x) = 0.1 x_0 e_0, inner = translation t: (outer o inner)(x)
    = t + 0.1 (x_0 + t_0) e_0, which differs from inner o outer."""
    axes = torch.meshgrid(*[torch.arange(n, dtype=torch.float32) for n in SHAPE], indexing="ij")
    outer = torch.zeros(1, 3, *SHAPE)
    outer[:, 0] = 0.1 * axes[0]
    inner = constant_field((2.0, 1.0, 0.0))
    expected = inner.clone()
    expected[:, 0] += 0.1 * (axes[0] + 2.0)
    assert torch.allclose(interior(deform.compose(outer, inner)), interior(expected), atol=1e-5)
    assert not torch.allclose(interior(deform.compose(inner, outer)), interior(expected), atol=1e-2)


def test_velocity_then_its_negative_is_identity():
    """exp(-v) o exp(v) = identity up to interpolation error (a few % of the displacement)."""
    v = smooth_random_field(seed=1, rms=1.0, batch=2)
    phi, phi_inv = deform.integrate_velocity(v), deform.integrate_velocity(-v)
    size = float(interior(phi).abs().max())
    assert size > 1.5, "the test field must deform noticeably"
    for u in (deform.compose(phi_inv, phi), deform.compose(phi, phi_inv)):
        assert interior(u).abs().max() < 0.1 * size
        assert interior(u).abs().mean() < 0.01 * size


@pytest.mark.parametrize("seed", [1, 2])
def test_smooth_random_field_is_a_diffeomorphism(seed):
    """A field that folds when used as a displacement gives det > 0 once integrated."""
    v = smooth_random_field(seed=seed, rms=2.0)
    assert deform.jacobian_determinant(v).min() < 0
    det = deform.jacobian_determinant(deform.integrate_velocity(v))
    assert det.shape == (1, *SHAPE)
    assert det.min() > 0
    assert not torch.allclose(det, torch.ones_like(det), atol=0.05), "the field must deform"


def test_jacobian_of_a_uniform_scaling():
    """u(x) = 0.1 x: det = 1.1^3 everywhere (one-sided differences are exact at the edges)."""
    axes = torch.meshgrid(*[torch.arange(n, dtype=torch.float32) for n in SHAPE], indexing="ij")
    ddf = 0.1 * torch.stack(axes)[None]
    det = deform.jacobian_determinant(ddf)
    assert torch.allclose(det, torch.full_like(det, 1.1**3), atol=1e-5)


def test_jacobian_units_follow_spacing():
    """The same map given in mm with its voxel size has the same determinant."""
    v = deform.integrate_velocity(smooth_random_field(seed=4, rms=1.0))
    spacing = (2.0, 3.0, 1.5)
    mm = v * torch.tensor(spacing).view(1, 3, 1, 1, 1)
    assert torch.allclose(
        deform.jacobian_determinant(mm, spacing), deform.jacobian_determinant(v), atol=1e-5
    )


def test_jacobian_matches_numpy_gradient():
    import numpy as np

    u = smooth_random_field(seed=5, rms=1.0)[0].numpy()
    g = [np.gradient(u[i], 3.0) for i in range(3)]
    jac = np.stack([np.stack(row) for row in g]) + np.eye(3)[:, :, None, None, None]
    expected = np.linalg.det(np.moveaxis(jac, (0, 1), (-2, -1)))
    got = deform.jacobian_determinant(torch.from_numpy(u)[None], 3.0)[0].numpy()
    assert np.allclose(got, expected, atol=1e-5)


def test_gradients_flow_to_the_velocity():
    v = smooth_random_field(seed=6, rms=1.0).requires_grad_(True)
    image = ramp() ** 1.5
    loss = deform.warp(image, deform.integrate_velocity(v)).mean()
    loss = loss + deform.jacobian_determinant(deform.integrate_velocity(v)).var()
    loss.backward()
    assert v.grad is not None and torch.isfinite(v.grad).all() and v.grad.abs().sum() > 0


@pytest.mark.parametrize(("scale", "steps"), [(0.1, 0), (0.25, 0), (0.26, 1), (1.0, 2), (9.0, 6)])
def test_step_count_keeps_the_first_step_under_a_quarter_voxel(scale, steps):
    v = constant_field((scale, 0.0, -scale / 2))
    assert deform.scaling_steps(v) == steps
    assert scale / 2**steps <= 0.25


def test_zero_steps_returns_the_velocity_and_explicit_steps_are_used():
    v = smooth_random_field(seed=7, rms=0.05)
    assert torch.equal(deform.integrate_velocity(v), v)
    assert not torch.equal(deform.integrate_velocity(v, num_steps=3), v)
    assert torch.equal(deform.integrate_velocity(v, num_steps=0), v)


def test_no_monai_warning_reaches_the_user():
    deform.clear_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        deform.warp(ramp(), constant_field((0.5, 0.0, 0.0)), padding_mode="zeros")
        deform.integrate_velocity(constant_field((3.0, 0.0, 0.0)))


def test_float64_after_float32_uses_a_fresh_reference_grid():
    a = deform.compose(constant_field((1.0, 0.0, 0.0)), constant_field((0.5, 0.0, 0.0)))
    b = deform.compose(
        constant_field((1.0, 0.0, 0.0)).double(), constant_field((0.5, 0.0, 0.0)).double()
    )
    assert b.dtype == torch.float64 and torch.allclose(a.double(), b)


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (
            lambda: deform.warp(ramp(), constant_field((0, 0, 0)), mode="trilinar"),
            "mode.*'bilinear'",
        ),
        (
            lambda: deform.warp(ramp(), constant_field((0, 0, 0)), padding_mode="boarder"),
            r"padding_mode: got 'boarder'.*Did you mean 'border'",
        ),
        (lambda: deform.integrate_velocity(torch.zeros(1, 2, 4, 4, 4)), r"\(B, 3, X, Y, Z\)"),
        (lambda: deform.integrate_velocity(torch.zeros(1, 3, 4, 4, 4), -1), "num_steps: got -1"),
        (lambda: deform.jacobian_determinant(torch.zeros(3, 4, 4, 4)), r"\(B, 3, X, Y, Z\)"),
    ],
)
def test_bad_arguments_are_named(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
