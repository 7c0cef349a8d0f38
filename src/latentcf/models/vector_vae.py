"""Shared base of the vector-latent VAEs (betavae, m3ae): one latent vector per scan with a
N(0, I) prior, so they can be sampled, and an architecture bound to one image grid.

Latent: ``mu`` and ``logvar``, each (B, latent_dim); the SCM fits and edits `mu`, decoding reads
`mu` only. KL(N(mu, exp(logvar)) || N(0, I)) is summed over the latent's entries and averaged
over the batch; its weight beta rises linearly from 0 to `beta` over the first
`kl_warmup_steps` optimiser steps (no warm-up with 0), so the decoder first learns to
reconstruct before the posterior is pulled to the prior.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from latentcf.errors import ConfigError
from latentcf.models.base import Latent, LatentAutoencoder, full_precision
from latentcf.models.collectives import global_randn_like
from latentcf.models.vector_blocks import ConvEncoder


class VectorVAE(LatentAutoencoder):
    """Base class; subclasses build :attr:`encoder` through :meth:`_build_encoder` and
    implement :meth:`decode` and :meth:`training_loss`."""

    scm_latent = "mu"
    has_prior = True
    #: The architecture (its linear layers) is built for one image shape: build_model needs it.
    needs_image_shape = True

    def _build_encoder(
        self,
        image_shape: Sequence[int],
        channels: Sequence[int],
        bottleneck_channels: int,
        latent_dim: int,
        norm_num_groups: int,
        beta: float,
        kl_warmup_steps: int,
    ) -> None:
        self.image_shape = tuple(int(s) for s in image_shape)
        self.downsampling_factor = 2 ** len(channels)
        self.check_input_shape(self.image_shape, "the model's image_shape")
        self.latent_dim = int(latent_dim)
        self.beta = float(beta)
        self.kl_warmup_steps = int(kl_warmup_steps)
        self.encoder = ConvEncoder(
            self.image_shape, channels, bottleneck_channels, latent_dim, norm_num_groups
        )

    # -- the interface ------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> Latent:
        """{"mu", "logvar"}: each (B, latent_dim), of x (B, 1, X, Y, Z)."""
        mu, logvar = self.encoder(x)
        return {"mu": mu, "logvar": logvar}

    def latent_shapes(self, image_shape: tuple[int, int, int]) -> dict[str, tuple[int, ...]]:
        return {"mu": (self.latent_dim,), "logvar": (self.latent_dim,)}

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """`n` images (n, 1, X, Y, Z) decoded from z ~ N(0, I) (drawn on the CPU, so a seeded
        `generator` gives the same latents on every device)."""
        z = torch.randn(n, self.latent_dim, generator=generator)
        device = next(self.parameters()).device
        return self.decode({"mu": z.to(device)})

    def check_input_shape(self, image_shape: tuple[int, ...], source: str = "input") -> None:
        """Axes multiples of the downsampling factor, and (once built) the model's own shape."""
        super().check_input_shape(image_shape, source)
        own = getattr(self, "image_shape", None)
        if own is not None and tuple(int(s) for s in image_shape) != own:
            raise ConfigError(
                "models.<name>",
                f"{source} has spatial shape {tuple(image_shape)}, but this {self.family} model "
                f"was built for {own} (its linear layers fix the grid)",
                "Retrain the model at this resolution",
            )

    # -- helpers ------------------------------------------------------------------------------
    def beta_at(self, step: int) -> float:
        """KL weight at 1-based optimiser step `step` (linear warm-up from 0)."""
        if self.kl_warmup_steps <= 0:
            return self.beta
        return self.beta * min(1.0, step / self.kl_warmup_steps)

    def sample_posterior(self, latent: Latent) -> tuple[torch.Tensor, torch.Tensor]:
        """(z, KL per scan averaged over the batch): z = mu + exp(logvar / 2) * eps, in fp32."""
        with full_precision(latent["mu"]):
            mu, logvar = latent["mu"].float(), latent["logvar"].float()
            z = mu + global_randn_like(mu) * torch.exp(0.5 * logvar)
            kl = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=1).mean()
        return z, kl
