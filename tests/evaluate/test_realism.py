"""Realism measures: volume-distribution distances, Jacobian statistics, FID's formula on a local network."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from latentcf.errors import ConfigError
from latentcf.evaluate.realism import (
    MULTIVARIATE,
    frechet_distance,
    jacobian_statistics,
    network_features,
    volume_distances,
)
from latentcf.feature_network import load_feature_network

STRUCTURES = ["hippocampus", "lateral_ventricles"]


def _volumes(seed: int, n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"hippocampus": rng.normal(8, 0.5, n), "lateral_ventricles": rng.normal(30, 6, n)}
    )


def test_same_volumes_are_at_distance_zero():
    real = _volumes(0)
    table = volume_distances(real, real, STRUCTURES).set_index("structure")
    assert table["w1_per_sd"].abs().max() < 1e-12
    assert list(table.index) == [*STRUCTURES, MULTIVARIATE]
    assert table["n_generated"].iloc[0] == table["n_real"].iloc[0] == 40


def test_a_shift_is_its_own_wasserstein_distance():
    real = _volumes(0)
    shift = {"hippocampus": -0.4, "lateral_ventricles": 3.0}
    table = volume_distances(real + pd.Series(shift), real, STRUCTURES).set_index("structure")
    sd = real.std(ddof=1)
    for name, delta in shift.items():
        assert table.at[name, "w1_ml"] == pytest.approx(abs(delta))
        assert table.at[name, "w1_per_sd"] == pytest.approx(abs(delta) / sd[name])
    # The same point set moved by one vector: W1 is that vector's length (in z units).
    z_shift = np.array([shift[s] / sd[s] for s in STRUCTURES])
    assert table.at[MULTIVARIATE, "w1_per_sd"] == pytest.approx(np.linalg.norm(z_shift), rel=1e-6)


def test_closer_distribution_scores_lower():
    real, near, far = _volumes(0), _volumes(1), _volumes(2) * 1.3
    d_near = volume_distances(near, real, STRUCTURES).set_index("structure")["w1_per_sd"]
    d_far = volume_distances(far, real, STRUCTURES).set_index("structure")["w1_per_sd"]
    assert (d_near < d_far).all()


def test_volume_distances_reject_missing_columns_and_flat_real_volumes():
    real = _volumes(0)
    with pytest.raises(ValueError, match=r"lack the structure column\(s\) \['cortex'\]"):
        volume_distances(real, real, [*STRUCTURES, "cortex"])
    flat = real.assign(hippocampus=8.0)
    with pytest.raises(ValueError, match=r"real volumes of \['hippocampus'\] do not vary"):
        volume_distances(real, flat, STRUCTURES)
    with pytest.raises(
        ValueError, match="expected >= 1 generated and >= 2 real images, got 40 and 1"
    ):
        volume_distances(real, real.iloc[:1], STRUCTURES)


def test_jacobian_statistics_count_folded_voxels_inside_the_mask():
    jac = np.ones((4, 5, 6))
    jac[0, 0, :3] = [-0.5, 0.0, 0.2]
    stats = jacobian_statistics(jac)
    assert stats["folding_fraction"] == pytest.approx(2 / jac.size)
    assert stats["min"] == -0.5 and stats["max"] == 1.0
    mask = np.zeros(jac.shape, dtype=bool)
    mask[1:] = True
    assert jacobian_statistics(jac, mask)["folding_fraction"] == 0.0
    with pytest.raises(ValueError, match="empty mask"):
        jacobian_statistics(jac, np.zeros(jac.shape, dtype=bool))


def test_frechet_distance_matches_gaussian_cases():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([1.0, -2.0, 0.5])
    assert frechet_distance(a + shift, a) == pytest.approx(float(shift @ shift), rel=1e-6)
    # Independent axes scaled by s: each adds (1 - s)^2 var = the diagonal formula.
    scale = np.array([1.0, 2.0, 0.5])
    var = a.var(axis=0, ddof=1)
    expected = float(np.sum(var * (1 - scale) ** 2))
    assert frechet_distance(a * scale, a) == pytest.approx(expected, rel=0.05)
    with pytest.raises(ValueError, match="same C"):
        frechet_distance(a, a[:, :2])


def _tiny_network(path) -> str:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv3d(1, 3, 3, padding=1), nn.ReLU())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.trace(net, torch.rand(1, 1, 8, 8, 8)), str(path))
    return str(path)


def test_fid_code_path_with_a_tiny_local_network(tmp_path):
    """The code path only: a random network's features are no measure of realism."""
    net = load_feature_network(_tiny_network(tmp_path / "features.pt"), "evaluate.feature_network")
    torch.manual_seed(1)
    real, other = torch.rand(6, 1, 12, 12, 12), torch.rand(6, 1, 12, 12, 12) * 2
    features = network_features(net, real, batch_size=4)
    assert features.shape == (6, 3)
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(network_features(net, other), features) > 0.01


def test_missing_or_invalid_feature_network_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"evaluate.feature_network.*not found"):
        load_feature_network(tmp_path / "absent.pt", "evaluate.feature_network")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="not a loadable TorchScript module"):
        load_feature_network(bad, "evaluate.feature_network")
