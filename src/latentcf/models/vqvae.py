"""3D VQ-VAE with residual quantisation, built from MONAI blocks.

Encoder (per level i, with channels c_i): a stride-2 convolution (kernel 4 for the first level,
3 after it) followed by `res_units[i]` residual units at that resolution; then a 3x3x3
convolution to `latent_channels`. Three levels take 160x192x160 (1 mm) to 20x24x20.
The first layer is strided, as in MONAI's VQVAE, so no convolution runs at full resolution
except the decoder's last (cheap, single-output-channel) transposed convolution: that is what
makes this design fast and small in memory. The decoder mirrors the encoder with
kernel-4 stride-2 transposed convolutions. No normalisation layers (batches are tiny).
The quantiser is latentcf.models.quantiser's residual VQ (native torch by default, or
vector-quantize-pytorch's ResidualVQ).

Why not monai.networks.nets.VQVAE itself: its quantiser is single-level (no residual codes),
it applies the same number of residual layers at every level (the half-resolution level
dominates the cost) and it lacks the encode/quantise/decode split on continuous latents.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import NamedTuple

import torch
from monai.networks.blocks import Convolution, ResidualUnit
from torch import nn

from latentcf.errors import ConfigError
from latentcf.models.base import (
    Latent,
    LatentAutoencoder,
    TrainingLoss,
    full_precision,
    register_family,
)
from latentcf.models.quantiser import build_quantiser
from latentcf.models.settings import vqvae_problem as settings_problem


@functools.lru_cache(maxsize=1)
def _ssim_loss() -> nn.Module:
    """MONAI's 1 - SSIM loss (3D, intensities in [0, 1]); built once, imported on first use."""
    from monai.losses import SSIMLoss

    return SSIMLoss(spatial_dims=3, data_range=1.0)


def _res_unit(channels: int) -> nn.Module:
    # x + conv(relu(conv(x))), 3x3x3, no normalisation.
    return ResidualUnit(
        spatial_dims=3,
        in_channels=channels,
        out_channels=channels,
        subunits=2,
        act="RELU",
        norm=None,
        last_conv_only=True,
    )


class Quantised(NamedTuple):
    """Output of :meth:`VQVAE.quantise`: z_q (B, C, d, h, w) with straight-through gradients,
    code indices (B, L, d, h, w) int64, the weighted commitment loss and usage statistics."""

    z_q: torch.Tensor
    indices: torch.Tensor
    loss: torch.Tensor
    stats: dict[str, torch.Tensor]


@register_family("vqvae")
class VQVAE(LatentAutoencoder):
    """3D VQ-VAE; see the module docstring. Input (B, 1, X, Y, Z), each axis a multiple of 2**levels.

    Latent: ``z`` (B, latent_channels, X/f, Y/f, Z/f), the continuous pre-quantisation output.
    Objective: L1(recon, x) + commitment + ssim_weight * (1 - SSIM(recon, x)).
    """

    def __init__(
        self,
        channels: list[int],
        res_units: list[int],
        latent_channels: int,
        codebook_size: int,
        num_levels: int,
        shared_codebook: bool,
        commitment_weight: float,
        ema_decay: float,
        kmeans_init: bool,
        dead_code_threshold: float,
        quantiser: str = "native",
        ssim_weight: float = 0.0,
    ):
        super().__init__()
        problem = settings_problem(channels, res_units)
        if problem:
            raise ConfigError("models.<name>.res_units", problem)
        self.channels = list(channels)
        self.latent_channels = latent_channels
        self.ssim_weight = float(ssim_weight)
        self.downsampling_factor = 2 ** len(channels)

        enc: list[nn.Module] = []
        prev = 1
        for i, (ch, n_res) in enumerate(zip(channels, res_units, strict=True)):
            k = 4 if i == 0 else 3
            enc.append(
                Convolution(3, prev, ch, strides=2, kernel_size=k, padding=1, act="RELU", norm=None)
            )
            enc.extend(_res_unit(ch) for _ in range(n_res))
            prev = ch
        enc.append(Convolution(3, prev, latent_channels, kernel_size=3, padding=1, conv_only=True))
        self.encoder = nn.Sequential(*enc)

        dec: list[nn.Module] = [
            Convolution(
                3, latent_channels, channels[-1], kernel_size=3, padding=1, act="RELU", norm=None
            )
        ]
        levels = list(zip(channels, res_units, strict=True))[::-1]
        for i, (ch, n_res) in enumerate(levels):
            dec.extend(_res_unit(ch) for _ in range(n_res))
            last = i == len(levels) - 1
            out = 1 if last else levels[i + 1][0]
            dec.append(
                Convolution(
                    3,
                    ch,
                    out,
                    strides=2,
                    kernel_size=4,
                    padding=1,
                    output_padding=0,
                    is_transposed=True,
                    act=None if last else "RELU",
                    norm=None,
                    conv_only=last,
                )
            )
        self.decoder = nn.Sequential(*dec)

        self.quantiser = build_quantiser(
            quantiser,
            dim=latent_channels,
            codebook_size=codebook_size,
            num_levels=num_levels,
            shared_codebook=shared_codebook,
            commitment_weight=commitment_weight,
            ema_decay=ema_decay,
            kmeans_init=kmeans_init,
            dead_code_threshold=dead_code_threshold,
        )

    def encode(self, x: torch.Tensor) -> Latent:
        """{"z": continuous latent (B, latent_channels, X/f, Y/f, Z/f)} of x (B, 1, X, Y, Z)."""
        return {"z": self.encoder(x)}

    def quantise(self, z: torch.Tensor) -> Quantised:
        """Residual-quantise z (B, C, d, h, w) (in fp32, also under autocast).

        In train mode this also updates the codebooks (EMA, dead-code replacement); call
        `model.eval()` first to quantise without changing the model.
        """
        return Quantised(*self.quantiser(z))

    def decode(self, latent: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Images (B, 1, X, Y, Z) from latent["z"] (B, C, d, h, w): quantise, then decode."""
        return self.decoder_from_codes(self.quantise(latent["z"]).z_q)

    def decoder_from_codes(self, z_q: torch.Tensor) -> torch.Tensor:
        """The decoder alone, on already quantised latents (B, C, d, h, w)."""
        return self.decoder(z_q.to(next(self.decoder.parameters()).dtype))

    def training_loss(self, x: torch.Tensor, step: int) -> TrainingLoss:
        z = self.encode(x)["z"]
        quant = self.quantise(z)
        recon = self.decoder_from_codes(quant.z_q)
        with full_precision(x):
            recon, target = recon.float(), x.float()
            terms = {"l1": (recon - target).abs().mean(), "commitment": quant.loss}
            if self.ssim_weight > 0:
                terms["ssim"] = self.ssim_weight * _ssim_loss()(recon, target)
        return TrainingLoss(terms=terms, stats=quant.stats)

    def latent_shapes(self, image_shape: tuple[int, int, int]) -> dict[str, tuple[int, ...]]:
        f = self.downsampling_factor
        return {"z": (self.latent_channels, *(int(s) // f for s in image_shape))}
