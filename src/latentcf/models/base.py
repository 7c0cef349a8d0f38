"""The interface every latent autoencoder family implements, and the family registry.

A model maps a batch of model-grid images x (B, 1, X, Y, Z) to a continuous latent
z = encode(x) (B, C, X/f, Y/f, Z/f), discretises it with quantise(z) and maps the result back
with decode(z_q) (B, 1, X, Y, Z). The counterfactual stage edits z between the calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from latentcf.errors import ConfigError, did_you_mean


@dataclass
class QuantiseResult:
    """Output of :meth:`LatentAutoencoder.quantise`.

    z_q : quantised latent, same shape as z (B, C, d, h, w).
    indices : code indices (B, L, d, h, w) for L quantiser levels (int64); None for continuous models.
    loss : scalar auxiliary loss to add to the training objective (e.g. commitment).
    stats : detached scalars for logging (e.g. perplexity per level).
    """

    z_q: torch.Tensor
    indices: torch.Tensor | None
    loss: torch.Tensor
    stats: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class ForwardResult:
    """Output of :meth:`LatentAutoencoder.forward`: reconstruction (B, 1, X, Y, Z), latents, loss terms."""

    recon: torch.Tensor
    z: torch.Tensor
    quant: QuantiseResult


class LatentAutoencoder(nn.Module):
    """Base class of the model families (vqvae now; a KL autoencoder and a metamorphic VAE later)."""

    family: str = ""
    #: Each spatial axis of the input must be a multiple of this (the total downsampling factor).
    downsampling_factor: int = 1

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Continuous pre-quantisation latent z (B, C, d, h, w) of images x (B, 1, X, Y, Z)."""
        raise NotImplementedError

    def quantise(self, z: torch.Tensor) -> QuantiseResult:
        """Discretise z; identity for continuous families."""
        raise NotImplementedError

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """Images (B, 1, X, Y, Z) from (quantised) latents (B, C, d, h, w)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> ForwardResult:
        z = self.encode(x)
        quant = self.quantise(z)
        return ForwardResult(recon=self.decode(quant.z_q), z=z, quant=quant)

    def latent_shape(self, image_shape: tuple[int, int, int]) -> tuple[int, ...]:
        """(C, d, h, w) of the latent of an image of spatial shape `image_shape`."""
        raise NotImplementedError

    def check_input_shape(self, image_shape: tuple[int, ...], source: str = "input") -> None:
        """Raise ConfigError unless every spatial axis is a multiple of the downsampling factor."""
        f = self.downsampling_factor
        if any(int(s) % f for s in image_shape):
            raise ConfigError(
                "model",
                f"{source} has spatial shape {tuple(image_shape)}, but this model needs every axis to be "
                f"a multiple of {f} (2 ** number of downsamplings)",
                "Use fewer downsampling levels (model.vqvae.channels) or another model-grid resolution",
            )


_FAMILIES: dict[str, Callable[[dict[str, Any]], LatentAutoencoder]] = {}


def register_family(name: str) -> Callable:
    """Class/factory decorator adding a model family to the registry under `name`."""

    def wrap(factory: Callable[[dict[str, Any]], LatentAutoencoder]):
        _FAMILIES[name] = factory
        return factory

    return wrap


def available_families() -> list[str]:
    """Names of the registered model families."""
    _import_families()
    return sorted(_FAMILIES)


def build_model(family: str, model_config: dict[str, Any]) -> LatentAutoencoder:
    """Instantiate family `family` from its config section (e.g. config["model"]["vqvae"])."""
    _import_families()
    if family not in _FAMILIES:
        raise ConfigError(
            "model.family",
            f"unknown model family {family!r}; available: {sorted(_FAMILIES)}"
            + did_you_mean(family, _FAMILIES),
        )
    return _FAMILIES[family](dict(model_config))


def _import_families() -> None:
    # Importing a family module registers it.
    from latentcf.models import vqvae  # noqa: F401
