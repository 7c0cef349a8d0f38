"""The sample stage on real model files of the families with a prior (betavae, m3ae)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from latentcf import derivatives
from latentcf.errors import ConfigError, InputDataError
from latentcf.grid import grid_affine, grid_shape
from latentcf.models.base import build_model
from latentcf.models.checkpoint import save_model
from latentcf.models.settings import FAMILIES_WITH_PRIOR
from latentcf.sample.deformations import ALL_SAMPLES, COLUMNS, COMPOSED
from latentcf.sample.draw import sample_model

SHAPE = grid_shape(4)  # 40 x 48 x 40
TINY = {
    "betavae": {"family": "betavae", "channels": [4, 8, 8], "decoder_channels": [8, 8, 4],
                "bottleneck_channels": 4, "latent_dim": 8, "norm_num_groups": 4},
    "m3ae": {"family": "m3ae", "channels": [4, 8, 8], "decoder_channels": [8, 8, 4],
             "bottleneck_channels": 4, "latent_dim": 8, "deformation_latent_dim": 4,
             "norm_num_groups": 4},
}  # fmt: skip


def model_file(tmp_path, family: str) -> str:
    """A model file of `family` on the 4 mm grid; m3ae's zero-initialised heads are given
    seeded random weights so that its samples are deformed."""
    torch.manual_seed(0)
    model = build_model(TINY[family], image_shape=SHAPE)
    if family == "m3ae":
        with torch.no_grad():
            for head in model.deformation_decoder.heads:
                head.weight.normal_(0, 0.3)
    path = tmp_path / f"{family}.pt"
    save_model(path, model, TINY[family], meta={"image_shape": list(SHAPE)})
    return str(path)


def run(tmp_path, family, out="images", seed=3, **sample_config):
    path = model_file(tmp_path, family)
    return sample_model(
        path, tmp_path / out, tmp_path / f"{out}_jacobians.tsv", TINY[family], 4, seed,
        {"n": 3, "batch_size": 2, "device": "cpu", **sample_config}, threads=1,
    )  # fmt: skip


def test_the_families_with_a_prior_are_the_registered_ones():
    for family in FAMILIES_WITH_PRIOR:
        assert build_model(TINY[family], image_shape=SHAPE).has_prior


@pytest.mark.parametrize("family", sorted(FAMILIES_WITH_PRIOR))
def test_samples_are_written_on_the_model_grid_byte_identically(tmp_path, family):
    samples = run(tmp_path, family)
    assert list(samples["sample"]) == ["sample-000", "sample-001", "sample-002"]
    table = pd.read_csv(tmp_path / "images" / derivatives.SAMPLES_TABLE, sep="\t")
    assert list(table["image"]) == [derivatives.sample_file(i, 4, family) for i in range(3)]
    images = []
    for name in table["image"]:
        img = nib.load(tmp_path / "images" / name)
        assert img.shape == SHAPE and img.get_data_dtype() == np.float32
        assert np.allclose(img.affine, grid_affine(4))
        images.append(np.asarray(img.dataobj))
    assert min(im.min() for im in images) >= 0 and not np.allclose(images[0], images[1])
    run(tmp_path, family, out="again")
    for name in table["image"]:
        assert (tmp_path / "images" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
    run(tmp_path, family, out="other", seed=4)
    other = np.asarray(nib.load(tmp_path / "other" / table["image"][0]).dataobj)
    assert not np.allclose(other, images[0])


def test_m3ae_samples_get_jacobian_statistics_per_level_and_composed(tmp_path):
    run(tmp_path, "m3ae")
    table = pd.read_csv(tmp_path / "images_jacobians.tsv", sep="\t", dtype={"level": str})
    assert list(table.columns) == COLUMNS
    model = build_model(TINY["m3ae"], image_shape=SHAPE)
    warped = len(model.deformation_fields({"mu": torch.zeros(1, 8)}))
    assert warped >= 2
    levels = [str(k) for k in range(warped)] + [COMPOSED]
    assert list(table["level"].unique()) == levels
    assert len(table) == (3 + 1) * len(levels)  # three samples and the pooled row per level
    pooled = table[table["sample"] == ALL_SAMPLES].set_index("level")
    assert (pooled["min"] < 1).all() and (pooled["max"] > 1).all()  # really deformed
    assert (pooled["min"] <= pooled["p01"]).all() and (pooled["p99"] <= pooled["max"]).all()


def test_betavae_has_no_deformations_and_a_header_only_table(tmp_path):
    run(tmp_path, "betavae")
    table = pd.read_csv(tmp_path / "images_jacobians.tsv", sep="\t")
    assert table.empty and list(table.columns) == COLUMNS


def test_a_family_without_a_prior_and_a_foreign_grid_are_refused(tmp_path):
    vqvae = {"family": "vqvae", "channels": [8], "res_units": [1], "codebook_size": 8}
    path = tmp_path / "vqvae.pt"
    save_model(path, build_model(vqvae), vqvae, meta={"image_shape": list(SHAPE)})
    with pytest.raises(ConfigError, match="family 'vqvae' has no prior to sample from"):
        sample_model(path, tmp_path / "v", tmp_path / "v.tsv", vqvae, 4, 0, {"device": "cpu"})
    path = model_file(tmp_path, "betavae")
    with pytest.raises(InputDataError, match=r"shape \(40, 48, 40\), not on the 2 mm model grid"):
        sample_model(
            path, tmp_path / "b", tmp_path / "b.tsv", TINY["betavae"], 2, 0, {"device": "cpu"}
        )
    assert not (tmp_path / "b").exists() and not (tmp_path / "v").exists()
