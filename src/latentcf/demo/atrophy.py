"""Atrophy as a real deformation with a prescribed volume change per structure group.

For each group k a unit velocity v_k = grad(phi_k) solves Laplacian(phi_k) = 1 inside the group
(partial-volume weighted) and a compensating constant of the other sign in the CSF inside
the brain mask (label 24; so the total source is zero and the intracranial volume is kept:
lost tissue becomes CSF), scaled so that its
mean divergence inside the group is exactly 1. A subject's atrophy velocity is
sum_k c_k v_k; its exponential (scaling and squaring) is the atrophy map A. Partial-volume blocks make
each v_k change neighbouring groups a little, so the coefficients solve the linear response
R c = target (R[j, k] = mean divergence of v_k in group j) and are then corrected by
Newton-like iterations on the realised volumes (large changes are not linear in c). Neighbouring
structures outside the causal model (thalamus, caudate, putamen/pallidum, cerebral white
matter) are controlled the same way with a target of 0, so only the CSF absorbs the change.
True volumes integrate det(D(map)) over each template label at the field resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from latentcf.demo.anatomy import FS_NAMES, STRUCTURE_GROUPS, Anatomy
from latentcf.demo.fields import (
    FieldGrid,
    compose,
    divergence,
    exp_velocity,
    jacobian_determinant,
    label_block_fractions,
    poisson_velocity,
)

# Structures next to the deformed groups whose volume is held fixed (target 0): without them
# the coarse field would let e.g. the thalamus grow with the ventricles (partial volumes).
HELD_GROUPS: dict[str, tuple[int, ...]] = {
    "thalamus": (10, 49),
    "caudate": (11, 50),
    "putamen_pallidum": (12, 51, 13, 52),
    "cerebral_white_matter": (2, 41),
}
CONTROLLED_GROUPS = {**STRUCTURE_GROUPS, **HELD_GROUPS}
CSF_ID = 24  # the compensating region: CSF inside the brain mask
# Fixed-point iterations on the realised group volumes (two bring errors to about 1 % of the target).
CORRECTION_ITERATIONS = 2


@dataclass
class DeformationModel:
    """Precomputed per process: field grid, unit velocities and label-fraction matrix."""

    grid: FieldGrid
    unit_velocity: dict[str, np.ndarray]  # group -> (3, X, Y, Z) mm per unit log-change
    label_ids: list[int]  # row order of `fractions`
    fractions: sp.csr_matrix  # (n_labels, n_points) partial-volume fraction of each label
    template_volumes: dict[int, float]  # label id -> mm^3 in the template
    response_inv: np.ndarray  # inverse of R[j, k] = mean divergence of v_k inside group j

    @classmethod
    def build(cls, anatomy: Anatomy, spacing: int) -> DeformationModel:
        grid = FieldGrid.over_template(anatomy.labels.shape, spacing)
        ids = sorted(FS_NAMES)
        lut = np.zeros(max(ids) + 1, dtype=np.int16)
        lut[ids] = np.arange(1, len(ids) + 1)
        per_label = label_block_fractions(lut[anatomy.labels], len(ids), spacing)
        fractions = sp.csr_matrix(per_label.reshape(len(ids), -1))
        band = per_label[ids.index(CSF_ID)]
        unit = {}
        fracs = {
            g: sum(per_label[ids.index(i)] for i in gids) for g, gids in CONTROLLED_GROUPS.items()
        }
        response = np.zeros((len(fracs), len(fracs)))
        for k, (group, frac) in enumerate(fracs.items()):
            source = frac - band * (frac.sum() / band.sum())
            vel = poisson_velocity(source, float(spacing))
            div = divergence(vel, float(spacing))
            scale = float((div * frac).sum() / frac.sum())
            unit[group] = vel / scale
            # Partial-volume blocks make v_k act on neighbouring groups too: keep the response.
            for j, other in enumerate(fracs.values()):
                response[j, k] = float((div * other).sum() / other.sum()) / scale
        vols = np.asarray(fractions.sum(axis=1)).ravel() * float(spacing) ** 3
        template_volumes = dict(zip(ids, vols.tolist(), strict=True))
        return cls(grid, unit, ids, fractions, template_volumes, np.linalg.inv(response))

    def velocity(self, coefficients: dict[str, float]) -> torch.Tensor:
        """Atrophy velocity sum_k c_k v_k, (3, X, Y, Z) mm."""
        vel = sum(c * self.unit_velocity[g] for g, c in coefficients.items())
        return torch.from_numpy(np.asarray(vel, dtype=np.float32))

    def label_volumes(self, disp: torch.Tensor) -> dict[int, float]:
        """Volume (mm^3) of each template label after the forward map x -> x + disp(x)."""
        jac = jacobian_determinant(disp, float(self.grid.spacing)).ravel()
        vols = self.fractions @ jac * float(self.grid.spacing) ** 3
        return dict(zip(self.label_ids, vols.tolist(), strict=True))

    def group_log_change(self, disp: torch.Tensor) -> dict[str, float]:
        """Realised log volume change of each controlled group under the map `disp`."""
        base = self.template_volumes
        after = self.label_volumes(disp)
        return {
            g: float(np.log(sum(after[i] for i in ids) / sum(base[i] for i in ids)))
            for g, ids in CONTROLLED_GROUPS.items()
        }

    def atrophy_maps(
        self, target: dict[str, float], inverse: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Forward and (if `inverse`) inverse displacement of the atrophy map whose group log
        volume changes match `target` (each (3, X, Y, Z) mm)."""
        groups = list(CONTROLLED_GROUPS)
        goal = np.array([target.get(g, 0.0) for g in groups])
        coef = self.response_inv @ goal  # linear response, then Newton-like corrections
        vel = self.velocity(dict(zip(groups, coef, strict=True)))
        fwd = exp_velocity(vel, self.grid)
        for _ in range(CORRECTION_ITERATIONS):
            realised = self.group_log_change(fwd)
            coef = coef + self.response_inv @ (goal - np.array([realised[g] for g in groups]))
            vel = self.velocity(dict(zip(groups, coef, strict=True)))
            fwd = exp_velocity(vel, self.grid)
        inv = exp_velocity(-vel, self.grid) if inverse else None
        return fwd, inv


def compose_maps(outer: torch.Tensor, inner: torch.Tensor, grid: FieldGrid) -> torch.Tensor:
    """Displacement of outer o inner (re-exported for the simulator)."""
    return compose(outer, inner, grid)
