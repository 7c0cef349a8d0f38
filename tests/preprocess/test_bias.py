"""N4 on a coarse copy removes a known smooth multiplicative bias field."""

from __future__ import annotations

import numpy as np
from pp_helpers import template_head_2mm

from latentcf.config import section_defaults
from latentcf.preprocess.antsimg import to_ants
from latentcf.preprocess.bias import n4_correct

N4 = section_defaults("preprocess.schema.yaml")["n4"]


def _ratio_cv(image: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    ratio = image[mask] / truth[mask]
    return float(ratio.std() / ratio.mean())


def test_n4_removes_synthetic_bias_field():
    head, mask, affine = template_head_2mm()
    axes = [np.linspace(-1, 1, n) for n in head.shape]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    field = np.exp(0.35 * x - 0.25 * z + 0.2 * y**2).astype(np.float32)
    biased = head * field
    corrected = n4_correct(
        to_ants(biased, affine),
        working_resolution_mm=4.0,
        shrink_factor=2,
        iterations=N4["iterations"],
        tolerance=N4["tolerance"],
    ).numpy()
    assert corrected.shape == head.shape
    assert np.all(np.isfinite(corrected)) and corrected.min() >= 0
    before = _ratio_cv(biased, head, mask)
    after = _ratio_cv(corrected, head, mask)
    assert before > 0.15
    assert after < 0.5 * before, (before, after)
