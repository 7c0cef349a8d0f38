"""The sample_realism stage: volume distances to the real scans, FID on a local network, figure."""

from __future__ import annotations

import json
import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from image_checks import assert_figure_panels
from sample_files import write_sample_folder
from torch import nn

from latentcf.evaluate.realism import MULTIVARIATE, volume_distances
from latentcf.io import write_tsv_atomic
from latentcf.sample.deformations import jacobian_rows, jacobian_table
from latentcf.sample.realism import run_sample_realism, wide_volumes
from latentcf.segment import STRUCTURES

SHAPE = (12, 14, 10)
REAL = [f"sub-0{i}/anat/sub-0{i}" for i in range(1, 6)]


def long_volumes(wide: pd.DataFrame, image: str) -> pd.DataFrame:
    """Volume rows as the segment stages write them (summed structures only)."""
    rows = [
        {"scan": scan, "image": image, "label": -1, "name": s, "voxels": 1, "ml": row[s]}
        for scan, row in wide.iterrows()
        for s in STRUCTURES
    ]
    return pd.DataFrame(rows)


def brain(rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    image = np.zeros(SHAPE, np.float32)
    image[2:-2, 2:-2, 2:-2] = rng.uniform(0.2, 1.0, (8, 10, 6)) * scale
    return image


@pytest.fixture
def stage(tmp_path):
    """Folders of a sampled model and of the real scans, with known volumes."""
    rng = np.random.default_rng(1)
    base = {"hippocampus": 8.0, "amygdala": 3.0, "lateral_ventricles": 25.0, "cortex": 450.0,
            "cerebral_white_matter": 420.0}  # fmt: skip
    real = pd.DataFrame({s: v * rng.normal(1, 0.1, len(REAL)) for s, v in base.items()}, index=REAL)
    shift = {"hippocampus": -0.5, "amygdala": 0.2, "lateral_ventricles": 6.0, "cortex": -10.0,
             "cerebral_white_matter": 5.0}  # fmt: skip
    generated = (real.iloc[:4] + pd.Series(shift)).set_axis([f"sample-00{i}" for i in range(4)])
    train = pd.DataFrame({s: [v * 3] for s, v in base.items()}, index=["sub-09/anat/sub-09"])
    (tmp_path / "real").mkdir()
    pd.concat([long_volumes(real, "factual"), long_volumes(train, "factual")]).to_csv(
        tmp_path / "real" / "volumes.tsv", sep="\t", index=False
    )
    (tmp_path / "segment").mkdir()
    long_volumes(generated, "sample").to_csv(
        tmp_path / "segment" / "volumes.tsv", sep="\t", index=False
    )
    write_sample_folder(tmp_path / "images", [brain(rng, 0.8) for _ in range(4)])
    real_images = {}
    for scan in REAL:
        path = tmp_path / f"{scan.split('/')[0]}.nii.gz"
        nib.save(nib.Nifti1Image(brain(rng), np.eye(4)), path)
        real_images[scan] = path
    return {"tmp": tmp_path, "real": real, "generated": generated, "real_images": real_images}


def run(stage, jacobians: pd.DataFrame | None = None, **sample_config):
    tmp = stage["tmp"]
    table = jacobians if jacobians is not None else jacobian_table([])
    write_tsv_atomic(table, tmp / "jacobians.tsv")
    return run_sample_realism(
        sample_dir=tmp / "images",
        sample_segment_dir=tmp / "segment",
        jacobians_tsv=tmp / "jacobians.tsv",
        real_segment_dirs=[tmp / "real"],
        real_images=stage["real_images"],
        out_dir=tmp / "out",
        real_labels={s: f"{s.split('/')[0]} (test)" for s in REAL},
        sample_config={"figure_images": 2, **sample_config},
    )


def test_volume_table_compares_samples_with_the_given_real_scans_only(stage):
    paths = run(stage)
    table = pd.read_csv(paths["volumes"], sep="\t").set_index("structure")
    real, generated = stage["real"], stage["generated"]
    expected = volume_distances(generated, real, list(STRUCTURES)).set_index("structure")
    np.testing.assert_allclose(table["w1_per_sd"], expected["w1_per_sd"], rtol=1e-5)
    assert list(table.index) == [*STRUCTURES, MULTIVARIATE]
    assert (table["n_real"] == 5).all() and (table["n_generated"] == 4).all()  # not the train scan
    assert (table["reference"] == "held-out").all()
    hippocampus = table.loc["hippocampus"]
    assert hippocampus["real_mean_ml"] == pytest.approx(real["hippocampus"].mean(), rel=1e-5)
    assert hippocampus["generated_mean_ml"] == pytest.approx(
        real["hippocampus"].iloc[:4].mean() - 0.5, rel=1e-5
    )
    assert hippocampus["real_sd_ml"] == pytest.approx(real["hippocampus"].std(ddof=1), rel=1e-5)
    assert np.isnan(table.at[MULTIVARIATE, "w1_ml"])


def test_without_a_feature_network_there_is_no_fid_and_a_note(stage):
    fid = json.loads(run(stage)["fid"].read_text())
    assert fid["fid"] is None and fid["feature_network"] is None
    assert "nothing is downloaded" in fid["note"] and fid["n_generated"] == 4 and fid["n_real"] == 5


def test_figure_shows_samples_next_to_real_scans(stage):
    figure = run(stage)["figure"]
    assert_figure_panels(figure, rows=3, columns=4)  # 2 samples, 2 real scans; three views


def test_tables_page_holds_the_jacobian_statistics_when_there_are_some(stage):
    html = run(stage)["tables_html"].read_text()
    assert "Regional volumes" in html and "lateral_ventricles" in html and "Jacobian" not in html
    fields = [0.05 * torch.ones(4, 3, *SHAPE), 0.1 * torch.randn(4, 3, *SHAPE)]
    table = jacobian_table(jacobian_rows(fields, [f"sample-00{i}" for i in range(4)]))
    html = run(stage, table)["tables_html"].read_text()
    assert "Jacobian determinants" in html and "composed" in html


def _network(path) -> str:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv3d(1, 3, 3, padding=1), nn.ReLU())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.trace(net, torch.rand(1, 1, *SHAPE)), str(path))
    return str(path)


def test_fid_on_a_local_network_is_zero_for_the_real_images_themselves(stage, tmp_path):
    network = _network(tmp_path / "features.pt")
    fid = json.loads(run(stage, feature_network=network)["fid"].read_text())
    assert fid["feature_network"] == network and fid["fid"] > 0
    # Samples that are the real scans themselves: distance 0.
    stage["real_images"] = dict(list(stage["real_images"].items())[:4])
    write_sample_folder(
        stage["tmp"] / "images",
        [np.asarray(nib.load(p).dataobj) for p in stage["real_images"].values()],
    )
    fid = json.loads(run(stage, feature_network=network)["fid"].read_text())
    assert fid["fid"] == pytest.approx(0.0, abs=1e-6) and fid["n_real"] == 4


def test_a_missing_volume_names_the_scan(stage):
    volumes = long_volumes(stage["generated"].iloc[:3], "sample")
    with pytest.raises(
        ValueError, match=r"no 'sample' volumes for 1 scan\(s\), e.g. \['sample-003'\]"
    ):
        wide_volumes(volumes, "sample", [f"sample-00{i}" for i in range(4)])
