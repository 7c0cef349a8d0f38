"""Tiny models with a N(0, I) prior for the sample tests (real, deterministic decoders)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from latentcf.models.base import LatentAutoencoder

SHAPE = (8, 10, 6)
CENTRE = torch.tensor([(s - 1) / 2 for s in SHAPE]).view(1, 3, 1, 1, 1)


class TinyPrior(LatentAutoencoder):
    """Images 0.5 + sum_d z_d basis_d of a latent vector z (B, dim); sample() decodes z ~ N(0, I)
    drawn from the generator on the CPU, as the vector-VAE families do."""

    family = "tinyprior"
    scm_latent = "mu"
    has_prior = True

    def __init__(self, dim: int = 3, temperature: float = 1.0):
        super().__init__()
        basis = torch.randn(dim, *SHAPE, generator=torch.Generator().manual_seed(0))
        self.basis = nn.Parameter(basis)
        self.dim, self.temperature = dim, temperature

    def latent_shapes(self, image_shape):
        return {"mu": (self.dim,), "logvar": (self.dim,)}

    def decode(self, latent: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return 0.5 + torch.einsum("bd,dxyz->bxyz", latent["mu"], self.basis)[:, None]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.randn(n, self.dim, generator=generator) * self.temperature
        return self.decode({"mu": z})


class TinyWarp(TinyPrior):
    """TinyPrior with two warped levels: level k scales positions about the grid centre by
    1 + SCALE z_k (displacement SCALE z_k (x - centre)), so its Jacobian determinant is
    (1 + SCALE z_k)^3 everywhere (a linear field's central differences are exact)."""

    SCALE = 0.1

    def deformation_fields(self, latent: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
        z = latent["mu"]
        position = torch.stack(
            torch.meshgrid(*[torch.arange(s, dtype=z.dtype) for s in SHAPE], indexing="ij")
        )
        offset = position[None] - CENTRE
        return [self.SCALE * z[:, k].view(-1, 1, 1, 1, 1) * offset for k in range(2)]
