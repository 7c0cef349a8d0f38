"""KL-regularised 3D autoencoder (MONAI's AutoencoderKL) with a patch discriminator.

The autoencoder of latent diffusion models (Rombach et al.; Pinaya et al. for brain MRI), used by
MRExtrap (Kapoor et al.) to model ageing as a line in its latent space. Encoder: a full-resolution
convolution, then per level i residual blocks at channels[i] (GroupNorm, SiLU, 3x3x3 conv, twice)
and a stride-2 downsampling between levels, then 1x1x1 convolutions to the latent mean `mu` and
log-variance `logvar`, each (B, latent_channels, X/f, Y/f, Z/f), f = 2 ** (len(channels) - 1).
The decoder mirrors it. No attention by default (attention over all voxels of a level is the
costliest part of MONAI's tutorial setup).

Objective (:meth:`KLAE.training_loss`), losses in fp32:
L1(recon, x) + kl_weight * KL(N(mu, exp(logvar)) || N(0, I)) [summed over latent elements,
mean over the batch] + perceptual_weight * mean |F(recon) - F(x)| [only with a user-supplied
TorchScript feature network F, loaded on first use] + adversarial_weight * generator loss against a MONAI
PatchDiscriminator [from step `adversarial_start_step`], where recon decodes a sample
mu + exp(logvar / 2) * eps. The discriminator is this model's adversary
(:meth:`KLAE.adversary`): the training loop trains it with its own optimiser on
:meth:`KLAE.adversary_loss` (real batch vs the detached reconstruction). During the generator's
pass its parameters are frozen, so no gradient is computed for them there.

The SCM fits and edits `mu`; :meth:`KLAE.decode` reads `mu` only (the mean decodes to the
expected image; `logvar` is kept for analyses). With kl_weight 1e-6 the latent is far from N(0, I),
so the family has no prior to sample from.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from latentcf.errors import ConfigError
from latentcf.feature_network import load_feature_network
from latentcf.models.base import (
    Latent,
    LatentAutoencoder,
    TrainingLoss,
    full_precision,
    register_family,
)
from latentcf.models.collectives import global_randn_like
from latentcf.models.settings import klae_problems

PERCEPTUAL_KEY = "models.<name>.perceptual_network"


def load_perceptual_network(path: str | Path) -> nn.Module:
    """The frozen perceptual feature network (:func:`latentcf.feature_network.load_feature_network`)."""
    return load_feature_network(path, PERCEPTUAL_KEY)


def discriminator_output_shape(image_shape: Sequence[int], layers: int) -> tuple[int, ...]:
    """Spatial shape of MONAI PatchDiscriminator's logits (kernel 4, padding 1) for `image_shape`."""

    def conv(n: int, stride: int) -> int:
        return (n + 2 - 4) // stride + 1

    out = []
    for n in image_shape:
        n = conv(int(n), 2)  # first layer
        for i in range(layers):
            n = conv(n, 1 if i == layers - 1 else 2)
        out.append(conv(n, 1))  # final layer
    return tuple(out)


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Parameters of `module` do not require gradients inside the context (restored after)."""
    params = list(module.parameters())
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)


@register_family("klae")
class KLAE(LatentAutoencoder):
    """KL autoencoder; see the module docstring. Input (B, 1, X, Y, Z), axes multiples of f.

    Latent: ``mu`` and ``logvar`` (B, latent_channels, X/f, Y/f, Z/f), f = 2 ** (len(channels) - 1).
    """

    scm_latent = "mu"

    def __init__(
        self,
        channels: list[int],
        num_res_blocks: int | list[int],
        latent_channels: int,
        norm_num_groups: int,
        attention_levels: list[bool] | None = None,
        nonlocal_attention: bool = False,
        use_convtranspose: bool = False,
        activation_checkpointing: bool = False,
        kl_weight: float = 1e-6,
        adversarial_weight: float = 0.01,
        adversarial_start_step: int = 1000,
        adversarial_criterion: str = "least_squares",
        discriminator_channels: int = 32,
        discriminator_layers: int = 3,
        perceptual_network: str | None = None,
        perceptual_weight: float = 1e-3,
    ):
        super().__init__()
        from monai.losses.adversarial_loss import PatchAdversarialLoss
        from monai.networks.nets.autoencoderkl import AutoencoderKL
        from monai.networks.nets.patchgan_discriminator import PatchDiscriminator

        settings = {
            "channels": channels,
            "num_res_blocks": num_res_blocks,
            "norm_num_groups": norm_num_groups,
            "attention_levels": attention_levels,
            "perceptual_network": None,  # read on first use (not needed to encode)
        }
        problem = next(klae_problems(settings), None)
        if problem:
            raise ConfigError(f"models.<name>.{problem[0]}", problem[1])
        n = len(channels)
        blocks = [num_res_blocks] * n if isinstance(num_res_blocks, int) else list(num_res_blocks)
        self.latent_channels = latent_channels
        self.downsampling_factor = 2 ** (n - 1)
        self.kl_weight = float(kl_weight)
        self.adversarial_weight = float(adversarial_weight)
        self.adversarial_start_step = int(adversarial_start_step)
        self.discriminator_layers = discriminator_layers
        self.perceptual_weight = float(perceptual_weight)
        self.autoencoder = AutoencoderKL(
            spatial_dims=3,
            in_channels=1,
            out_channels=1,
            num_res_blocks=blocks,
            channels=list(channels),
            attention_levels=list(attention_levels or [False] * n),
            latent_channels=latent_channels,
            norm_num_groups=norm_num_groups,
            with_encoder_nonlocal_attn=nonlocal_attention,
            with_decoder_nonlocal_attn=nonlocal_attention,
            use_checkpoint=activation_checkpointing,
            use_convtranspose=use_convtranspose,
            use_flash_attention=True,  # torch's scaled_dot_product_attention (also on CPU)
        )
        self.discriminator: nn.Module | None = None
        if self.adversarial_weight > 0:
            self.discriminator = PatchDiscriminator(
                spatial_dims=3,
                channels=discriminator_channels,
                in_channels=1,
                out_channels=1,
                num_layers_d=discriminator_layers,
            )
            self.adversarial_criterion = PatchAdversarialLoss(criterion=adversarial_criterion)
        # Loaded on first use (training only; encoding never reads the file), and kept in a
        # list: out of parameters() and state_dict(), so never trained and never saved.
        self._perceptual: list[nn.Module] = []
        self._perceptual_path = perceptual_network

    # -- the interface ------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> Latent:
        """{"mu", "logvar"}: each (B, latent_channels, X/f, Y/f, Z/f), of x (B, 1, X, Y, Z)."""
        ae = self.autoencoder
        if ae.use_checkpoint and torch.is_grad_enabled():
            h = checkpoint(ae.encoder, x, use_reentrant=False)
        else:
            h = ae.encoder(x)
        logvar = torch.clamp(ae.quant_conv_log_sigma(h), -30.0, 20.0)  # as MONAI's encode
        return {"mu": ae.quant_conv_mu(h), "logvar": logvar}

    def decode(self, latent: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Images (B, 1, X, Y, Z) from latent["mu"] (B, C, d, h, w); other entries are ignored."""
        mu = latent["mu"]
        return self.autoencoder.decode(mu.to(next(self.autoencoder.parameters()).dtype))

    def training_loss(self, x: torch.Tensor, step: int) -> TrainingLoss:
        latent = self.encode(x)
        with full_precision(x):
            mu, logvar = latent["mu"].float(), latent["logvar"].float()
            z = mu + global_randn_like(mu) * torch.exp(0.5 * logvar)
            kl = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=(1, 2, 3, 4)).mean()
        recon = self.autoencoder.decode(z)
        adversarial = self._adversarial_active(step)
        if adversarial:
            with frozen(self.discriminator):
                logits = self.discriminator(recon)[-1]
        with full_precision(x):
            recon32, target = recon.float(), x.float()
            terms = {"l1": (recon32 - target).abs().mean(), "kl": self.kl_weight * kl}
            if self._perceptual_path is not None:
                terms["perceptual"] = self.perceptual_weight * self.perceptual_loss(recon32, target)
            if adversarial:
                g_loss = self.adversarial_criterion(
                    logits.float(), target_is_real=True, for_discriminator=False
                )
                terms["adversarial"] = self.adversarial_weight * g_loss
        return TrainingLoss(
            terms=terms,
            stats={"kl_per_scan": kl.detach()},
            reconstruction=recon.detach() if self.discriminator is not None else None,
        )

    def latent_shapes(self, image_shape: tuple[int, int, int]) -> dict[str, tuple[int, ...]]:
        f = self.downsampling_factor
        shape = (self.latent_channels, *(int(s) // f for s in image_shape))
        return {"mu": shape, "logvar": shape}

    def check_input_shape(self, image_shape: tuple[int, ...], source: str = "input") -> None:
        """Axes multiples of f, and a non-empty discriminator output (when there is one)."""
        super().check_input_shape(image_shape, source)
        if self.discriminator is None:
            return
        out = discriminator_output_shape(image_shape, self.discriminator_layers)
        if min(out) < 1:
            raise ConfigError(
                "models.<name>.discriminator_layers",
                f"{source} has spatial shape {tuple(image_shape)}: the patch discriminator's "
                f"{self.discriminator_layers} layers leave a logit grid of {out}, expected at "
                "least one voxel per axis",
                "Use fewer discriminator_layers",
            )

    # -- the adversary ------------------------------------------------------------------------
    def adversary(self) -> nn.Module | None:
        """The patch discriminator (None with adversarial_weight 0)."""
        return self.discriminator

    def adversary_loss(
        self, x: torch.Tensor, reconstruction: torch.Tensor, step: int
    ) -> TrainingLoss | None:
        """Discriminator loss 0.5 * (fake + real) (unweighted), None before adversarial_start_step."""
        if not self._adversarial_active(step):
            return None
        fake = self.discriminator(reconstruction)[-1]
        real = self.discriminator(x)[-1]
        with full_precision(x):
            criterion = self.adversarial_criterion
            loss_fake = criterion(fake.float(), target_is_real=False, for_discriminator=True)
            loss_real = criterion(real.float(), target_is_real=True, for_discriminator=True)
            loss = 0.5 * (loss_fake + loss_real)
        return TrainingLoss(
            terms={"discriminator": loss},
            stats={
                "adversary_loss_fake": loss_fake.detach(),
                "adversary_loss_real": loss_real.detach(),
            },
        )

    # -- helpers ------------------------------------------------------------------------------
    def _adversarial_active(self, step: int) -> bool:
        return self.discriminator is not None and step >= self.adversarial_start_step

    def perceptual_loss(self, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean absolute difference of the perceptual network's features (scalar, fp32 inputs).

        Loads `perceptual_network` on the first call (ConfigError if missing or invalid).
        """
        if not self._perceptual:
            self._perceptual.append(load_perceptual_network(self._perceptual_path))
        net = self._perceptual[0].to(recon.device)  # a no-op once there
        fake = self._features(net(recon))
        with torch.no_grad():
            real = self._features(net(target))
        if len(fake) != len(real):
            raise ConfigError(
                PERCEPTUAL_KEY, f"{self._perceptual_path!r} returned a varying number of features"
            )
        diffs = [(a.float() - b.float()).abs().mean() for a, b in zip(fake, real, strict=True)]
        return torch.stack(diffs).mean()

    def _features(self, out: object) -> list[torch.Tensor]:
        if isinstance(out, torch.Tensor):
            return [out]
        if isinstance(out, list | tuple) and out and all(isinstance(t, torch.Tensor) for t in out):
            return list(out)
        raise ConfigError(
            PERCEPTUAL_KEY,
            f"{self._perceptual_path!r} returned {type(out).__name__}; expected a tensor or a "
            "non-empty list of tensors",
        )
