"""Session-level exogenous variables and the rendering of one scan: rigid pose, field of view,
one resampling of the template through the composed deformation, bias field, contrast, noise."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter
from scipy.spatial.transform import Rotation

from latentcf.demo.anatomy import Anatomy
from latentcf.demo.fields import FieldGrid

# Template-space (mm) box of the brain mask, with 2 mm margin: the written field of view
# always contains it.
_BRAIN_BOX_MM = np.array([[-74.0, 74.0], [-109.0, 75.0], [-74.0, 84.0]])
_MAX_HEAD_SCALE = 1.12


@dataclass(frozen=True)
class SessionExogenous:
    """Per-session acquisition variables, shared by the scan and its counterfactuals."""

    rotation: np.ndarray  # 3x3, template mm -> scanner mm
    translation: np.ndarray  # (3,) mm
    fov_margins: np.ndarray  # (3, 2) mm added below/above the brain box per axis
    gamma: float
    intensity_scale: float
    noise_fraction: float
    bias_seed: int
    noise_seed: int


def sample_session(cfg: dict[str, Any], rng: np.random.Generator) -> SessionExogenous:
    """Draw one session's pose, field of view and scanner settings (fixed order of draws)."""
    pose, scanner = cfg["pose"], cfg["scanner"]
    angles = rng.uniform(-1.0, 1.0, 3) * pose["max_rotation_deg"]
    translation = rng.uniform(-1.0, 1.0, 3) * pose["max_translation_mm"]
    margins = rng.uniform(*pose["fov_margin_mm"], size=(3, 2))
    gamma = rng.uniform(*scanner["gamma_range"])
    scale = rng.uniform(*scanner["intensity_scale_range"])
    noise = rng.uniform(*scanner["noise_fraction"])
    bias_seed, noise_seed = (int(x) for x in rng.integers(0, 2**31 - 1, size=2))
    return SessionExogenous(
        rotation=Rotation.from_euler("xyz", angles, degrees=True).as_matrix(),
        translation=translation,
        fov_margins=margins,
        gamma=float(gamma),
        intensity_scale=float(scale),
        noise_fraction=float(noise),
        bias_seed=bias_seed,
        noise_seed=noise_seed,
    )


def output_grid(
    session: SessionExogenous, resolution_mm: int
) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and RAS affine of the written image: axis-aligned in scanner space, covering the
    posed brain box (enlarged for the largest head) plus the session's margins. It depends on
    the session only, so counterfactuals share the factual scan's grid."""
    corners = np.array(np.meshgrid(*_BRAIN_BOX_MM, indexing="ij")).reshape(3, -1) * _MAX_HEAD_SCALE
    posed = session.rotation @ corners + session.translation[:, None]
    lower = posed.min(axis=1) - session.fov_margins[:, 0]
    upper = posed.max(axis=1) + session.fov_margins[:, 1]
    shape = tuple(
        int(math.ceil((hi - lo) / resolution_mm)) for lo, hi in zip(lower, upper, strict=True)
    )
    affine = np.diag([float(resolution_mm)] * 3 + [1.0])
    affine[:3, 3] = lower + resolution_mm / 2.0
    return shape, affine  # type: ignore[return-value]


@functools.lru_cache(maxsize=3)
def blurred_template(resolution_mm: int) -> torch.Tensor:
    """Template T1 (1, 1, X, Y, Z) blurred by a Gaussian of FWHM sqrt(r^2 - 1) mm (the
    partial-volume of an r mm voxel), so that sampling at r mm does not alias."""
    from latentcf.demo.anatomy import load_anatomy

    t1 = load_anatomy().t1
    if resolution_mm > 1:
        sigma = math.sqrt(resolution_mm**2 - 1.0) / 2.3548
        t1 = gaussian_filter(t1, sigma)
    return torch.from_numpy(np.ascontiguousarray(t1, dtype=np.float32))[None, None]


@functools.lru_cache(maxsize=1)
def template_labels() -> torch.Tensor:
    """Template FreeSurfer label map as a (1, 1, X, Y, Z) float tensor for nearest sampling."""
    from latentcf.demo.anatomy import load_anatomy

    return torch.from_numpy(load_anatomy().labels.astype(np.float32))[None, None]


def template_coordinates(
    shape: tuple[int, int, int],
    affine: np.ndarray,
    session: SessionExogenous,
    scale: float,
    inverse_disp: torch.Tensor,
    grid: FieldGrid,
    anatomy: Anatomy,
) -> torch.Tensor:
    """Template voxel coordinates (X, Y, Z, 3) that each output voxel samples.

    Output voxel -> scanner mm -> undo pose -> undo head scale -> pulled back through the
    inverse subject-and-atrophy map `inverse_disp` (3, Xf, Yf, Zf) mm.
    """
    # Combined affine: output voxel -> template voxel (before the nonlinear part).
    pose_inv = np.eye(4)
    pose_inv[:3, :3] = session.rotation.T / scale
    pose_inv[:3, 3] = -session.rotation.T @ session.translation / scale
    m = torch.from_numpy((np.linalg.inv(anatomy.affine) @ pose_inv @ affine).astype(np.float32))
    i, j, k = (torch.arange(n, dtype=torch.float32) for n in shape)
    pts = (
        i[:, None, None, None] * m[:3, 0]
        + j[None, :, None, None] * m[:3, 1]
        + (k[None, None, :, None] * m[:3, 2] + m[:3, 3])
    )
    gcoords = (pts - grid.origin_vox) / grid.spacing
    size = torch.tensor(grid.shape, dtype=torch.float32)
    norm = (2.0 * gcoords / (size - 1) - 1.0).flip(-1)[None]
    disp = F.grid_sample(
        inverse_disp[None], norm, mode="bilinear", padding_mode="border", align_corners=True
    )
    # template voxels are 1 mm and axis-aligned: a displacement in mm is one in voxels
    return pts + disp[0].permute(1, 2, 3, 0)


def sample_template(volume: torch.Tensor, coords: torch.Tensor, mode: str) -> np.ndarray:
    """Sample a (1, 1, X, Y, Z) template volume at template voxel coords (..., 3); 0 outside."""
    size = torch.tensor(volume.shape[2:], dtype=torch.float32)
    norm = (2.0 * coords / (size - 1) - 1.0).flip(-1)[None]
    out = F.grid_sample(volume, norm, mode=mode, padding_mode="zeros", align_corners=True)
    return out[0, 0].numpy()


def bias_field(shape: tuple[int, int, int], session: SessionExogenous, sd: float) -> np.ndarray:
    """Smooth multiplicative bias exp(b), b a random field on a 4x4x4 lattice with SD `sd`."""
    rng = np.random.default_rng(session.bias_seed)
    lattice = torch.from_numpy(rng.normal(0.0, sd, (1, 1, 4, 4, 4)).astype(np.float32))
    b = F.interpolate(lattice, size=shape, mode="trilinear", align_corners=True)[0, 0].numpy()
    return np.exp(b)


def scanner_image(clean: np.ndarray, session: SessionExogenous, cfg: dict[str, Any]) -> np.ndarray:
    """Contrast (gamma), bias field, scaling and Rician noise; returns int16 intensities."""
    img = np.clip(clean, 0.0, None) ** session.gamma
    img *= bias_field(clean.shape, session, cfg["scanner"]["bias_field_sd"])
    img *= session.intensity_scale
    rng = np.random.default_rng(session.noise_seed)
    sigma = session.noise_fraction * session.intensity_scale
    n1 = rng.standard_normal(clean.shape, dtype=np.float32)
    n2 = rng.standard_normal(clean.shape, dtype=np.float32)
    img = np.sqrt((img + sigma * n1) ** 2 + (sigma * n2) ** 2)
    return np.clip(np.rint(img), 0, 32767).astype(np.int16)
