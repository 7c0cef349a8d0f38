"""Building blocks of the vector-latent families (betavae, m3ae): a convolutional encoder to one
latent vector per scan, and an upsampling decoder trunk that starts from a vector.

Both are MONAI ``Convolution`` / ``UpSample`` blocks (conv, GroupNorm, SiLU). The encoder maps
(B, 1, X, Y, Z) through len(channels) stride-2 convolutions to (B, channels[-1], X/f, Y/f, Z/f),
f = 2 ** len(channels), a 1x1x1 convolution to `bottleneck_channels`, and a linear layer to the
mean and log-variance of the latent, each (B, latent_dim). The bottleneck keeps the linear layer
small at 1 mm (5x6x5 x 16 inputs instead of x 128). No 3x3x3 convolution runs at full
resolution (the stem is strided; decoders end in a kernel-2 transposed convolution,
:func:`full_resolution_head`): on a CPU at the 4 mm grid that makes a step about 5x cheaper.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def conv_block(in_channels: int, out_channels: int, groups: int, strides: int = 1) -> nn.Module:
    """3x3x3 convolution (stride `strides`), GroupNorm(`groups`), SiLU (MONAI "swish")."""
    from monai.networks.blocks import Convolution

    return Convolution(
        spatial_dims=3,
        in_channels=in_channels,
        out_channels=out_channels,
        strides=strides,
        kernel_size=3,
        act="SWISH",  # SiLU
        norm=("group", {"num_groups": groups}),
    )


def up_block(in_channels: int, out_channels: int, groups: int) -> nn.Module:
    """Doubles the size: kernel-2 stride-2 transposed convolution, then a :func:`conv_block`."""
    from monai.networks.blocks import UpSample

    return nn.Sequential(
        UpSample(3, in_channels, out_channels, scale_factor=2, kernel_size=2, mode="deconv"),
        conv_block(out_channels, out_channels, groups),
    )


def full_resolution_head(in_channels: int, out_channels: int) -> nn.Module:
    """Doubles the size straight to the output: a kernel-2 stride-2 transposed convolution."""
    return nn.ConvTranspose3d(in_channels, out_channels, kernel_size=2, stride=2)


def level_shapes(image_shape: Sequence[int], levels: int) -> list[tuple[int, int, int]]:
    """Spatial shapes coarse to fine: image_shape / 2**(levels-1), ..., image_shape (`levels` entries)."""
    f = 2 ** (levels - 1)
    return [tuple(int(s) * 2**k // f for s in image_shape) for k in range(levels)]  # type: ignore[misc]


class ConvEncoder(nn.Module):
    """Images (B, 1, X, Y, Z) -> (mu, logvar), each (B, latent_dim); see the module docstring."""

    def __init__(
        self,
        image_shape: Sequence[int],
        channels: Sequence[int],
        bottleneck_channels: int,
        latent_dim: int,
        norm_num_groups: int,
    ):
        super().__init__()
        layers = [
            conv_block(c_in, c_out, norm_num_groups, strides=2)
            for c_in, c_out in zip([1, *channels[:-1]], channels, strict=True)
        ]
        layers.append(nn.Conv3d(channels[-1], bottleneck_channels, kernel_size=1))
        self.features = nn.Sequential(*layers)
        coarse = level_shapes(image_shape, len(channels) + 1)[0]
        self.to_moments = nn.Linear(bottleneck_channels * math.prod(coarse), 2 * latent_dim)
        self.latent_dim = latent_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        moments = self.to_moments(self.features(x).flatten(1))
        mu, logvar = moments.split(self.latent_dim, dim=1)
        return mu, torch.clamp(logvar, -30.0, 20.0)


class VectorToVolume(nn.Module):
    """Latent vectors (B, latent_dim) -> feature volumes (B, channels, *shape) by a linear layer."""

    def __init__(self, latent_dim: int, channels: int, shape: Sequence[int]):
        super().__init__()
        self.shape = (channels, *(int(s) for s in shape))
        self.linear = nn.Linear(latent_dim, math.prod(self.shape))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.silu(self.linear(z)).view(z.shape[0], *self.shape)
