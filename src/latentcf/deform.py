"""Dense displacement fields: warping, composition, velocity integration, Jacobians (torch).

Every field is a batched tensor (B, 3, X, Y, Z) in VOXEL units of the grid it lives on:
channel i is the displacement along array axis i, and the map is x -> x + ddf(x). All
functions are differentiable (except through the step count chosen by
:func:`integrate_velocity`) and run on the device of their input. Interpolation is MONAI's
`Warp` (torch `grid_sample`, align_corners=True) and integration MONAI's `DVF2DDF` (scaling
and squaring). monai is imported on first use, so importing this module costs torch only.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from latentcf.errors import did_you_mean

if TYPE_CHECKING:
    from torch import nn

MODES = ("bilinear", "nearest")  # bilinear is trilinear on 3D volumes
PADDING_MODES = ("border", "zeros", "reflection")
# Warp warns at every construction when monai has no compiled extension (this environment).
_NATIVE_WARNING = r"monai\.networks\.blocks\.Warp: Using PyTorch native grid_sample"


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(
            f"{what}: got {value!r}; expected one of {list(allowed)}.{did_you_mean(value, allowed)}"
        )


@functools.cache
def _warp_layer(mode: str, padding_mode: str) -> nn.Module:
    """One shared monai `Warp` per (mode, padding), built without its native-sampler warning."""
    _check(mode, MODES, "mode")
    _check(padding_mode, PADDING_MODES, "padding_mode")
    from monai.networks.blocks import Warp

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_NATIVE_WARNING, category=UserWarning)
        return Warp(mode=mode, padding_mode=padding_mode)


@functools.cache
def _dvf2ddf(num_steps: int, padding_mode: str) -> nn.Module:
    """One monai `DVF2DDF` per (steps, padding), sharing the cached bilinear `Warp`."""
    warp_layer = _warp_layer("bilinear", padding_mode)
    from monai.networks.blocks import DVF2DDF

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_NATIVE_WARNING, category=UserWarning)
        layer = DVF2DDF(num_steps=num_steps, mode="bilinear", padding_mode=padding_mode)
    layer.warp_layer = warp_layer
    return layer


def _ready(warp_layer: nn.Module, like: torch.Tensor) -> nn.Module:
    """Drop the layer's cached reference grid when it sits on another device or dtype
    (monai keys it on shape only)."""
    grid = warp_layer.ref_grid
    if grid is not None and (grid.device != like.device or grid.dtype != like.dtype):
        warp_layer.ref_grid = None
    return warp_layer


def clear_cache() -> None:
    """Release the cached MONAI layers and their reference grids (e.g. GPU memory)."""
    _dvf2ddf.cache_clear()
    _warp_layer.cache_clear()


def _check_field(ddf: torch.Tensor, name: str) -> None:
    if ddf.ndim != 5 or ddf.shape[1] != 3:
        raise ValueError(f"{name}: expected shape (B, 3, X, Y, Z), got {tuple(ddf.shape)}")


def warp(
    image: torch.Tensor,
    ddf: torch.Tensor,
    mode: str = "bilinear",
    padding_mode: str = "border",
) -> torch.Tensor:
    """`image` (B, C, X, Y, Z) resampled at x + ddf(x): out(x) = image(x + ddf(x)).

    `ddf` (B, 3, X, Y, Z) in voxels. `mode` is "bilinear" (trilinear) or "nearest" (labels;
    not differentiable), `padding_mode` "border", "zeros" or "reflection".
    """
    _check_field(ddf, "ddf")
    layer = _ready(_warp_layer(mode, padding_mode), ddf)
    return layer(image, ddf)


def compose(outer: torch.Tensor, inner: torch.Tensor, padding_mode: str = "border") -> torch.Tensor:
    """Displacement (B, 3, X, Y, Z) voxels of outer o inner (`inner` applied first):
    u(x) = inner(x) + outer(x + inner(x))."""
    _check_field(outer, "outer")
    _check_field(inner, "inner")
    return inner + warp(outer, inner, "bilinear", padding_mode)


def scaling_steps(velocity: torch.Tensor) -> int:
    """Smallest number of squarings so that the first step, velocity / 2**n, moves at most a
    quarter voxel anywhere in the batch (0 when the field is already that small)."""
    vmax = float(velocity.detach().abs().max()) if velocity.numel() else 0.0
    return max(0, math.ceil(math.log2(max(4.0 * vmax, 1.0))))


def integrate_velocity(
    velocity: torch.Tensor, num_steps: int | None = None, padding_mode: str = "border"
) -> torch.Tensor:
    """Displacement (B, 3, X, Y, Z) voxels of exp(velocity), a diffeomorphism for a smooth
    stationary velocity (B, 3, X, Y, Z) voxels, by scaling and squaring.

    `num_steps` None picks :func:`scaling_steps` (one count for the whole batch); 0 returns the
    velocity itself (the one-step approximation).
    """
    _check_field(velocity, "velocity")
    steps = scaling_steps(velocity) if num_steps is None else int(num_steps)
    if steps < 0:
        raise ValueError(f"num_steps: got {num_steps}; expected None or an integer >= 0")
    if steps == 0:
        return velocity.clone()
    layer = _dvf2ddf(steps, padding_mode)
    _ready(layer.warp_layer, velocity)
    return layer(velocity)


def _gradient(u: torch.Tensor, dim: int, spacing: float) -> torch.Tensor:
    """d u / d axis `dim` like numpy.gradient: central inside, one-sided at both ends."""
    n = u.shape[dim]
    if n < 2:
        return torch.zeros_like(u)
    first = (u.narrow(dim, 1, 1) - u.narrow(dim, 0, 1)) / spacing
    last = (u.narrow(dim, n - 1, 1) - u.narrow(dim, n - 2, 1)) / spacing
    inner = (u.narrow(dim, 2, n - 2) - u.narrow(dim, 0, n - 2)) / (2.0 * spacing)
    return torch.cat([first, inner, last], dim=dim)


def spatial_gradient(ddf: torch.Tensor, spacing: float | Sequence[float] = 1.0) -> torch.Tensor:
    """d u_i / d x_j of a field (B, 3, X, Y, Z) by central differences -> (B, 3, 3, X, Y, Z),
    [:, i, j] = d u_i / d x_j, in field units per unit of `spacing` (voxels by default)."""
    _check_field(ddf, "ddf")
    h = [float(s) for s in spacing] if isinstance(spacing, Sequence) else [float(spacing)] * 3
    rows = [torch.stack([_gradient(ddf[:, i], j + 1, h[j]) for j in range(3)], 1) for i in range(3)]
    return torch.stack(rows, 1)


def jacobian_determinant(ddf: torch.Tensor, spacing: float | Sequence[float] = 1.0) -> torch.Tensor:
    """det(I + grad u) of the map x -> x + u(x), by central differences -> (B, X, Y, Z).

    `ddf` (B, 3, X, Y, Z) in the units of `spacing` (the grid spacing per axis): voxels with the
    default 1, or mm with the voxel size in mm. Values <= 0 mean folding; volumes scale by it.
    """
    g = spatial_gradient(ddf, spacing)
    a, b, c = g[:, 0, 0] + 1.0, g[:, 0, 1], g[:, 0, 2]
    d, e, f = g[:, 1, 0], g[:, 1, 1] + 1.0, g[:, 1, 2]
    p, q, r = g[:, 2, 0], g[:, 2, 1], g[:, 2, 2] + 1.0
    return a * (e * r - f * q) - b * (d * r - f * p) + c * (d * q - e * p)


def upsample_field(ddf: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """A field (B, 3, x, y, z) in voxels of its grid, trilinearly resampled to `size` (X, Y, Z)
    and rescaled to voxels of the new grid (corner voxel centres aligned, as :func:`warp`)."""
    _check_field(ddf, "ddf")
    size = tuple(int(s) for s in size)
    scale = [(n - 1) / max(m - 1, 1) for n, m in zip(size, ddf.shape[2:], strict=True)]
    out = torch.nn.functional.interpolate(ddf, size=size, mode="trilinear", align_corners=True)
    return out * torch.tensor(scale, dtype=out.dtype, device=out.device).view(1, 3, 1, 1, 1)
