"""The interface every latent autoencoder family implements, and the family registry.

A model maps a batch of model-grid images x (B, 1, X, Y, Z) to a *latent*: a named set of
tensors, each (B, ...) — one tensor ``z`` (B, C, d, h, w) for the VQ-VAE, a mean and a
log-variance for variational families. One of them, :attr:`LatentAutoencoder.scm_latent`, is
what the latent SCM fits and edits (flattened to one vector per scan); :meth:`decode` maps a
(possibly edited) latent back to images, quantising first for quantised families. Each family
owns its training objective (:meth:`training_loss`), so the training loop stays generic, and
families with a prior can draw images (:meth:`sample`). A family may also own an adversary
(e.g. a patch discriminator, :meth:`LatentAutoencoder.adversary`): a submodule that the loop
trains with its own optimiser on :meth:`LatentAutoencoder.adversary_loss`, and that the
generator's optimiser leaves alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from latentcf.errors import ConfigError

#: Named latent tensors of a batch, each (B, ...).
Latent = dict[str, torch.Tensor]


@dataclass
class TrainingLoss:
    """One training step's objective.

    terms : weighted scalar loss terms; their sum (:attr:`total`) is minimised and each is a
        column ``loss_<name>`` of training.tsv.
    stats : detached scalars logged next to them (e.g. codebook perplexity per level).
    reconstruction : the step's reconstruction (B, 1, X, Y, Z), detached, for families with an
        adversary (passed to :meth:`LatentAutoencoder.adversary_loss`); None otherwise.
    """

    terms: dict[str, torch.Tensor]
    stats: dict[str, torch.Tensor] = field(default_factory=dict)
    reconstruction: torch.Tensor | None = None

    @property
    def total(self) -> torch.Tensor:
        return torch.stack(list(self.terms.values())).sum()


def full_precision(x: torch.Tensor) -> contextlib.AbstractContextManager:
    """Context in which autocast is off on `x`'s device: losses and quantisers run in fp32."""
    return torch.autocast(device_type=x.device.type, enabled=False)


class LatentAutoencoder(nn.Module):
    """Base class of the model families (see the module docstring)."""

    family: ClassVar[str] = ""
    #: The latent tensor the SCM fits and edits, and :meth:`decode` reads.
    scm_latent: ClassVar[str] = "z"
    #: True for families whose latent has a prior to sample from (see :meth:`sample`).
    has_prior: ClassVar[bool] = False
    #: Each spatial axis of the input must be a multiple of this (the total downsampling factor).
    downsampling_factor: int = 1
    #: True for families whose architecture is built for one image shape (see build_model).
    needs_image_shape: ClassVar[bool] = False

    @classmethod
    def construction_arguments(
        cls, image_shape: tuple[int, ...] | None, for_loading: bool
    ) -> dict[str, Any]:
        """Keyword arguments the family takes besides its settings: `image_shape` for families
        that need it; `for_loading` says stored weights (and buffers) will overwrite the new
        model's, so it may skip reading files its buffers are initialised from."""
        return {"image_shape": tuple(image_shape)} if cls.needs_image_shape else {}

    def encode(self, x: torch.Tensor) -> Latent:
        """Named latents of images x (B, 1, X, Y, Z)."""
        raise NotImplementedError

    def decode(self, latent: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Images (B, 1, X, Y, Z) from a latent (quantised first where the family quantises).

        Only :attr:`scm_latent` (and whatever the family documents) is read, so an edited latent
        decodes the same way as an encoded one. Call in eval mode: a quantiser in train mode
        would update its codebook.
        """
        raise NotImplementedError

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """decode(encode(x)), (B, 1, X, Y, Z)."""
        return self.decode(self.encode(x))

    def training_loss(self, x: torch.Tensor, step: int) -> TrainingLoss:
        """The family's objective on a batch x (B, 1, X, Y, Z) at 1-based optimiser step `step`.

        Called inside the training loop's autocast context; loss terms are computed in fp32
        (:func:`full_precision`).
        """
        raise NotImplementedError

    def latent_shapes(self, image_shape: tuple[int, int, int]) -> dict[str, tuple[int, ...]]:
        """Per-scan shape of each named latent for images of spatial shape `image_shape`."""
        raise NotImplementedError

    def adversary(self) -> nn.Module | None:
        """The family's adversary (a submodule, e.g. a patch discriminator), or None (default).

        The training loop excludes its parameters from the generator's optimiser and trains them
        with a second AdamW on :meth:`adversary_loss`; they are saved with the model.
        """
        return None

    def adversary_loss(
        self, x: torch.Tensor, reconstruction: torch.Tensor, step: int
    ) -> TrainingLoss | None:
        """The adversary's objective at 1-based step `step`, or None while it is not trained.

        x : the real batch (B, 1, X, Y, Z); reconstruction : the same step's detached
        reconstruction (:attr:`TrainingLoss.reconstruction`). Called inside the loop's autocast
        context after the generator's update; its terms' sum is the column ``adversary_loss``
        of training.tsv, its stats are columns of their own.
        """
        return None

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """`n` images (n, 1, X, Y, Z) drawn from the prior (families with :attr:`has_prior`)."""
        raise NotImplementedError(f"model family {self.family!r} has no prior to sample from")

    def check_input_shape(self, image_shape: tuple[int, ...], source: str = "input") -> None:
        """Raise ConfigError unless every spatial axis is a multiple of the downsampling factor."""
        f = self.downsampling_factor
        if any(int(s) % f for s in image_shape):
            raise ConfigError(
                "models",
                f"{source} has spatial shape {tuple(image_shape)}, but this model needs every axis "
                f"to be a multiple of {f} (2 ** number of downsamplings)",
                "Use fewer downsampling levels or another model-grid resolution",
            )


_FAMILIES: dict[str, type[LatentAutoencoder]] = {}


def register_family(name: str) -> Callable[[type[LatentAutoencoder]], type[LatentAutoencoder]]:
    """Class decorator adding a model family to the registry under `name`.

    The family's settings are described by ``workflow/schemas/<name>.schema.yaml`` (listed in
    model.schema.yaml); the class is built with those settings as keyword arguments.
    """

    def wrap(cls: type[LatentAutoencoder]) -> type[LatentAutoencoder]:
        cls.family = name
        _FAMILIES[name] = cls
        return cls

    return wrap


def available_families() -> list[str]:
    """Names of the registered model families."""
    _import_families()
    return sorted(_FAMILIES)


def model_settings(model_config: Mapping[str, Any], key: str = "models.<name>") -> dict[str, Any]:
    """A model's config entry ({family, settings...}) validated against the schemas, with every
    default filled in; `key` names the entry in messages. Raises ConfigValidationError."""
    from latentcf.config import validate_section

    return validate_section(model_config, "model.schema.yaml", key)


def build_model(
    model_config: Mapping[str, Any],
    key: str = "models.<name>",
    image_shape: tuple[int, ...] | None = None,
    for_loading: bool = False,
) -> LatentAutoencoder:
    """Instantiate a model from its config entry, e.g. ``{"family": "vqvae", "num_levels": 1}``.

    image_shape : spatial shape (X, Y, Z) of the images, required by families whose
        architecture depends on it (:attr:`LatentAutoencoder.needs_image_shape`).
    for_loading : the caller will load stored weights into the model (see
        :meth:`LatentAutoencoder.construction_arguments`).
    """
    settings = model_settings(model_config, key)
    _import_families()
    cls = _FAMILIES[settings.pop("family")]
    if cls.needs_image_shape and image_shape is None:
        raise ValueError(f"model family {cls.family!r} needs the image shape to be built")
    return cls(**settings, **cls.construction_arguments(image_shape, for_loading))


def _import_families() -> None:
    # Importing a family module registers it.
    from latentcf.models import betavae, klae, m3ae, vqvae  # noqa: F401
