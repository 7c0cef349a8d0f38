"""Tensor-based morphometry: the relative volume change of structures between two images of one scan.

antspyx SyN (deformable only; both images already share the model grid) registers the reference
image (fixed, e.g. a scan's null-intervention image) to the changed one (moving, its
counterfactual). The forward warp maps each reference point to its counterpart, so the volume
the changed image gives a reference region R is the integral of the warp's Jacobian determinant
J over R, and the relative change of a structure is sum(J w) / sum(w) - 1 with w the structure's
partial-volume fractions in the reference image.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from latentcf.antslib import ants
from latentcf.config import validate_section
from latentcf.preprocess.antsimg import to_ants
from latentcf.preprocess.register import ants_random_seed
from latentcf.segment.resample import (
    normalise_fractions,
    resample_labels,
    trilinear_matrix,
    warp_indices,
)


def tbm_settings(evaluate_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The `evaluate.tbm` settings with defaults filled from the schema."""
    return validate_section(evaluate_config, "evaluate.schema.yaml", "evaluate")["tbm"]


def jacobian(
    reference: np.ndarray, changed: np.ndarray, affine: np.ndarray, settings: Mapping[str, Any]
) -> np.ndarray:
    """Jacobian determinant (X, Y, Z) of the warp from `reference` to `changed` (same grid)."""
    return register(reference, changed, affine, settings)[0]


def register(
    reference: np.ndarray, changed: np.ndarray, affine: np.ndarray, settings: Mapping[str, Any]
) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """(Jacobian determinant (X, Y, Z) of the warp from `reference` to `changed`, a function
    taking partial-volume fractions (n, X, Y, Z) of the reference onto the changed image)."""
    fixed, moving = to_ants(reference, affine), to_ants(changed, affine)
    tmp = tempfile.mkdtemp(prefix="latentcf-tbm-")
    with ants_random_seed(int(settings["random_seed"])):
        result = ants.registration(
            fixed,
            moving,
            type_of_transform="SyNOnly",
            initial_transform="identity",
            syn_metric=settings["metric"],
            syn_sampling=32 if settings["metric"] == "mattes" else 2,
            reg_iterations=tuple(int(i) for i in settings["iterations"]),
            flow_sigma=float(settings["flow_sigma"]),
            total_sigma=float(settings["total_sigma"]),
            grad_step=float(settings["grad_step"]),
            outprefix=os.path.join(tmp, "tbm_"),
        )
    jac = ants.create_jacobian_determinant_image(fixed, result["fwdtransforms"][0]).numpy()
    weights = trilinear_matrix(warp_indices(result["invtransforms"], moving), moving.shape)
    shutil.rmtree(tmp)

    def to_changed(fractions: np.ndarray) -> np.ndarray:
        table = sp.csr_matrix(fractions.reshape(len(fractions), -1).T)
        return normalise_fractions(resample_labels(weights, table, moving.shape))

    return jac, to_changed


def relative_changes(jac: np.ndarray, weights: Mapping[str, np.ndarray]) -> dict[str, float]:
    """{structure: sum(J w) / sum(w) - 1} for partial-volume weights (X, Y, Z) per structure."""
    out = {}
    for name, w in weights.items():
        total = float(w.sum())
        out[name] = float((jac * w).sum() / total - 1.0) if total > 0 else float("nan")
    return out
