"""Residual quantisers (native and vector-quantize-pytorch): shapes, exact codes, residual codes refine."""

from __future__ import annotations

import pytest
import torch

from latentcf.errors import ConfigError
from latentcf.models.quantiser import build_quantiser

IMPLS = ["native", "vqpt"]


def _fitted(impl, levels=2, shared=True, dim=4, size=32):
    torch.manual_seed(0)
    q = build_quantiser(
        impl, dim=dim, codebook_size=size, num_levels=levels, shared_codebook=shared
    )
    z = torch.randn(2, dim, 5, 6, 5)
    q.train()
    for _ in range(5):
        q(z)  # k-means init + a few EMA updates
    return q.eval(), z


@pytest.mark.parametrize("impl", IMPLS)
def test_shapes_and_index_range(impl):
    q, z = _fitted(impl)
    z_q, indices, loss, stats = q(z)
    assert z_q.shape == z.shape and z_q.dtype == torch.float32
    assert indices.shape == (2, 2, 5, 6, 5) and indices.dtype == torch.int64
    assert int(indices.min()) >= 0 and int(indices.max()) < 32
    assert loss.ndim == 0 and float(loss.detach()) >= 0
    assert 1 <= float(stats["perplexity_l0"]) <= 32 and 1 <= float(stats["perplexity_l1"]) <= 32


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shared", [True, False])
def test_codes_sum_to_quantised_latent_and_residual_code_is_closer(impl, shared):
    q, z = _fitted(impl, shared=shared)
    z_q, indices, _, _ = q(z)
    codes = q.level_codes(indices)  # (L, B, C, d, h, w)
    assert codes.shape == (2, 2, 4, 5, 6, 5)
    torch.testing.assert_close(codes.sum(0), z_q, rtol=1e-5, atol=1e-5)
    first_only = (codes[0] - z).pow(2).mean()
    both = (z_q - z).pow(2).mean()
    assert both < 0.9 * first_only, (float(both), float(first_only))


@pytest.mark.parametrize("impl", IMPLS)
def test_eval_mode_does_not_change_codebook_and_is_deterministic(impl):
    q, z = _fitted(impl)
    before = {k: v.clone() for k, v in q.state_dict().items()}
    a = q(z)[1]
    b = q(z + 0)[1]
    assert torch.equal(a, b)
    assert all(torch.equal(before[k], v) for k, v in q.state_dict().items())


@pytest.mark.parametrize("rows", [1, 7, 300, 4096])
def test_native_nearest_code_is_the_closest_in_any_block_size(rows):
    """The search runs `rows` vectors at a time; every block size gives the brute-force answer."""
    from latentcf.models.quantiser import NativeResidualQuantiser

    torch.manual_seed(0)
    vectors, codebook = torch.randn(300, 8), torch.randn(64, 8)
    expected = torch.cdist(vectors, codebook).argmin(dim=1)
    assert torch.equal(NativeResidualQuantiser._nearest(vectors, codebook, rows=rows), expected)


def test_native_training_updates_codebook_and_gradients_pass_straight_through():
    torch.manual_seed(0)
    q = build_quantiser("native", dim=4, codebook_size=16, num_levels=2, dead_code_threshold=1.0)
    z = torch.randn(1, 4, 4, 4, 4, requires_grad=True)
    z_q, _, loss, stats = q(z)
    assert bool(q.initted) and q.embed.shape == (1, 16, 4)  # one shared codebook
    before = q.embed.clone()
    z_q.sum().backward()
    torch.testing.assert_close(z.grad, torch.ones_like(z))  # straight-through
    q(z.detach() + 1.0)
    assert not torch.equal(before, q.embed)
    assert float(stats["codes_used"]) >= 2
    assert build_quantiser("native", dim=4, shared_codebook=False).embed.shape[0] == 2


def test_unknown_implementation():
    with pytest.raises(ConfigError, match="model.vqvae.quantiser"):
        build_quantiser("faiss", dim=4)
