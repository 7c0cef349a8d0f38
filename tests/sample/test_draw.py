"""Drawing from a model's prior: seeded batches, clipping, and the latents behind each batch."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from tiny_models import SHAPE, TinyPrior, TinyWarp

from latentcf.sample.deformations import jacobian_rows
from latentcf.sample.draw import draw_batches


def draws(model, n=5, batch_size=2, seed=7):
    return list(draw_batches(model, n, batch_size, torch.Generator().manual_seed(seed), SHAPE))


def expected_latents(n, batch_size, seed, dim=3):
    """z of each batch as the families draw it: randn(b, dim) from one CPU generator."""
    gen = torch.Generator().manual_seed(seed)
    return torch.cat(
        [torch.randn(min(batch_size, n - s), dim, generator=gen) for s in range(0, n, batch_size)]
    )


def test_batches_decode_the_seeded_prior_draws_clipped_at_zero():
    model = TinyPrior()
    batches = draws(model)
    assert [list(b) for b, _, _ in batches] == [[0, 1], [2, 3], [4]]
    images = np.concatenate([im for _, im, _ in batches])
    latents = expected_latents(5, 2, 7)
    with torch.no_grad():  # batch by batch, as drawn: a conv's rounding can depend on batch size
        expected = np.concatenate(
            [model.decode({"mu": latents[s : s + 2]})[:, 0].numpy() for s in range(0, 5, 2)]
        )
    assert images.shape == (5, *SHAPE) and images.dtype == np.float32
    assert (expected < 0).any() and images.min() == 0.0
    np.testing.assert_array_equal(images, np.clip(expected, 0, None))
    assert all(fields is None for _, _, fields in batches)  # no deformation_fields


def test_same_seed_same_images_other_seed_other_images():
    first = np.concatenate([im for _, im, _ in draws(TinyPrior(), seed=7)])
    again = np.concatenate([im for _, im, _ in draws(TinyPrior(), seed=7)])
    other = np.concatenate([im for _, im, _ in draws(TinyPrior(), seed=8)])
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_deformation_fields_belong_to_each_batchs_latents():
    """TinyWarp's level k has Jacobian determinant (1 + 0.1 z_k)^3: the statistics of the
    replayed latents equal those of the latents the images were decoded from."""
    z = expected_latents(5, 2, 7)
    means = {}
    for batch, _, fields in draws(TinyWarp()):
        assert fields is not None and len(fields) == 2
        for row in jacobian_rows(fields, [str(i) for i in batch]):
            means[int(row["sample"]), row["level"]] = row["mean"]
    for i in range(5):
        for k in (0, 1):
            assert means[i, str(k)] == pytest.approx(float(1 + 0.1 * z[i, k]) ** 3, rel=1e-5)


def test_a_sampler_that_is_not_decode_of_a_standard_normal_gets_no_fields(caplog):
    """A family whose samples are not decode(z ~ N(0, I)) (here: temperature 0.5): its
    deformation statistics would describe other latents, so none are computed."""
    caplog.set_level(logging.WARNING)
    batches = draws(TinyWarp(temperature=0.5))
    assert all(fields is None for _, _, fields in batches)
    assert "not decode" in caplog.text and "tinyprior" in caplog.text


def test_samples_of_the_wrong_shape_are_refused():
    with pytest.raises(
        ValueError, match=r"returned shape \(2, 1, 8, 10, 6\), expected \(2, 1, 8, 10, 7\)"
    ):
        list(draw_batches(TinyPrior(), 2, 2, torch.Generator().manual_seed(0), (8, 10, 7)))
