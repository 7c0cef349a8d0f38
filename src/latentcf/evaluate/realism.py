"""Realism of generated images without downloadable feature networks.

FID needs Inception/MedicalNet weights that cannot be fetched here, so generated images are judged by
what the workflow already measures, and by a user's own feature network only when one is given:

- :func:`volume_distances`: the distance between the distributions of regional volumes of generated
  and real images: per structure the Wasserstein-1 distance (ml, and divided by the real volumes'
  SD, so that structures compare), and one multivariate Wasserstein-1 distance over the structures
  after z-scoring each by the real volumes' mean and SD (in the spirit of WASABI).
- :func:`jacobian_statistics`: a deformation's quality: the fraction of voxels with a non-positive
  Jacobian determinant (folding; should be 0) and the determinant's spread.
- :func:`network_features` + :func:`frechet_distance`: FID's formula on the features of a local
  TorchScript network (:func:`latentcf.feature_network.load_feature_network`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.linalg
from scipy.stats import wasserstein_distance, wasserstein_distance_nd

if TYPE_CHECKING:  # torch only where a feature network is given: the realism job needs none
    import torch
    from torch import nn

MULTIVARIATE = "multivariate"


def volume_distances(
    generated: pd.DataFrame, real: pd.DataFrame, structures: Sequence[str]
) -> pd.DataFrame:
    """Rows (structure, w1_ml, w1_per_sd, n_generated, n_real) for each of `structures` (columns of
    both tables, ml, one row per image), then one row ``multivariate`` (w1_per_sd over all
    structures z-scored by the real mean and SD; w1_ml NaN). Needs two or more real images with
    spread in every structure (ValueError otherwise)."""
    missing = [s for s in structures if s not in generated or s not in real]
    if missing:
        raise ValueError(f"volume tables lack the structure column(s) {missing}")
    gen = generated[list(structures)].to_numpy(float)
    ref = real[list(structures)].to_numpy(float)
    if len(gen) < 1 or len(ref) < 2:
        raise ValueError(
            f"expected >= 1 generated and >= 2 real images, got {len(gen)} and {len(ref)}"
        )
    mean, sd = ref.mean(axis=0), ref.std(axis=0, ddof=1)
    if np.any(sd <= 0):
        flat = [s for s, v in zip(structures, sd, strict=True) if v <= 0]
        raise ValueError(f"the real volumes of {flat} do not vary: no scale to compare against")
    rows = []
    for j, name in enumerate(structures):
        w1 = float(wasserstein_distance(gen[:, j], ref[:, j]))
        rows.append({"structure": name, "w1_ml": w1, "w1_per_sd": w1 / float(sd[j])})
    z_gen, z_ref = (gen - mean) / sd, (ref - mean) / sd
    multivariate = float(wasserstein_distance_nd(z_gen, z_ref))
    rows.append({"structure": MULTIVARIATE, "w1_ml": float("nan"), "w1_per_sd": multivariate})
    return pd.DataFrame(rows).assign(n_generated=len(gen), n_real=len(ref))


def jacobian_statistics(jacobian: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """Folding fraction (share of voxels with determinant <= 0) and min / 1st percentile / mean /
    99th percentile / max of a Jacobian determinant map (X, Y, Z), inside `mask` if given."""
    values = np.asarray(jacobian, dtype=np.float64)
    if mask is not None:
        values = values[np.asarray(mask, dtype=bool)]
    values = values.ravel()
    if values.size == 0:
        raise ValueError("no voxel to measure (empty mask)")
    p01, p99 = np.percentile(values, [1, 99])
    return {
        "folding_fraction": float(np.mean(values <= 0)),
        "min": float(values.min()),
        "p01": float(p01),
        "mean": float(values.mean()),
        "p99": float(p99),
        "max": float(values.max()),
    }


def network_features(net: nn.Module, images: torch.Tensor, batch_size: int = 4) -> np.ndarray:
    """(N, C) features of images (N, 1, X, Y, Z): the network's output, averaged over its spatial
    axes when it has any (a (N, C, ...) feature map)."""
    import torch

    chunks = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            out = net(images[start : start + batch_size].float())
            if out.ndim < 2:
                raise ValueError(
                    f"expected features (N, C, ...) from the network, got {tuple(out.shape)}"
                )
            chunks.append(out.flatten(2).mean(dim=2) if out.ndim > 2 else out)
    return torch.cat(chunks).double().cpu().numpy()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """FID's formula on two feature sets (N, C) and (M, C):
    ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)), covariances with ddof 1."""
    a, b = np.atleast_2d(np.asarray(a, float)), np.atleast_2d(np.asarray(b, float))
    if a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise ValueError(
            f"expected two feature sets (N >= 2, C) with the same C, got {a.shape} and {b.shape}"
        )
    mu = a.mean(axis=0) - b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root = scipy.linalg.sqrtm(cov_a @ cov_b)
    root = np.real(root)  # tiny imaginary parts from numerical error
    return float(mu @ mu + np.trace(cov_a + cov_b - 2.0 * root))
