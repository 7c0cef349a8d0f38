"""counterfactual.models and forecast.models on the real Snakemake DAG: a model left out of both
gets no SCM, counterfactual or forecast job, is still evaluated (its counterfactual and forecast
tables hold a note), and leaving it out reruns nothing of the other models."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from latentcf.evaluate.run import NO_COUNTERFACTUALS, NO_FORECASTS

from .snakemake_runner import planned_job_list, run_snakemake, variant

pytestmark = pytest.mark.workflow
#: Jobs of a model that only counterfactual or forecast models get.
CF_AND_FORECAST_RULES = {
    "fit_scm", "counterfactual", "plot_counterfactuals", "segment_counterfactuals", "forecast",
    "measure_forecasts",
}  # fmt: skip


@pytest.fixture(scope="module")
def vqvae_only(tiny_run, tmp_path_factory) -> tuple[Path, Path]:
    """(a copy of the complete tiny run, the tiny config with counterfactual.models and
    forecast.models [vqvae]): klae keeps only training, encoding, sampling and evaluation."""
    workdir = tmp_path_factory.mktemp("vqvae only")
    shutil.copytree(tiny_run, workdir, symlinks=True, dirs_exist_ok=True)
    config = variant(
        tmp_path_factory.mktemp("config"),
        counterfactual={"models": ["vqvae"]},
        forecast={"models": ["vqvae"]},
    )
    return workdir, config


def test_leaving_a_model_out_reruns_only_its_evaluation_and_the_summary(vqvae_only):
    workdir, config = vqvae_only
    assert planned_job_list(workdir, config) == [
        ("all", ""),
        ("evaluate", "model=klae"),
        ("summary", ""),
    ]


def test_a_model_left_out_gets_no_counterfactual_or_forecast_job(vqvae_only):
    workdir, config = vqvae_only
    jobs = planned_job_list(workdir, config, "--forcerun", "train")  # every model job
    by_model = {
        model: {rule for rule, wildcards in jobs if f"model={model}" in wildcards}
        for model in ("vqvae", "klae")
    }
    assert CF_AND_FORECAST_RULES <= by_model["vqvae"]
    assert not CF_AND_FORECAST_RULES & by_model["klae"]
    assert {"train", "encode", "summarise_reconstructions", "evaluate"} <= by_model["klae"]


def test_a_model_that_only_forecasts_gets_its_scm_but_no_counterfactuals(vqvae_only, tmp_path):
    workdir, _ = vqvae_only
    config = variant(tmp_path, counterfactual={"models": ["vqvae"]})
    klae = {
        rule
        for rule, wildcards in planned_job_list(workdir, config, "--forcerun", "train")
        if "model=klae" in wildcards
    }
    assert {"fit_scm", "forecast", "measure_forecasts", "evaluate"} <= klae
    assert not {"counterfactual", "plot_counterfactuals", "segment_counterfactuals"} & klae


def test_its_evaluation_notes_what_was_not_run(vqvae_only):
    workdir, config = vqvae_only
    run_snakemake(workdir, config)
    evaluation = workdir / "results" / "klae" / "evaluate"
    for name in ("effectiveness", "ground_truth", "ground_truth_summary", "recon_volumes"):
        table = pd.read_csv(evaluation / f"{name}.tsv", sep="\t")
        assert list(table["note"]) == [NO_COUNTERFACTUALS], name
    assert list(pd.read_csv(evaluation / "forecast.tsv", sep="\t")["note"]) == [NO_FORECASTS]
    soundness = pd.read_csv(evaluation / "soundness.tsv", sep="\t")
    assert len(soundness) and set(soundness["check"]) == {"composition (null cycles)"}
    effects = pd.read_csv(evaluation / "group_effects.tsv", sep="\t")
    assert set(effects["source"]) == {"truth", "real scans"}
    vqvae_effects = pd.read_csv(
        workdir / "results" / "vqvae" / "evaluate" / "group_effects.tsv", sep="\t"
    )
    pd.testing.assert_frame_equal(  # the same resamples: the real scans' effects are shared
        effects[effects["source"] == "real scans"].reset_index(drop=True),
        vqvae_effects[vqvae_effects["source"] == "real scans"].reset_index(drop=True),
    )
    assert f"- Counterfactuals: {NO_COUNTERFACTUALS}." in (evaluation / "evaluation.md").read_text()
    summary = (workdir / "results" / "summary.md").read_text()
    comparison = summary.split("## Models compared")[1].split("\n## ")[0]
    rows = {line.split("|")[1].strip(): line for line in comparison.splitlines() if "|" in line}
    header = [cell.strip() for cell in rows["model"].split("|")]
    klae = [cell.strip() for cell in rows["klae"].split("|")]
    vqvae = [cell.strip() for cell in rows["vqvae"].split("|")]
    column = header.index("counterfactual abs. error (pp)")
    assert float(vqvae[column]) > 0 and klae[column] == "nan"  # klae has no counterfactual error
    assert "klae: counterfactuals (chunks)" not in summary and "klae: evaluation" in summary
