"""Jacobian statistics of deformation fields: per level, composed, and pooled over samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import CENTRE, SHAPE, TinyPrior, TinyWarp

from latentcf.deform import warp
from latentcf.sample.deformations import (
    ALL_SAMPLES,
    COLUMNS,
    COMPOSED,
    composed_field,
    has_deformation_fields,
    jacobian_rows,
    jacobian_table,
)


def scaling(factors: list[float]) -> torch.Tensor:
    """Displacements (B, 3, *SHAPE) of x -> centre + (1 + f)(x - centre), one f per image."""
    position = torch.stack(
        torch.meshgrid(*[torch.arange(s, dtype=torch.float32) for s in SHAPE], indexing="ij")
    )
    f = torch.tensor(factors).view(-1, 1, 1, 1, 1)
    return f * (position[None] - CENTRE)


def test_only_models_with_a_deformation_method_have_fields():
    assert has_deformation_fields(TinyWarp()) and not has_deformation_fields(TinyPrior())


def linear_map(matrix: list[list[float]]) -> torch.Tensor:
    """Displacement (1, 3, *SHAPE) of x -> centre + (I + M)(x - centre)."""
    position = torch.stack(
        torch.meshgrid(*[torch.arange(s, dtype=torch.float32) for s in SHAPE], indexing="ij")
    )
    return torch.einsum("ij,jxyz->ixyz", torch.tensor(matrix), position - CENTRE[0])[None]


def test_composed_field_warps_like_the_levels_one_after_the_other():
    """Warping an image by the coarse level and the result by the fine one equals one warp by
    the composed field, and not by the other order (two shears that do not commute; a linear
    image and linear maps make trilinear interpolation exact inside the grid)."""
    position = torch.stack(
        torch.meshgrid(*[torch.arange(s, dtype=torch.float32) for s in SHAPE], indexing="ij")
    )
    image = (torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1, 1) * position).sum(0)[None, None]
    coarse = linear_map([[0, 0.2, 0], [0, 0, 0], [0, 0, 0]])
    fine = linear_map([[0, 0, 0], [0.2, 0, 0], [0, 0, 0]])
    stepwise = warp(warp(image, coarse), fine)
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2), slice(1, -1))
    assert torch.allclose(
        stepwise[inner], warp(image, composed_field([coarse, fine]))[inner], atol=1e-4
    )
    other_order = warp(image, composed_field([fine, coarse]))
    assert not torch.allclose(stepwise[inner], other_order[inner], atol=1e-2)


def test_scalings_compose_to_the_product_of_their_determinants():
    """Scalings about one centre compose to a scaling; the fine (inner) one shrinks, so the
    coarse one is never sampled beyond the grid and every voxel is exact."""
    a, b = [0.1, -0.2], [-0.05, -0.3]
    rows = jacobian_rows([scaling(a), scaling(b)], ["s0", "s1"])
    by = {(r["sample"], r["level"]): r for r in rows}
    assert [r["level"] for r in rows] == ["0", "0", "1", "1", COMPOSED, COMPOSED]
    for i, sample in enumerate(["s0", "s1"]):
        assert by[sample, "0"]["mean"] == pytest.approx((1 + a[i]) ** 3, rel=1e-5)
        assert by[sample, "1"]["min"] == pytest.approx((1 + b[i]) ** 3, rel=1e-5)
        composed = by[sample, COMPOSED]
        expected = ((1 + a[i]) * (1 + b[i])) ** 3
        assert composed["min"] == pytest.approx(expected, rel=1e-4)
        assert composed["max"] == pytest.approx(expected, rel=1e-4)
        assert composed["folding_fraction"] == 0.0
    assert len(jacobian_rows([scaling(a)], ["s0", "s1"])) == 2  # one level: nothing composed


def test_a_reflection_is_folding_everywhere():
    (row,) = jacobian_rows([scaling([-2.0])], ["s0"])
    assert row["folding_fraction"] == 1.0 and row["max"] == pytest.approx(-1.0)


def test_field_of_the_wrong_batch_size_is_refused():
    with pytest.raises(
        ValueError, match=r"level 0: expected shape \(3, 3, X, Y, Z\), got \(2, 3, 8, 10, 6\)"
    ):
        jacobian_rows([scaling([0.1, 0.2])], ["a", "b", "c"])


def test_pooled_rows_average_the_statistics_and_keep_the_extremes():
    rows = jacobian_rows([scaling([0.1, -0.3, 0.2])], ["s0", "s1", "s2"])
    table = jacobian_table(rows)
    assert list(table.columns) == COLUMNS
    pooled = table[table["sample"] == ALL_SAMPLES].set_index("level").loc["0"]
    per_sample = table[table["sample"] != ALL_SAMPLES]
    assert pooled["mean"] == pytest.approx(np.mean([1.1**3, 0.7**3, 1.2**3]), rel=1e-5)
    assert pooled["min"] == pytest.approx(per_sample["min"].min())
    assert pooled["max"] == pytest.approx(1.2**3, rel=1e-5)
    assert pooled["p01"] == pytest.approx(per_sample["p01"].mean())
    assert jacobian_table([]).empty and list(jacobian_table([]).columns) == COLUMNS
