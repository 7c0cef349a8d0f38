"""Masked MAE / MSE / PSNR / SSIM."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentcf.metrics import masked_metrics, ssim_map
from latentcf.metrics.reconstruction import SSIM_KERNEL_SIZE, SSIM_SIGMA


@pytest.fixture
def volume():
    rng = np.random.default_rng(0)
    from scipy.ndimage import gaussian_filter

    img = gaussian_filter(rng.random((24, 28, 24)), 2).astype(np.float32)
    mask = np.zeros(img.shape, bool)
    mask[6:18, 6:22, 6:18] = True
    return img * mask, mask


def test_identical_images(volume):
    img, mask = volume
    m = masked_metrics(img, img, mask)
    assert (
        m["mae"] == 0
        and m["mse"] == 0
        and m["psnr"] == float("inf")
        and m["ssim"] == pytest.approx(1.0, abs=1e-5)
    )
    assert m["n_voxels"] == mask.sum()


def test_more_noise_scores_worse(volume):
    img, mask = volume
    rng = np.random.default_rng(1)
    noise = rng.normal(size=img.shape).astype(np.float32)
    small = masked_metrics(img + 0.01 * noise, img, mask)
    large = masked_metrics(img + 0.05 * noise, img, mask)
    assert (
        small["mae"] < large["mae"]
        and small["mse"] < large["mse"]
        and small["psnr"] > large["psnr"]
        and small["ssim"] > large["ssim"]
    )
    assert large["mae"] == pytest.approx(0.05 * np.abs(noise[mask]).mean(), rel=1e-4)
    data_range = img[mask].max() - img[mask].min()
    mse = np.mean((0.05 * noise[mask]) ** 2)
    assert large["mse"] == pytest.approx(mse, rel=1e-4)
    assert large["psnr"] == pytest.approx(10 * np.log10(data_range**2 / mse), rel=1e-4)


def test_errors_outside_the_mask_are_ignored_for_mae(volume):
    img, mask = volume
    corrupted = img.copy()
    corrupted[0, 0, 0] = 100.0  # far from the mask (SSIM window is 11 voxels wide)
    m = masked_metrics(corrupted, img, mask)
    assert m["mae"] == 0 and m["mse"] == 0 and m["ssim"] == pytest.approx(1.0, abs=1e-5)


def test_bad_inputs(volume):
    img, mask = volume
    with pytest.raises(ValueError, match="same shape|one shape"):
        masked_metrics(img[:-1], img, mask)
    with pytest.raises(ValueError, match="empty"):
        masked_metrics(img, img, np.zeros_like(mask))


@pytest.mark.parametrize(("shape", "data_range"), [((24, 28, 24), 1.0), ((13, 40, 17), 0.37)])
def test_ssim_map_is_monais_with_a_separable_window(shape, data_range):
    """The separable window gives MONAI's map (its full 11^3 Gaussian kernel) voxel by voxel."""
    from monai.metrics.regression import compute_ssim_and_cs

    gen = torch.Generator().manual_seed(sum(shape))
    target = torch.rand(shape, generator=gen) * data_range
    pred = target + 0.1 * data_range * torch.randn(shape, generator=gen)
    pad = (SSIM_KERNEL_SIZE // 2,) * 6
    expected, _ = compute_ssim_and_cs(
        torch.nn.functional.pad(pred[None, None], pad),
        torch.nn.functional.pad(target[None, None], pad),
        spatial_dims=3,
        kernel_size=[SSIM_KERNEL_SIZE] * 3,
        kernel_sigma=[SSIM_SIGMA] * 3,
        data_range=data_range,
    )
    actual = ssim_map(pred, target, data_range)
    assert actual.shape == shape
    assert float((actual - expected[0, 0]).abs().max()) < 5e-5
    assert 0.1 < float(actual.mean()) < 0.99  # neither identical nor unrelated images
