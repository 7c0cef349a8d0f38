"""Displacement and velocity fields on a coarse grid over the template, in template mm.

A field is a float32 array of shape (3, X, Y, Z) holding displacements (mm, RAS axes) at the
points of a :class:`FieldGrid`. Composition, scaling and squaring and Jacobians are the core
:mod:`latentcf.deform` (voxel units = mm / spacing; trilinear, border padding); :func:`sample`
interpolates a field at arbitrary points with torch `grid_sample`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.fft import dctn, idctn

from latentcf import deform


@dataclass(frozen=True)
class FieldGrid:
    """A grid of spacing `spacing` mm whose point (i, j, k) sits at template voxel
    `origin_vox + spacing * (i, j, k)` (template voxels are 1 mm and axis-aligned)."""

    shape: tuple[int, int, int]
    spacing: int
    origin_vox: float

    @classmethod
    def over_template(cls, template_shape: tuple[int, ...], spacing: int) -> FieldGrid:
        """Grid whose points are the centres of `spacing`^3 blocks of template voxels."""
        shape = tuple(int(np.ceil(n / spacing)) for n in template_shape)
        return cls(shape=shape, spacing=int(spacing), origin_vox=(spacing - 1) / 2.0)  # type: ignore[arg-type]

    def to_grid_coords(self, template_vox: torch.Tensor) -> torch.Tensor:
        """Template voxel coordinates (..., 3) -> this grid's index coordinates."""
        return (template_vox - self.origin_vox) / self.spacing

    def points_vox(self) -> torch.Tensor:
        """Template voxel coordinates of every grid point, shape (X, Y, Z, 3)."""
        axes = [
            self.origin_vox + self.spacing * torch.arange(n, dtype=torch.float32)
            for n in self.shape
        ]
        return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)


def block_fractions(labels: np.ndarray, ids: tuple[int, ...], spacing: int) -> np.ndarray:
    """Fraction (0..1) of each `spacing`^3 block of `labels` whose id is in `ids`.

    Returns float32 of the :class:`FieldGrid` shape (the template is zero-padded at the end).
    """
    return label_block_fractions(np.isin(labels, ids).astype(np.int16), 1, spacing)[0]


def label_block_fractions(labels: np.ndarray, n_labels: int, spacing: int) -> np.ndarray:
    """Fractions of labels 1..n_labels (ints) in each `spacing`^3 block, in one pass.

    Returns float32 (n_labels, X, Y, Z) on the :class:`FieldGrid` shape.
    """
    s = spacing
    pad = [(0, (-n) % s) for n in labels.shape]
    lab = np.pad(labels, pad)
    x, y, z = (n // s for n in lab.shape)
    bx, by, bz = np.meshgrid(np.arange(x), np.arange(y), np.arange(z), indexing="ij")
    block = np.ravel_multi_index((bx, by, bz), (x, y, z))
    block = np.repeat(np.repeat(np.repeat(block, s, 0), s, 1), s, 2)
    counts = np.bincount(
        block.ravel() * (n_labels + 1) + lab.ravel().astype(np.int64),
        minlength=x * y * z * (n_labels + 1),
    )
    counts = counts.reshape(x, y, z, n_labels + 1)[..., 1:]
    return np.moveaxis(counts.astype(np.float32) / s**3, -1, 0)


def sample(field: torch.Tensor, coords: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Interpolate `field` (C, X, Y, Z) at index coordinates `coords` (..., 3) -> (C, ...)."""
    shape = torch.tensor(field.shape[1:], dtype=coords.dtype)
    norm = 2.0 * coords / (shape - 1) - 1.0
    grid = norm.flip(-1).reshape(1, 1, 1, -1, 3)  # grid_sample wants (z, y, x) order
    out = F.grid_sample(field[None], grid, mode=mode, padding_mode="border", align_corners=True)
    return out.reshape(field.shape[0], *coords.shape[:-1])


def compose(outer: torch.Tensor, inner: torch.Tensor, grid: FieldGrid) -> torch.Tensor:
    """Displacement of `outer` o `inner` (apply `inner` first), both (3, X, Y, Z) in mm."""
    s = float(grid.spacing)
    return deform.compose(outer[None] / s, inner[None] / s)[0] * s


def exp_velocity(velocity: torch.Tensor, grid: FieldGrid) -> torch.Tensor:
    """Scaling and squaring: displacement (3, X, Y, Z) mm of exp(velocity) (3, X, Y, Z) mm; the
    first step moves at most a quarter of a grid spacing (:func:`latentcf.deform.integrate_velocity`)."""
    s = float(grid.spacing)
    return deform.integrate_velocity(velocity[None] / s)[0] * s


def jacobian_determinant(disp: torch.Tensor | np.ndarray, spacing: float) -> np.ndarray:
    """det(I + grad u) of a displacement (3, X, Y, Z) mm by central differences -> (X, Y, Z)."""
    u = torch.as_tensor(disp)[None]
    return deform.jacobian_determinant(u, spacing)[0].numpy()


def divergence(velocity: np.ndarray, spacing: float) -> np.ndarray:
    """Central-difference divergence of a (3, X, Y, Z) field -> (X, Y, Z)."""
    return sum(np.gradient(velocity[i], spacing, axis=i) for i in range(3))


def poisson_velocity(source: np.ndarray, spacing: float) -> np.ndarray:
    """Curl-free velocity v = grad(phi) with Laplacian(phi) = `source` (Neumann boundary).

    `source` (X, Y, Z) is the wanted divergence (1/unit time); its mean is removed (the
    Neumann problem needs a zero-mean source). Returns float32 (3, X, Y, Z) in mm.
    """
    src = source.astype(np.float64) - source.mean()
    coef = dctn(src, type=2, norm="ortho")
    eig = np.zeros(src.shape)
    for axis, n in enumerate(src.shape):
        lam = (2.0 * np.cos(np.pi * np.arange(n) / n) - 2.0) / spacing**2
        shape = [1, 1, 1]
        shape[axis] = n
        eig = eig + lam.reshape(shape)
    eig[0, 0, 0] = 1.0
    coef = coef / eig
    coef[0, 0, 0] = 0.0
    phi = idctn(coef, type=2, norm="ortho")
    return np.stack(np.gradient(phi, spacing)).astype(np.float32)


def smooth_random_velocity(
    rng: np.random.Generator, grid: FieldGrid, rms_mm: float, smoothness_mm: float
) -> torch.Tensor:
    """Random smooth velocity (3, X, Y, Z) mm: white noise on a control grid of spacing
    `smoothness_mm`, upsampled (cubic B-spline-like via trilinear of a smoothed lattice),
    rescaled to root-mean-square `rms_mm`."""
    ctrl_shape = [max(2, int(np.ceil(n * grid.spacing / smoothness_mm)) + 1) for n in grid.shape]
    noise = torch.from_numpy(rng.standard_normal((1, 3, *ctrl_shape)).astype(np.float32))
    vel = F.interpolate(noise, size=grid.shape, mode="trilinear", align_corners=True)[0]
    rms = float(vel.pow(2).sum(0).mean().sqrt())
    return vel * (rms_mm / max(rms, 1e-12))
