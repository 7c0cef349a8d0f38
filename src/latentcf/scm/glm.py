"""Closed-form GLM Z = P B + U fitted from streamed sums, never holding all of Z.

:class:`NormalEquations` accumulates P^T P (p, p), P^T Z (p, K), the per-dimension sums of z^2
(K,) and n over batches of scans in float64 (memory O(p K) plus one batch), then solves
(P^T P + ridge D) B = P^T Z by Cholesky (scipy.linalg.cho_solve; D is the identity without the
intercept). Residual and total sums of squares follow from the same sums, so R^2 and the residual
variance per latent dimension need no second pass. :func:`check_design` refuses a design matrix
that cannot be fitted (fewer scans than columns, a level without scans, collinear columns),
naming the columns, before any latent is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from latentcf.errors import InputDataError


class DesignError(InputDataError):
    """The design matrix over the train split cannot be fitted."""


@dataclass
class NormalEquations:
    """Streamed sums of the GLM: P^T P, P^T Z, sum of z^2 per dimension, and n (float64)."""

    ptp: np.ndarray
    ptz: np.ndarray
    zz: np.ndarray
    n: int = 0

    @classmethod
    def empty(cls, p: int, k: int) -> NormalEquations:
        return cls(np.zeros((p, p)), np.zeros((p, k)), np.zeros(k))

    def add(self, design: np.ndarray, latents: np.ndarray) -> None:
        """Add a batch: design (b, p) and latents (b, K) (any float dtype; summed in float64)."""
        design = np.asarray(design, dtype=np.float64)
        z = np.asarray(latents, dtype=np.float64)
        self.ptp += design.T @ design
        self.ptz += design.T @ z
        self.zz += np.einsum("bk,bk->k", z, z)
        self.n += len(design)

    def solve(self, ridge: float = 0.0) -> np.ndarray:
        """Coefficients B (p, K) float64; `ridge` is not applied to the intercept (column 0)."""
        a = self.ptp.copy()
        if ridge:
            a[np.arange(1, len(a)), np.arange(1, len(a))] += ridge
        return linalg.cho_solve(linalg.cho_factor(a), self.ptz)

    def residual_sum_of_squares(self, coefficients: np.ndarray) -> np.ndarray:
        """Sum over scans of (z - P B)^2 per latent dimension, (K,)."""
        b = coefficients
        rss = self.zz - 2.0 * np.einsum("pk,pk->k", b, self.ptz)
        rss += np.einsum("pk,pq,qk->k", b, self.ptp, b)
        return np.clip(rss, 0.0, None)

    def total_sum_of_squares(self) -> np.ndarray:
        """Sum over scans of (z - mean z)^2 per latent dimension (needs the intercept in column 0)."""
        return np.clip(self.zz - self.ptz[0] ** 2 / self.n, 0.0, None)

    def mean_latent(self) -> np.ndarray:
        """Mean latent over the fitted scans (K,)."""
        return self.ptz[0] / self.n


def r_squared(rss: np.ndarray, tss: np.ndarray) -> np.ndarray:
    """1 - RSS/TSS per dimension; dimensions without variance get 0."""
    out = np.zeros_like(rss)
    varying = tss > 0
    out[varying] = 1.0 - rss[varying] / tss[varying]
    return out


def condition_number(design: np.ndarray) -> tuple[float, np.ndarray]:
    """Condition number of the design with unit-norm columns, and the right singular vector of
    its smallest singular value (which columns are nearly dependent)."""
    norms = np.linalg.norm(design, axis=0)
    scaled = design / np.where(norms > 0, norms, 1.0)
    _, s, vt = np.linalg.svd(scaled, full_matrices=False)
    cond = float(s[0] / s[-1]) if s[-1] > 0 else float("inf")
    return cond, vt[-1]


def check_design(
    design: np.ndarray,
    columns: Sequence[str],
    ridge: float,
    max_condition_number: float,
    where: str = "the train split",
) -> float:
    """Refuse a design matrix (n, p) that cannot be fitted; returns its condition number.

    Fails (DesignError) for fewer scans than columns, a column that is all zero (a categorical
    level with no scans in `where`), and, without ridge, a condition number above
    `max_condition_number` (collinear covariates), naming the columns involved.
    """
    n, p = design.shape
    if n < p:
        raise DesignError(
            "<cohort>",
            f"{n} scans in {where} for {p} design-matrix columns ({list(columns)}); expected at least {p}",
            "Add scans or remove covariates from image_parents / scm.extra_terms",
        )
    empty = [c for c, used in zip(columns, np.any(design != 0, axis=0), strict=True) if not used]
    if empty:
        raise DesignError(
            "<cohort>",
            f"design-matrix column(s) {empty} are zero for every scan of {where}: a level without "
            "scans there cannot get an effect",
            "Add scans with that level to the train split, or remove the level from the covariate's "
            "levels (and from the interventions)",
        )
    cond, direction = condition_number(design)
    if cond > max_condition_number and not ridge:
        weights = np.abs(direction)
        involved = [c for c, w in zip(columns, weights, strict=True) if w > 0.2 * weights.max()]
        raise DesignError(
            "<cohort>",
            f"the design matrix over {where} is ill-conditioned (condition number {cond:.3g} > "
            f"scm.max_condition_number {max_condition_number:.3g}): columns {involved} are "
            "(nearly) collinear",
            "Remove one of these covariates from image_parents (or scm.extra_terms), or set scm.ridge",
        )
    return cond
