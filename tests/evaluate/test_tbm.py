"""Tensor-based morphometry recovers the volume change of a known diffeomorphism, and nothing for no change."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from latentcf.deform import integrate_velocity, jacobian_determinant, warp
from latentcf.evaluate.tbm import jacobian, relative_changes, tbm_settings

AFFINE = np.diag([4.0, 4.0, 4.0, 1.0])
SHAPE = (40, 48, 40)


def _case(strength: float):
    """A textured image, the same image deformed by an expanding field around the centre, and
    the true Jacobian of the map from the reference to the deformed image."""
    rng = np.random.default_rng(0)
    image = ndimage.gaussian_filter(rng.random(SHAPE), 1.5).astype(np.float32)
    image = (image - image.min()) / (image.max() - image.min())
    grid = np.indices(SHAPE).astype(np.float32)
    offset = grid - ((np.array(SHAPE) - 1) / 2)[:, None, None, None]
    r2 = (offset**2).sum(0)
    field = strength * offset * np.exp(-r2 / (2 * 6.0**2))
    velocity = torch.from_numpy(field.astype(np.float32))[None]
    ddf = integrate_velocity(velocity)  # changed(x) = reference(x + ddf(x))
    changed = warp(torch.from_numpy(image)[None, None], ddf)[0, 0].numpy()
    true_jac = jacobian_determinant(integrate_velocity(-velocity))[0].numpy()
    weights = {
        "centre": (r2 <= 6.0**2).astype(np.float32),
        "outside": (r2 >= 16.0**2).astype(np.float32),
    }
    return image, changed, true_jac, weights


@pytest.mark.parametrize("strength", [0.03, -0.03])
def test_known_deformation_is_measured(strength):
    image, changed, true_jac, weights = _case(strength)
    truth = relative_changes(true_jac, weights)
    measured = relative_changes(jacobian(image, changed, AFFINE, tbm_settings({})), weights)
    assert abs(truth["centre"]) > 0.05  # a real change
    assert measured["centre"] == pytest.approx(truth["centre"], rel=0.25)
    assert abs(measured["outside"]) < 0.02


def test_identical_images_give_no_change():
    image, _, _, weights = _case(0.03)
    measured = relative_changes(jacobian(image, image, AFFINE, tbm_settings({})), weights)
    assert all(abs(v) < 1e-3 for v in measured.values())
    assert np.isnan(relative_changes(np.ones(SHAPE), {"empty": np.zeros(SHAPE)})["empty"])
