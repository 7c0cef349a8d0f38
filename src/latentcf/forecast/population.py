"""The cross-sectional baseline: one OLS line latent ~ age over all train scans, subject-agnostic.

Streamed: the sums n, sum t, sum t^2, sum z, sum t z are added batch by batch (float64; the
ages are centred on the first batch's mean to keep sum t^2 - n mean^2 accurate), so no more
than one batch of latents is held; from the subjects' own fits (:meth:`LineSums.add_fits`) they
need no further pass over the latents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentcf.forecast.lines import GroupFits, Line


@dataclass
class LineSums:
    """Streamed sums of a single OLS line over many scans (see the module docstring)."""

    n: int = 0
    shift: float | None = None
    st: float = 0.0
    stt: float = 0.0
    sz: np.ndarray | None = None
    stz: np.ndarray | None = None

    def add(self, ages: np.ndarray, latents: np.ndarray) -> None:
        """Add scans: ages (b,) years, latents (b, D)."""
        t = np.asarray(ages, dtype=np.float64)
        if not len(t):
            return
        z = np.asarray(latents, dtype=np.float64).reshape(len(t), -1)
        if self.shift is None:
            self.shift = float(t.mean())
            self.sz, self.stz = np.zeros(z.shape[1]), np.zeros(z.shape[1])
        t = t - self.shift
        self.n += len(t)
        self.st += float(t.sum())
        self.stt += float(t @ t)
        self.sz += z.sum(axis=0)
        self.stz += np.einsum("n,nd->d", t, z)  # not BLAS: see latentcf.forecast.lines.fit_groups

    def add_fits(self, fits: GroupFits) -> None:
        """Add the scans of subjects fitted by fit_groups, from their fits alone:
        sum z = sum_i n_i mean_i, sum t z = sum_i (Sxx_i slope_i + n_i mean age_i mean_i)."""
        if not len(fits.n):
            return
        if self.shift is None:
            self.shift = float(fits.n @ fits.mean_age / fits.n.sum())
            self.sz, self.stz = np.zeros(fits.slope.shape[1]), np.zeros(fits.slope.shape[1])
        t = fits.mean_age - self.shift
        self.n += int(fits.n.sum())
        self.st += float(fits.n @ t)
        self.stt += float(fits.sxx.sum() + fits.n @ t**2)
        self.sz += np.einsum("s,sd->d", fits.n, fits.mean_latent)
        self.stz += np.einsum("s,sd->d", fits.sxx, fits.slope)
        self.stz += np.einsum("s,sd->d", fits.n * t, fits.mean_latent)

    def line(self) -> Line:
        """The OLS line; ValueError without two distinct ages."""
        if self.n < 2 or self.sz is None:
            raise ValueError(f"a population line needs at least 2 train scans, got {self.n}")
        mean_t = self.st / self.n
        sxx = self.stt - self.n * mean_t**2
        if not sxx > 1e-12 * max(self.stt, 1.0):
            raise ValueError("every train scan has the same age: no population line")
        mean_z = self.sz / self.n
        slope = (self.stz - mean_t * self.sz) / sxx
        return Line(mean_t + self.shift, mean_z, slope)
