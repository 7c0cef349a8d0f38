"""Composition and reversibility of counterfactuals (Monteiro et al. 2023; Sun et al. 2025), by re-encoding.

- Composition: the null intervention applied k times, x_k = decode(encode(x_{k-1})), should keep
  the image: L1 and SSIM inside the brain of x_1 and x_k against the factual scan x_0, and x_k
  against x_1 (drift).
- Reversibility: intervention A then its inverse, through the image: x_A = decode(z + dz_A),
  z' = encode(x_A), x_AA = decode(z' + dz_back), with dz_back taking the counterfactual
  covariates back to the factual ones; L1 and SSIM of x_AA against x_1.
The latent-level round trip is exact by construction (tested with the SCM); these go through
the encoder, so they show what the autoencoder's encoder and decoder do to an edited image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from latentcf.counterfactual.generate import latent_shifts
from latentcf.interventions import Intervention
from latentcf.metrics import masked_metrics
from latentcf.models.base import LatentAutoencoder
from latentcf.scm.fitted import FittedSCM


@torch.no_grad()
def _encode(model: LatentAutoencoder, name: str, image: np.ndarray) -> np.ndarray:
    return model.encode(torch.from_numpy(image[None, None].astype(np.float32)))[name][0].numpy()


@torch.no_grad()
def _decode(model: LatentAutoencoder, name: str, latent: np.ndarray) -> np.ndarray:
    image = model.decode({name: torch.from_numpy(latent[None].astype(np.float32))})[0, 0]
    return np.clip(image.numpy(), 0, None)


def _scores(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    metrics = masked_metrics(pred, target, mask)
    return {"l1": metrics["mae"], "ssim": metrics["ssim"]}


def composition(
    model: LatentAutoencoder, name: str, image: np.ndarray, mask: np.ndarray, cycles: int
) -> list[dict[str, float]]:
    """Rows (cycle, compared_to, l1, ssim) for cycles 1 and `cycles` (see the module docstring)."""
    model.eval()
    current, first = image, None
    rows = []
    for k in range(1, cycles + 1):
        current = _decode(model, name, _encode(model, name, current))
        if k == 1:
            first = current
        if k in (1, cycles):
            rows.append({"cycle": k, "compared_to": "factual", **_scores(current, image, mask)})
            if k > 1:
                rows.append({"cycle": k, "compared_to": "cycle 1", **_scores(current, first, mask)})
    return rows


def reversibility(
    model: LatentAutoencoder,
    scm: FittedSCM,
    image: np.ndarray,
    mask: np.ndarray,
    covariates: pd.DataFrame,
    interventions: Sequence[Intervention],
) -> list[dict[str, float]]:
    """Rows (intervention, l1, ssim) of A -> B -> A through the image for one scan.

    `covariates`: that scan's factual covariates (one row). Interventions that change nothing
    for this scan are left out.
    """
    model.eval()
    name = scm.latent_name
    z = _encode(model, name, image)
    recon = _decode(model, name, z)
    cf_covariates, shifts = latent_shifts(scm, covariates, interventions)
    rows = []
    for iv in interventions:
        shift = shifts[iv.name][0].reshape(z.shape)
        if not np.any(shift):
            continue
        x_a = _decode(model, name, (z.astype(np.float64) + shift).astype(np.float32))
        back = Intervention("back", set=covariates.iloc[0][list(iv.targets)].to_dict())
        _, back_shift = latent_shifts(scm, cf_covariates[iv.name], [back])
        z_again = _encode(model, name, x_a).astype(np.float64) + back_shift["back"][0].reshape(
            z.shape
        )
        x_aa = _decode(model, name, z_again.astype(np.float32))
        rows.append({"intervention": iv.name, **_scores(x_aa, recon, mask)})
    return rows
