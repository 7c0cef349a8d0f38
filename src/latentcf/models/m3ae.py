"""Multiscale metamorphic VAE (M3AE; Kapoor, Macke, Baumgartner): images as transforms of a template.

Encoder: :class:`~latentcf.models.vector_blocks.ConvEncoder` to a latent vector (B, latent_dim),
split into z_phi (the first `deformation_latent_dim` entries) and z_A (the rest). Two decoders
of upsampling blocks, one per part, output coarse to fine on L = len(decoder_channels) + 1
levels (level k has shape s_k = image_shape / 2**(L-1-k), e.g. 5x6x5, 10x12x10, 20x24x20,
40x48x40 at 4 mm with decoder_channels [64, 32, 16]): z_phi -> a stationary velocity field
v_k (B, 3, *s_k) on levels 0..L-2, and z_A -> an additive intensity field A_k (B, 1, *s_k) on
levels 0..L-1 (the last at full resolution from a kernel-2 transposed convolution). Each block
after the first sees the previous block's features and its field (concatenated, then
upsampled). v_k is integrated to a
diffeomorphism phi_k by scaling and squaring (MONAI DVF2DDF, :mod:`latentcf.deform`), its
displacement and A_k are upsampled to the image grid, and the template T is transformed level
by level, M_k = (M_{k-1} + A_k) o phi_k with M_{-1} = T; the last level is additive only,
M = M_{L-2} + A_{L-1}. Field integration, warping and losses run in fp32 (also under bf16
autocast). The heads are zero-initialised, so an untrained model outputs the template.

Objective (losses in fp32; recon decoded from a posterior sample): L1(M, x) + beta(step) KL
+ sum over levels k of gamma1_k L1(M_k, x) + gamma2_k mean(A_k^2) + gamma3_k mean |grad u_k|^2
+ gamma4_k mean (div u_k)^2 + gamma5_k mean |u_k|^2, u_k the displacement of phi_k in voxels of
level k (gamma1, 3, 4, 5 on the L-1 warped levels; gamma2 on all L).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from latentcf import deform
from latentcf.errors import ConfigError
from latentcf.models.base import TrainingLoss, full_precision, register_family
from latentcf.models.settings import m3ae_problems, per_level
from latentcf.models.template import load_template
from latentcf.models.vector_blocks import (
    VectorToVolume,
    conv_block,
    full_resolution_head,
    level_shapes,
    up_block,
)
from latentcf.models.vector_vae import VectorVAE


class FieldDecoder(nn.Module):
    """z (B, latent_dim) -> one field (B, out_channels, *s_k) per level, coarse to fine: one per
    `channels` entry on the grids `shapes`, plus one at twice the last grid if `full_resolution`.

    Block 0 is a :func:`conv_block` on the linear layer's volume; block k > 0 an :func:`up_block`
    on block k-1's features concatenated with its field; the heads are 3x3x3 convolutions, the
    full-resolution one a :func:`full_resolution_head` on the last block's features and field.
    Every head starts at 0.
    """

    def __init__(
        self,
        latent_dim: int,
        channels: Sequence[int],
        shapes: Sequence[Sequence[int]],
        out_channels: int,
        groups: int,
        full_resolution: bool,
    ):
        super().__init__()
        self.start = VectorToVolume(latent_dim, channels[0], shapes[0])
        blocks = [conv_block(channels[0], channels[0], groups)]
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            blocks.append(up_block(c_in + out_channels, c_out, groups))
        self.blocks = nn.ModuleList(blocks)
        heads = [nn.Conv3d(c, out_channels, 3, padding=1) for c in channels]
        self.full_resolution = full_resolution
        if full_resolution:
            heads.append(full_resolution_head(channels[-1] + out_channels, out_channels))
        self.heads = nn.ModuleList(heads)
        for head in self.heads:
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def forward(self, z: torch.Tensor) -> list[torch.Tensor]:
        h, fields = self.start(z), []
        for k, block in enumerate(self.blocks):
            h = block(h if k == 0 else torch.cat([h, fields[-1]], dim=1))
            fields.append(self.heads[k](h))
        if self.full_resolution:
            fields.append(self.heads[-1](torch.cat([h, fields[-1]], dim=1)))
        return fields


@dataclass
class Transformation:
    """One decoding, all fp32. images : M_0..M_{L-1}, each (B, 1, X, Y, Z) (the last is the
    output); displacements : u_0..u_{L-2}, each (B, 3, *s_k) in voxels of level k;
    intensities : A_0..A_{L-1}, each (B, 1, *s_k)."""

    images: list[torch.Tensor]
    displacements: list[torch.Tensor]
    intensities: list[torch.Tensor]


@register_family("m3ae")
class M3AE(VectorVAE):
    """Multiscale metamorphic VAE; see the module docstring. Input (B, 1, *image_shape)."""

    def __init__(
        self,
        image_shape: Sequence[int],
        channels: list[int],
        decoder_channels: list[int],
        bottleneck_channels: int = 16,
        latent_dim: int = 512,
        deformation_latent_dim: int = 256,
        norm_num_groups: int = 8,
        template: str = "icbm",
        integration_steps: int | None = None,
        beta: float = 1e-4,
        kl_warmup_steps: int = 1000,
        gamma1: float | list[float] = 1.0,
        gamma2: float | list[float] = 0.1,
        gamma3: float | list[float] = 0.01,
        gamma4: float | list[float] = 0.01,
        gamma5: float | list[float] = 1e-4,
        read_template: bool = True,
    ):
        super().__init__()
        settings = {
            "channels": channels,
            "decoder_channels": decoder_channels,
            "norm_num_groups": norm_num_groups,
            "latent_dim": latent_dim,
            "deformation_latent_dim": deformation_latent_dim,
            **{f"gamma{i}": g for i, g in enumerate([gamma1, gamma2, gamma3, gamma4, gamma5], 1)},
        }
        problem = next(m3ae_problems(settings), None)
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
        levels = len(decoder_channels) + 1
        shapes = level_shapes(self.image_shape, levels)
        self.deformation_latent_dim = int(deformation_latent_dim)
        self.integration_steps = integration_steps
        self.gammas = {
            i: per_level(settings[f"gamma{i}"], levels if i == 2 else levels - 1)
            for i in range(1, 6)
        }
        self.deformation_decoder = FieldDecoder(
            deformation_latent_dim, decoder_channels, shapes[:-1], 3, norm_num_groups, False
        )
        self.intensity_decoder = FieldDecoder(
            latent_dim - deformation_latent_dim,
            decoder_channels,
            shapes[:-1],
            1,
            norm_num_groups,
            True,
        )
        values = load_template(template, self.image_shape) if read_template else 0.0
        self.register_buffer(
            "template",
            torch.as_tensor(values, dtype=torch.float32).expand(1, 1, *shapes[-1]).clone(),
        )

    @classmethod
    def construction_arguments(cls, image_shape: Sequence[int], for_loading: bool) -> dict:
        """A model about to receive stored weights (template included) need not read the template."""
        return {
            **super().construction_arguments(image_shape, for_loading),
            "read_template": not for_loading,
        }

    # -- the interface ------------------------------------------------------------------------
    def decode(self, latent: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Images (B, 1, X, Y, Z) from latent["mu"] (B, latent_dim)."""
        return self.transform(latent["mu"]).images[-1]

    def training_loss(self, x: torch.Tensor, step: int) -> TrainingLoss:
        z, kl = self.sample_posterior(self.encode(x))
        out = self.transform(z)
        with full_precision(x):
            terms = {"kl": self.beta_at(step) * kl, **multiscale_terms(out, x.float(), self.gammas)}
        return TrainingLoss(terms=terms, stats={"kl_per_scan": kl.detach()})

    # -- the multiscale transformation --------------------------------------------------------
    def transform(self, z: torch.Tensor) -> Transformation:
        """Decode latent vectors z (B, latent_dim) level by level (see the module docstring)."""
        z = z.to(self.template.device)
        z_phi, z_a = z.split(
            [self.deformation_latent_dim, z.shape[1] - self.deformation_latent_dim], 1
        )
        velocities = self.deformation_decoder(z_phi)
        intensities = self.intensity_decoder(z_a)
        size = self.image_shape
        with full_precision(z):
            intensities = [a.float() for a in intensities]
            image = self.template.float().expand(z.shape[0], -1, -1, -1, -1)
            images, displacements = [], []
            for v, a in zip(velocities, intensities[:-1], strict=True):
                u = deform.integrate_velocity(v.float(), self.integration_steps)
                displacements.append(u)
                image = deform.warp(image + _upsample(a, size), deform.upsample_field(u, size))
                images.append(image)
            images.append(image + intensities[-1])
        return Transformation(images, displacements, intensities)

    def deformation_fields(self, latent: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
        """Per warped level, coarse to fine, the displacement of phi_k on the image grid
        (B, 3, X, Y, Z) in voxels, for latents latent["mu"] (B, latent_dim)."""
        out = self.transform(latent["mu"])
        return [deform.upsample_field(u, self.image_shape) for u in out.displacements]


def multiscale_terms(
    out: Transformation, target: torch.Tensor, gammas: Mapping[int, Sequence[float]]
) -> dict[str, torch.Tensor]:
    """The reconstruction and per-level terms of the objective (module docstring), fp32 scalars.

    out : a decoding; target : images (B, 1, X, Y, Z); gammas : {i: per-level weights of
    gamma_i}, gamma2 with one entry per level, the others one per warped level.
    """
    images, displacements = out.images, out.displacements
    grads = [deform.spatial_gradient(u) for u in displacements]  # (B, 3, 3, *s_k)
    return {
        "l1": (images[-1] - target).abs().mean(),
        "intermediate_l1": sum(
            g * (m - target).abs().mean() for g, m in zip(gammas[1], images[:-1], strict=True)
        ),
        "intensity": sum(
            g * a.pow(2).mean() for g, a in zip(gammas[2], out.intensities, strict=True)
        ),
        "gradient": sum(
            g * j.pow(2).sum(dim=(1, 2)).mean() for g, j in zip(gammas[3], grads, strict=True)
        ),
        "divergence": sum(
            g * torch.diagonal(j, dim1=1, dim2=2).sum(-1).pow(2).mean()
            for g, j in zip(gammas[4], grads, strict=True)
        ),
        "displacement": sum(
            g * u.pow(2).sum(dim=1).mean() for g, u in zip(gammas[5], displacements, strict=True)
        ),
    }


def _upsample(field: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """An intensity field (B, 1, x, y, z) trilinearly resampled to `size` (identity if equal)."""
    if tuple(field.shape[2:]) == tuple(size):
        return field
    return torch.nn.functional.interpolate(
        field, size=tuple(size), mode="trilinear", align_corners=True
    )
