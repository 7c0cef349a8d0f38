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

from typing import Any

import torch
from monai.networks.blocks import Convolution, ResidualUnit
from torch import nn

from latentcf.errors import ConfigError
from latentcf.models.base import LatentAutoencoder, QuantiseResult, register_family
from latentcf.models.quantiser import build_quantiser

#: Defaults of config["model"]["vqvae"] (the schema holds the same values).
DEFAULTS: dict[str, Any] = {
    "channels": [32, 64, 128],
    "res_units": [1, 2, 2],
    "latent_channels": 8,
    "codebook_size": 512,
    "num_levels": 2,
    "shared_codebook": True,
    "commitment_weight": 0.25,
    "ema_decay": 0.99,
    "kmeans_init": True,
    "dead_code_threshold": 2.0,
    "quantiser": "native",
}


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


class VQVAE(LatentAutoencoder):
    """3D VQ-VAE; see the module docstring. Input (B, 1, X, Y, Z), each axis a multiple of 2**levels."""

    family = "vqvae"

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
    ):
        super().__init__()
        if len(res_units) != len(channels):
            raise ConfigError(
                "model.vqvae.res_units",
                f"expected one entry per level ({len(channels)}, as in model.vqvae.channels), got {len(res_units)}",
            )
        self.channels = list(channels)
        self.latent_channels = latent_channels
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

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Continuous latent (B, latent_channels, X/f, Y/f, Z/f) of x (B, 1, X, Y, Z), f = 2**levels."""
        return self.encoder(x)

    def quantise(self, z: torch.Tensor) -> QuantiseResult:
        """Residual-quantise z (B, C, d, h, w); indices (B, num_levels, d, h, w).

        In train mode this also updates the codebooks (EMA, dead-code replacement); call
        `model.eval()` first to quantise without changing the model.
        """
        z_q, indices, loss, stats = self.quantiser(z)
        return QuantiseResult(z_q=z_q, indices=indices, loss=loss, stats=stats)

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """Images (B, 1, X, Y, Z) from latents (B, C, d, h, w)."""
        return self.decoder(z_q.to(next(self.decoder.parameters()).dtype))

    def latent_shape(self, image_shape: tuple[int, int, int]) -> tuple[int, ...]:
        f = self.downsampling_factor
        return (self.latent_channels, *(int(s) // f for s in image_shape))


@register_family("vqvae")
def build_vqvae(model_config: dict[str, Any]) -> VQVAE:
    """VQVAE from config["model"]["vqvae"] (missing keys take :data:`DEFAULTS`)."""
    unknown = sorted(set(model_config) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"model.vqvae.{unknown[0]}", f"unknown key; allowed: {sorted(DEFAULTS)}")
    cfg = {**DEFAULTS, **model_config}
    return VQVAE(**cfg)
