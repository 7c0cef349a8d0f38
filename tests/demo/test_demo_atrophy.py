"""Atrophy is a real deformation with the prescribed volume change inside each structure."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentcf.demo.anatomy import STRUCTURE_GROUPS, load_anatomy
from latentcf.demo.atrophy import HELD_GROUPS, DeformationModel
from latentcf.demo.fields import (
    compose,
    divergence,
    exp_velocity,
    jacobian_determinant,
    poisson_velocity,
)

TARGET = {"hippocampus": -0.2, "amygdala": -0.15, "lateral_ventricles": 0.45, "cortex": -0.06}


@pytest.fixture(scope="module")
def model() -> DeformationModel:
    return DeformationModel.build(load_anatomy(), 4)


@pytest.fixture(scope="module")
def maps(model):
    return model.atrophy_maps(TARGET)


def test_group_volume_changes_match_target(model, maps):
    realised = model.group_log_change(maps[0])
    for group in STRUCTURE_GROUPS:
        assert realised[group] == pytest.approx(TARGET[group], abs=0.01 * abs(TARGET[group]) + 1e-3)
    for group in HELD_GROUPS:  # neighbours outside the causal model keep their volume
        assert abs(realised[group]) < 2e-3, group


def test_mean_log_jacobian_inside_structure(model, maps):
    """Mean log-Jacobian (partial-volume weighted) inside the hippocampus is the target."""
    logj = np.log(jacobian_determinant(maps[0], model.grid.spacing)).ravel()
    rows = [model.label_ids.index(i) for i in STRUCTURE_GROUPS["hippocampus"]]
    weights = np.asarray(model.fractions[rows].sum(axis=0)).ravel()
    mean_logj = float((weights * logj).sum() / weights.sum())
    assert mean_logj == pytest.approx(TARGET["hippocampus"], abs=0.03)


def test_map_is_diffeomorphic_and_invertible(model, maps):
    fwd, inv = maps
    assert jacobian_determinant(fwd, model.grid.spacing).min() > 0
    assert jacobian_determinant(inv, model.grid.spacing).min() > 0
    roundtrip = compose(inv, fwd, model.grid)  # inv o fwd = identity
    assert float(roundtrip.abs().mean()) < 0.02  # mm
    assert float(roundtrip.abs().max()) < 0.5
    assert float(fwd.abs().max()) > 1.0  # it does move things


def test_poisson_velocity_has_the_wanted_divergence():
    rng = np.random.default_rng(0)
    source = np.zeros((24, 20, 22))
    source[8:14, 6:12, 9:15] = 1.0
    source[2:6, 12:18, 3:8] = -source.sum() / (4 * 6 * 5)
    vel = poisson_velocity(source + 0.0 * rng.random(source.shape), 2.0)
    div = divergence(vel, 2.0)
    inside = source > 0
    # Central differences of a compact-stencil solution: close to, not exactly, the source
    # (DeformationModel rescales each unit field by its realised divergence).
    assert 0.7 < div[inside].mean() < 1.05
    assert div[source < 0].mean() < 0
    assert abs(div[10:14, 15:18, 15:20]).max() < 0.2  # far from the sources


def test_no_change_is_identity(model):
    fwd, inv = model.atrophy_maps(dict.fromkeys(STRUCTURE_GROUPS, 0.0))
    assert float(fwd.abs().max()) < 1e-6 and float(inv.abs().max()) < 1e-6


def test_exp_of_zero_velocity_is_identity(model):
    zero = torch.zeros((3, *model.grid.shape))
    assert float(exp_velocity(zero, model.grid).abs().max()) == 0.0
