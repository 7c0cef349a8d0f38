"""The sample stages on the real Snakemake DAG: a tiny betavae and a tiny m3ae added to the shared
tiny run are sampled, their samples segmented and compared with the held-out scans (m3ae's warps
checked for folding); other families get no jobs."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml
from image_checks import assert_figure_panels

from latentcf import derivatives
from latentcf.evaluate.realism import MULTIVARIATE
from latentcf.sample.deformations import COLUMNS
from latentcf.segment import STRUCTURES

from .snakemake_runner import planned_job_list, planned_jobs, run_snakemake

pytestmark = pytest.mark.workflow
TINY = Path(__file__).with_name("config_tiny.yaml")
SAMPLE_RULES = {"sample", "segment_samples", "sample_realism"}
# A betavae small enough for a few CPU seconds (the tiny config trains 6 steps).
BETAVAE = {"family": "betavae", "channels": [4, 8, 8], "decoder_channels": [8, 8, 4],
           "bottleneck_channels": 4, "latent_dim": 8, "norm_num_groups": 4}  # fmt: skip
M3AE = {**BETAVAE, "family": "m3ae", "deformation_latent_dim": 4}
SAMPLE = {"n": 3, "batch_size": 2, "figure_images": 2}


def sampled_config(folder: Path, **sample) -> Path:
    """The tiny config plus the betavae and m3ae models and a `sample` section, in `folder`."""
    config = yaml.safe_load(TINY.read_text())
    config["models"]["betavae"] = BETAVAE
    config["models"]["m3ae"] = M3AE
    config["sample"] = {**SAMPLE, **sample}
    path = folder / f"sampled_{len(list(folder.glob('sampled_*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def targets(model: str = "betavae") -> list[str]:
    """The sample stages' outputs of `model`, as the last command-line arguments ('--' ends the
    options before them: --resources and --forcerun take lists)."""
    folder = f"results/{model}/sample"
    return ["--", f"{folder}/images", f"{folder}/{derivatives.SAMPLE_JACOBIANS}"] + [
        f"{folder}/{f}" for f in derivatives.SAMPLE_REALISM_OUTPUTS.values()
    ]


@pytest.fixture(scope="module")
def sampled_run(tiny_run, tmp_path_factory) -> tuple[Path, Path]:
    """A copy of the complete tiny run in which the betavae's sample outputs were built:
    (working folder, config)."""
    workdir = tmp_path_factory.mktemp("sampled")
    shutil.copytree(tiny_run, workdir, symlinks=True, dirs_exist_ok=True)
    config = sampled_config(workdir)
    run_snakemake(workdir, config, *targets(), *targets("m3ae")[1:])
    return workdir, config


def test_samples_are_drawn_segmented_and_compared_with_held_out_scans(sampled_run):
    workdir, _ = sampled_run
    results = workdir / "results"
    folder = results / "betavae" / "sample"
    samples = pd.read_csv(folder / "images" / derivatives.SAMPLES_TABLE, sep="\t")
    assert list(samples["sample"]) == ["sample-000", "sample-001", "sample-002"]
    for i, name in enumerate(samples["image"]):
        assert name == derivatives.sample_file(i, 4, "betavae")
        image = nib.load(folder / "images" / name)
        assert image.shape == (40, 48, 40) and np.asarray(image.dataobj).min() >= 0
        assert (folder / "segment" / derivatives.sample_dseg_file(i, 4, "betavae")).is_file()
    volumes = pd.read_csv(folder / "segment" / "volumes.tsv", sep="\t")
    assert set(volumes["scan"]) == set(samples["sample"]) and set(STRUCTURES) <= set(
        volumes["name"]
    )

    cohort = pd.read_csv(results / "cohort" / "cohort.tsv", sep="\t")
    held_out = int((cohort["split"] != "train").sum())
    realism = pd.read_csv(folder / "realism.tsv", sep="\t").set_index("structure")
    assert list(realism.index) == [*STRUCTURES, MULTIVARIATE]
    assert (realism["n_real"] == held_out).all() and (realism["n_generated"] == 3).all()
    assert (realism["reference"] == "held-out").all() and (realism["w1_per_sd"] > 0).all()
    # The real volumes are the held-out scans' own segment_scans volumes.
    real = pd.concat(
        pd.read_csv(p, sep="\t") for p in (results / "segment").glob("chunk-*/volumes.tsv")
    )
    hippocampus = real[
        (real["name"] == "hippocampus")
        & real["scan"].isin(cohort.loc[cohort["split"] != "train", "scan"])
    ]
    assert realism.at["hippocampus", "real_mean_ml"] == pytest.approx(
        hippocampus["ml"].mean(), rel=1e-5
    )

    jacobians = pd.read_csv(folder / derivatives.SAMPLE_JACOBIANS, sep="\t")
    assert jacobians.empty and list(jacobians.columns) == COLUMNS  # betavae does not warp
    fid = (folder / "fid.json").read_text()
    assert '"fid": null' in fid and "nothing is downloaded" in fid
    assert_figure_panels(folder / "samples.png", rows=3, columns=4)  # 2 samples, 2 real scans
    assert "Regional volumes" in (folder / "realism.html").read_text()


def test_m3ae_samples_are_warped_templates_without_folding(sampled_run):
    workdir, _ = sampled_run
    folder = workdir / "results" / "m3ae" / "sample"
    jacobians = pd.read_csv(folder / derivatives.SAMPLE_JACOBIANS, sep="\t")
    assert list(jacobians.columns) == COLUMNS and not jacobians.empty
    assert (jacobians["folding_fraction"] == 0).all()
    realism = pd.read_csv(folder / "realism.tsv", sep="\t")
    assert (realism["n_generated"] == 3).all() and realism["w1_per_sd"].notna().all()


def test_only_models_with_a_prior_get_sample_jobs(tiny_run, sampled_run, tmp_path):
    """The default target of the tiny run plus a betavae plans each sample rule once, for the
    betavae only; a vqvae's samples are no rule's output."""
    jobs = planned_job_list(tiny_run, sampled_config(tmp_path))
    sample_jobs = sorted((rule, wc) for rule, wc in jobs if rule in SAMPLE_RULES)
    assert sample_jobs == sorted(
        (r, f"model={m}") for r in SAMPLE_RULES for m in ("betavae", "m3ae")
    )
    workdir, config = sampled_run
    result = run_snakemake(workdir, config, "--dry-run", *targets("vqvae"), check=False)
    assert result.returncode != 0 and "results/vqvae/sample" in result.stdout + result.stderr


def test_sample_settings_rerun_only_what_they_affect(sampled_run, tmp_path):
    workdir, _ = sampled_run
    figure = sampled_config(tmp_path, figure_images=1)
    assert planned_jobs(workdir, figure, *targets()) == {"sample_realism": 1}
    more = sampled_config(tmp_path, n=4)
    assert planned_jobs(workdir, more, *targets()) == dict.fromkeys(sorted(SAMPLE_RULES), 1)


def test_resampling_gives_byte_identical_images(sampled_run):
    workdir, config = sampled_run
    folder = workdir / "results" / "betavae" / "sample" / "images"
    before = {p.name: p.read_bytes() for p in sorted(folder.glob("sample*"))}
    run_snakemake(workdir, config, "--forcerun", "sample", *targets())
    after = {p.name: p.read_bytes() for p in sorted(folder.glob("sample*"))}
    assert before == after and len(before) == 4  # three images and samples.tsv


def test_per_model_training_overrides_retrain_that_model_only(sampled_run, tmp_path):
    workdir, _ = sampled_run
    config = yaml.safe_load(sampled_config(tmp_path).read_text())
    config["train"]["per_model"] = {"betavae": {"max_steps": 4}}
    path = tmp_path / "per_model.yaml"
    path.write_text(yaml.safe_dump(config))
    assert planned_jobs(workdir, path, *targets()) == {"train": 1, **dict.fromkeys(SAMPLE_RULES, 1)}
    others = [f"results/{m}/model/model.pt" for m in ("vqvae", "klae")]
    assert planned_jobs(workdir, path, "--", *others) == {}
