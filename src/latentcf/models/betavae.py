"""beta-VAE with a plain convolutional decoder: the baseline M3AE is compared with (Kapoor et al.).

Encoder: :class:`~latentcf.models.vector_blocks.ConvEncoder` (the same as m3ae's), f = 2 **
len(channels). Decoder: a linear layer from z (B, latent_dim) to (B, decoder_channels[0], X/f,
Y/f, Z/f), a conv block, one :func:`~latentcf.models.vector_blocks.up_block` per further
decoder_channels entry (each doubles the size) and a kernel-2 transposed convolution to the image
(B, 1, X, Y, Z). Objective, in fp32:
L1(recon, x) + beta(step) * KL, with recon decoded from a posterior sample (see
:mod:`latentcf.models.vector_vae`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from latentcf.errors import ConfigError
from latentcf.models.base import TrainingLoss, full_precision, register_family
from latentcf.models.settings import vector_vae_problems
from latentcf.models.vector_blocks import (
    VectorToVolume,
    conv_block,
    full_resolution_head,
    level_shapes,
    up_block,
)
from latentcf.models.vector_vae import VectorVAE


@register_family("betavae")
class BetaVAE(VectorVAE):
    """beta-VAE; see the module docstring. Input (B, 1, *image_shape)."""

    def __init__(
        self,
        image_shape: Sequence[int],
        channels: list[int],
        decoder_channels: list[int],
        bottleneck_channels: int = 16,
        latent_dim: int = 512,
        norm_num_groups: int = 8,
        beta: float = 1e-4,
        kl_warmup_steps: int = 1000,
    ):
        super().__init__()
        settings = {
            "channels": channels,
            "decoder_channels": decoder_channels,
            "norm_num_groups": norm_num_groups,
        }
        problem = next(vector_vae_problems(settings), None)
        if problem:
            raise ConfigError(f"models.<name>.{problem[0]}", problem[1])
        self._build_encoder(
            image_shape,
            channels,
            bottleneck_channels,
            latent_dim,
            norm_num_groups,
            beta,
            kl_warmup_steps,
        )
        shapes = level_shapes(self.image_shape, len(decoder_channels) + 1)
        self.start = VectorToVolume(latent_dim, decoder_channels[0], shapes[0])
        self.trunk = nn.Sequential(
            conv_block(decoder_channels[0], decoder_channels[0], norm_num_groups),
            *[
                up_block(c_in, c_out, norm_num_groups)
                for c_in, c_out in zip(decoder_channels[:-1], decoder_channels[1:], strict=True)
            ],
        )
        self.head = full_resolution_head(decoder_channels[-1], 1)

    def decode(self, latent: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Images (B, 1, X, Y, Z) from latent["mu"] (B, latent_dim)."""
        z = latent["mu"].to(self.head.weight.dtype)
        return self.head(self.trunk(self.start(z)))

    def training_loss(self, x: torch.Tensor, step: int) -> TrainingLoss:
        z, kl = self.sample_posterior(self.encode(x))
        recon = self.decode({"mu": z})
        with full_precision(x):
            terms = {
                "l1": (recon.float() - x.float()).abs().mean(),
                "kl": self.beta_at(step) * kl,
            }
        return TrainingLoss(terms=terms, stats={"kl_per_scan": kl.detach()})
