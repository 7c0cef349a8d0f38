"""Percentile intensity scaling and the QC metrics."""

from __future__ import annotations

import numpy as np
import pytest

from latentcf.errors import ConfigError
from latentcf.preprocess import metrics, normalise


def test_percentile_scaling_maps_brain_to_unit_range_and_background_to_zero():
    rng = np.random.default_rng(1)
    data = rng.normal(500, 80, (20, 20, 20)).astype(np.float32)
    mask = np.zeros(data.shape, bool)
    mask[5:15, 5:15, 5:15] = True
    data[0, 0, 0] = 1e6  # a hot voxel outside the brain changes nothing
    lo, hi = normalise.brain_percentiles(data, mask, 1.0, 99.0)
    assert lo == pytest.approx(np.percentile(data[mask], 1.0))
    assert hi == pytest.approx(np.percentile(data[mask], 99.0))
    out = normalise.scale(data, mask, lo, hi, clip=True)
    assert out.dtype == np.float32
    assert out[~mask].max() == 0.0
    assert 0.0 <= out[mask].min() and out[mask].max() <= 1.0
    inside = out[mask]
    assert 0.005 <= np.mean(inside >= 1.0) <= 0.02  # about the top 1 % saturates
    unclipped = normalise.scale(data, mask, lo, hi, clip=False)
    assert unclipped[mask].max() > 1.0  # the top 1 % lies above hi


def test_percentiles_scale_invariant():
    rng = np.random.default_rng(2)
    data = rng.gamma(4.0, 50.0, (10, 10, 10))
    mask = data > 100
    a = normalise.scale(data, mask, *normalise.brain_percentiles(data, mask, 0.5, 99.5), clip=True)
    b = normalise.scale(
        data * 7.3, mask, *normalise.brain_percentiles(data * 7.3, mask, 0.5, 99.5), clip=True
    )
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_bad_percentiles_name_the_config_key():
    with pytest.raises(ConfigError, match="preprocess.normalisation"):
        normalise.brain_percentiles(np.ones((3, 3, 3)), np.ones((3, 3, 3), bool), 60, 40)


def test_dice_ncc_volume():
    a = np.zeros((10, 10, 10), bool)
    b = np.zeros((10, 10, 10), bool)
    a[:5] = True
    b[2:7] = True
    assert metrics.dice(a, b) == pytest.approx(2 * 300 / 1000)
    assert metrics.dice(a, a) == 1.0
    x = np.random.default_rng(3).random((8, 8, 8))
    assert metrics.ncc(x, 3 * x + 2) == pytest.approx(1.0)
    assert metrics.ncc(x, -x) == pytest.approx(-1.0)
    assert metrics.volume_ml(a, np.diag([2.0, 2.0, 2.0, 1.0])) == pytest.approx(500 * 8 / 1000)


def test_dice_agrees_with_monai():
    """Our numpy Dice (kept in the per-scan jobs, which do not import monai) matches MONAI's."""
    import torch
    from monai.metrics import compute_dice

    rng = np.random.default_rng(4)
    for fraction_a, fraction_b in [(0.5, 0.5), (0.1, 0.7), (0.9, 0.05)]:
        a = rng.random((12, 10, 8)) < fraction_a
        b = rng.random((12, 10, 8)) < fraction_b
        theirs = compute_dice(
            torch.from_numpy(a)[None, None].float(),
            torch.from_numpy(b)[None, None].float(),
            include_background=True,
        )
        assert metrics.dice(a, b) == pytest.approx(float(theirs.item()), rel=1e-6)
