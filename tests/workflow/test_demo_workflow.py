"""The real Snakemake DAG on a tiny demo cohort: every stage runs, reruns are minimal, bad input is contained."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml
from image_checks import assert_figure_panels

from latentcf import derivatives
from latentcf.chunks import chunk_label, chunk_of

from .snakemake_runner import (
    OFFLINE_MARK,
    REPO,
    planned_job_list,
    planned_jobs,
    run_snakemake,
    variant,
)

pytestmark = pytest.mark.workflow
TINY = Path(__file__).with_name("config_tiny.yaml")
UPSTREAM_OF_PREPROCESSING = {"simulate_demo", "ingest"}
MODELS = ("vqvae", "klae")  # each named after its family
# Latent file and per-scan shape of each model (config_tiny.yaml).
LATENTS = {"vqvae": ("z", (8, 5, 6, 5)), "klae": ("mu", (4, 20, 24, 20))}
MODEL_JOBS = {
    "train", "encode", "summarise_reconstructions", "fit_scm", "counterfactual", "plot_counterfactuals",
    "segment_counterfactuals", "evaluate", "forecast", "measure_forecasts",
}  # fmt: skip


def test_every_stage_produced_its_outputs(tiny_run):
    results = tiny_run / "results"
    cohort = pd.read_csv(results / "cohort" / "cohort.tsv", sep="\t")
    assert len(cohort) == 16 and set(cohort["split"]) == {"train", "val", "test"}
    assert_figure_panels(results / "demo" / "truth_volumes_vs_age.png", rows=2, columns=4)
    assert (results / "preprocess" / "dataset_description.json").is_file()
    for scan in cohort["scan"]:
        image = nib.load(
            results
            / "preprocess"
            / f"{scan}_space-MNI152NLin2009cSym_res-4_desc-preproc_T1w.nii.gz"
        )
        assert image.shape == (40, 48, 40)
        assert (results / "preprocess" / f"{scan}_desc-registration_qc.png").is_file()
    chunks = {
        scan: chunk_label(chunk_of(pid, 2))
        for scan, pid in zip(cohort["scan"], cohort["participant_id"], strict=True)
    }
    for model in MODELS:
        encoded = sorted((results / model / "encode").glob("chunk-*"))
        assert [p.name for p in encoded] == [f"chunk-{c}" for c in sorted(set(chunks.values()))]
        for chunk in encoded:
            table = pd.read_csv(chunk / derivatives.SCANS_TABLE, sep="\t")
            assert all(chunks[s] == chunk.name[6:] for s in table["scan"])
            name, shape = LATENTS[model]
            z = np.load(chunk / derivatives.latent_file(name))
            assert z.shape == (len(table), *shape) and np.isfinite(z).all()
            for scan in table["scan"]:
                recon = nib.load(chunk / derivatives.recon_file(scan, 4, model))
                assert recon.shape == (40, 48, 40)
        assert sum(len(pd.read_csv(c / "scans.tsv", sep="\t")) for c in encoded) == len(cohort)
        metrics = pd.read_csv(results / model / "encode" / "reconstruction_metrics.tsv", sep="\t")
        held_out = cohort[cohort["split"] != "train"]
        assert set(metrics["split"]) == {"val", "test"} and len(metrics) == len(held_out)
        assert (results / model / "model" / "model.pt").is_file()
    for model in MODELS:
        check_scm_and_counterfactuals(results, model, cohort, chunks)
        check_segmentation_and_evaluation(results, model, cohort, chunks)
        check_forecasts(results, model, cohort)
    summary = (results / "summary.md").read_text()
    assert f"Cohort: {len(cohort)} scans of 6 subjects" in summary and len(cohort) == 16
    for model in MODELS:
        assert f"## Reconstruction of held-out scans (inside the brain mask): {model}" in summary
    assert "| ssim " in summary
    assert "![preprocess_qc](preprocess/qc/preprocess_qc.png)" in summary


def check_scm_and_counterfactuals(results, model, cohort, chunks):
    """fit_scm's files, and per scan the counterfactuals named as documented (latentcf.derivatives)."""
    scm = results / model / "scm"
    design = json.loads((scm / "design.json").read_text())
    assert design["design"]["columns"] == ["intercept", "age", "sex[M]", "diagnosis[AD]"]
    assert design["n_train"] == int((cohort["split"] == "train").sum())
    assert nib.load(scm / "effects.nii.gz").shape == (40, 48, 40, 3)
    assert_figure_panels(scm / "effects.png", rows=4, columns=3)
    names = ["null", "age10"]
    for scan in cohort["scan"]:
        folder = results / model / "counterfactual" / f"chunk-{chunks[scan]}"
        for name in names:
            image = nib.load(folder / derivatives.counterfactual_file(scan, 4, name, model))
            assert image.shape == (40, 48, 40)
            native = nib.load(folder / derivatives.native_counterfactual_file(scan, name, model))
            raw = nib.load(cohort.set_index("scan").loc[scan, "path"])
            assert native.shape == raw.shape and np.allclose(native.affine, raw.affine, atol=1e-4)
        assert (folder / derivatives.difference_file(scan, 4, "age10", model)).is_file()
        table = pd.read_csv(folder / derivatives.COUNTERFACTUALS_TABLE, sep="\t")
        rows = table[table["scan"] == scan].set_index("intervention")
        assert rows.loc["age10", "age"] == pytest.approx(rows.loc["factual", "age"] + 10)
    montage = results / model / "counterfactual" / "counterfactuals.png"
    assert_figure_panels(montage, rows=3 * 3, columns=2 + 2 * 1, min_std=0.0)


def check_forecasts(results, model, cohort):
    """Each held-out subject's last scan forecast by every method from its earlier scans, the
    images decoded on the model grid, measured, and summarised against the truth."""
    folder = results / model / "forecast"
    forecasts = pd.read_csv(folder / derivatives.FORECASTS_TABLE, sep="\t", keep_default_na=False)
    held_out = cohort[cohort["split"] != "train"]
    last = held_out.sort_values("age").groupby("participant_id")["scan"].last()
    main = forecasts[forecasts["main"].astype(str) == "True"]
    assert set(main["target_scan"]) == set(last)
    three = held_out.groupby("participant_id").size().pipe(lambda n: n[n >= 3].index)
    assert set(main[main["method"] == "ols"]["subject"]) == set(three) != set()
    for image in main.loc[~main["image"].isin(["", "n/a"]), "image"]:
        assert nib.load(folder / image).shape == (40, 48, 40)
    changes = pd.read_csv(results / model / "evaluate" / "forecast_changes.tsv", sep="\t")
    assert set(changes["method"]) == set(main["method"])
    assert (changes.loc[changes["method"] == "no_change", "predicted_pct"] == 0).all()
    # The observed changes are measured once for every model (measure_observed_changes).
    observed_dir = results / "evaluate" / "observed_changes"
    observed = pd.read_csv(observed_dir / derivatives.OBSERVED_CHANGES_TABLE, sep="\t")
    assert set(observed["target_scan"]) == set(last)
    merged = changes.merge(observed, on=["prev_scan", "target_scan", "structure"])
    assert len(merged) == len(changes) and merged["observed_pct_x"].equals(merged["observed_pct_y"])
    for prev in observed["prev_scan"].unique():
        with np.load(observed_dir / derivatives.structure_weights_file(prev, 4)) as weights:
            assert weights["hippocampus"].shape == (40, 48, 40)
            assert 0 < weights["hippocampus"].max() <= 1
    summary = pd.read_csv(results / model / "evaluate" / "forecast.tsv", sep="\t")
    still = summary.set_index(["method", "structure"]).loc[("no_change", "lateral_ventricles")]
    # Predicting no change errs by exactly the true change.
    assert still["abs_error_vs_truth_pp"] == pytest.approx(abs(still["true_mean_pct"]))


def check_segmentation_and_evaluation(results, model, cohort, chunks):
    """Every real scan and every model image segmented (dseg + volumes), changes measured, and
    the evaluation's tables filled for the demo's ground truth."""
    for scan in cohort["scan"]:
        real = results / "segment" / f"chunk-{chunks[scan]}"
        dseg = nib.load(real / derivatives.scan_dseg_file(scan, 4))
        assert dseg.shape == (40, 48, 40) and {17, 53, 4, 43} <= set(
            np.unique(np.asarray(dseg.dataobj))
        )
        folder = results / model / "segment" / f"chunk-{chunks[scan]}"
        for name in ("null", "age10"):
            assert (folder / derivatives.counterfactual_dseg_file(scan, 4, name, model)).is_file()
    volumes = pd.concat(
        pd.read_csv(p, sep="\t") for p in (results / "segment").glob("chunk-*/volumes.tsv")
    )
    hippocampus = volumes[volumes["name"] == "hippocampus"]
    assert len(hippocampus) == len(cohort) and hippocampus["ml"].between(3, 15).all()
    changes = pd.concat(
        pd.read_csv(p, sep="\t") for p in (results / model / "segment").glob("chunk-*/changes.tsv")
    )
    assert set(changes["intervention"]) == {"age10"} and len(changes) == len(cohort) * 5
    evaluate = results / model / "evaluate"
    summary = pd.read_csv(evaluate / "ground_truth_summary.tsv", sep="\t")
    assert set(summary["scans"]) == {"train", "held-out"}
    truth = summary.set_index(["structure", "scans"]).loc[("lateral_ventricles", "train")]
    assert truth["true_pct"] > 5  # the simulator's ventricles grow with age
    effects = pd.read_csv(evaluate / "group_effects.tsv", sep="\t")
    assert {"truth", "real scans", "reconstructions"} <= set(effects["source"])
    assert (effects["ci_low"] <= effects["estimate"] + 1e-9).all()
    soundness = pd.read_csv(evaluate / "soundness.tsv", sep="\t")
    assert soundness["ssim"].between(-1, 1).all() and "composition (null cycles)" in set(
        soundness["check"]
    )
    assert "## Evaluation" in (evaluate / "evaluation.md").read_text()
    assert_figure_panels(evaluate / "effect_sizes.png", rows=3, columns=5, min_std=0.0)
    html = (evaluate / "tables.html").read_text()
    assert html.count("<table>") >= 5 and "lateral_ventricles" in html


def test_every_job_left_a_log_and_a_benchmark_record(tiny_run):
    """logs/X.log and benchmarks/X.tsv, one pair per job: the run's time and memory per job."""
    logs = {p.relative_to(tiny_run / "logs").with_suffix("") for p in (tiny_run / "logs").rglob("*.log")}  # fmt: skip
    benchmarks = {p.relative_to(tiny_run / "benchmarks").with_suffix("") for p in (tiny_run / "benchmarks").rglob("*.tsv")}  # fmt: skip
    assert len(logs) > 40 and logs == benchmarks, sorted(map(str, logs ^ benchmarks))


def test_report_renders(tiny_run):
    run_snakemake(tiny_run, TINY, "--report", "report.html")
    html = (tiny_run / "report.html").read_text(errors="ignore")
    assert "truth_volumes_vs_age.png" in html


def test_the_whole_tiny_run_needs_no_network(tiny_run):
    if not (tiny_run / OFFLINE_MARK).exists():
        pytest.skip("unshare -n is not available here, so the tiny run had network access")
    assert (tiny_run / "results" / "summary.md").is_file()  # it ran in a namespace without one


def test_rerun_without_changes_does_nothing(tiny_run):
    assert planned_jobs(tiny_run, TINY) == {}


def test_normalisation_change_reruns_only_the_model_grid_step_and_after(tiny_run, tmp_path):
    config = variant(
        tmp_path,
        preprocess={"resolution_mm": 4, "threads": 1, "normalisation": {"upper_percentile": 99.0}},
    )
    jobs = planned_jobs(tiny_run, config)
    assert jobs.get("preprocess_grid") == 16
    assert jobs.get("train") == 2
    assert not UPSTREAM_OF_PREPROCESSING & set(jobs)
    assert "preprocess_native" not in jobs and "preprocess_register" not in jobs


def test_registration_change_keeps_n4_and_skull_stripping(tiny_run, tmp_path):
    config = variant(
        tmp_path,
        preprocess={"resolution_mm": 4, "threads": 1, "registration": {"sampling_rate": 0.3}},
    )
    jobs = planned_jobs(tiny_run, config)
    assert jobs.get("preprocess_register") == 16
    assert not ({"preprocess_native"} | UPSTREAM_OF_PREPROCESSING) & set(jobs)


def test_training_change_reruns_every_model_and_nothing_before(tiny_run, tmp_path):
    jobs = planned_jobs(tiny_run, variant(tmp_path, train={"max_steps": 7}))
    assert jobs.get("train") == 2 and jobs.get("encode") == 4
    assert not any(rule.startswith("preprocess") for rule in jobs)


def test_one_models_settings_rerun_that_model_only(tiny_run, tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["models"]["klae"]["kl_weight"] = 1.0e-5
    path = tmp_path / "one_model.yaml"
    path.write_text(yaml.safe_dump(config))
    jobs = planned_job_list(tiny_run, path)
    model_jobs = [(rule, wc) for rule, wc in jobs if rule in MODEL_JOBS]
    n_chunks = len(list((tiny_run / "results" / "vqvae" / "encode").glob("chunk-*")))
    assert sorted(rule for rule, _ in model_jobs) == sorted(
        ["train", "summarise_reconstructions", "fit_scm", "plot_counterfactuals", "evaluate"]
        + ["forecast", "measure_forecasts"]
        + ["encode", "counterfactual", "segment_counterfactuals"] * n_chunks
    )
    assert all(wc.startswith("model=klae") for _, wc in model_jobs), model_jobs
    assert {rule for rule, _ in jobs} == MODEL_JOBS | {"summary", "all"}


def test_interventions_rerun_counterfactuals_only(tiny_run, tmp_path):
    """Another intervention list: the true counterfactuals and each model's counterfactual chunks
    and montage rerun; no simulation of the cohort, preprocessing, training, encoding or fit_scm."""
    config = yaml.safe_load(TINY.read_text())
    config["interventions"] = [
        {"name": "age10", "shift": {"age": 10}},
        {"name": "dxAD", "set": {"diagnosis": "AD"}},
    ]
    path = tmp_path / "interventions.yaml"
    path.write_text(yaml.safe_dump(config))
    jobs = planned_jobs(tiny_run, path)
    n_chunks = len(list((tiny_run / "results" / "vqvae" / "counterfactual").glob("chunk-*")))
    assert jobs == {
        "simulate_demo_counterfactuals": 1,
        "counterfactual": n_chunks * len(MODELS),
        "plot_counterfactuals": len(MODELS),
        "segment_counterfactuals": n_chunks * len(MODELS),
        "measurement_check": 1,
        "evaluate": len(MODELS),
        "summary": 1,
        "all": 1,
    }


def test_evaluation_and_segmentation_settings_rerun_only_their_stages(tiny_run, tmp_path):
    jobs = planned_jobs(tiny_run, variant(tmp_path, evaluate={"bootstrap_draws": 50}))
    assert jobs == {"evaluate": len(MODELS), "summary": 1, "all": 1}
    jobs = planned_jobs(tiny_run, variant(tmp_path, segment={"atlas": {"grad_step": 0.3}}))
    n_chunks = len(list((tiny_run / "results" / "segment").glob("chunk-*")))
    assert jobs == {
        "segment_scans": n_chunks,
        "segment_counterfactuals": n_chunks * len(MODELS),
        "measure_observed_changes": 1,
        "measure_forecasts": len(MODELS),
        "measurement_check": 1,
        "evaluate": len(MODELS),
        "summary": 1,
        "all": 1,
    }


def test_a_models_code_change_reruns_model_stages_only(tiny_run, tmp_path):
    """Package upgrades rerun what they affect: a copy of the package, first on PYTHONPATH, with
    a change to the training loop reruns training and what follows; a comment reruns nothing."""
    copy = tmp_path / "src"
    shutil.copytree(
        REPO / "src" / "latentcf", copy / "latentcf", ignore=shutil.ignore_patterns("__pycache__")
    )
    env = {"PYTHONPATH": str(copy)}
    assert planned_jobs(tiny_run, TINY, env=env) == {}
    loop = copy / "latentcf" / "train" / "loop.py"
    loop.write_text(loop.read_text() + "\n# a comment changes nothing\n")
    assert planned_jobs(tiny_run, TINY, env=env) == {}
    loop.write_text(loop.read_text() + "\nCHANGED = 1\n")
    jobs = planned_jobs(tiny_run, TINY, env=env)
    assert jobs.get("train") == 2 and jobs.get("encode") == 4
    assert not (UPSTREAM_OF_PREPROCESSING | {"preprocess_native", "preprocess_register"}) & set(
        jobs
    )


def test_bad_config_stops_before_any_job(tmp_path):
    config = variant(tmp_path, preprocess={"resolution_mm": 3})
    result = run_snakemake(tmp_path, config, check=False)
    assert result.returncode != 0
    assert (
        "'preprocess.resolution_mm': got 3; expected one of [1, 2, 4]"
        in result.stdout + result.stderr
    )
    assert not (tmp_path / "results").exists()


def test_corrupt_scan_fails_alone(tiny_run, tmp_path):
    """A truncated file passes ingest's header check, fails its own preprocessing job, and the
    other scans are preprocessed anyway (keep-going); no training runs, and the run ends naming
    the scan, its file, log and error, and how to go on (the Snakefile's onerror)."""
    cohort = pd.read_csv(tiny_run / "results" / "cohort" / "cohort.tsv", sep="\t").iloc[:2]
    table = cohort[["participant_id", "session_id", "path", "age", "sex", "diagnosis"]].copy()
    broken = tmp_path / "sub-900_ses-01_T1w.nii.gz"
    good = Path(table.loc[0, "path"]).read_bytes()
    broken.write_bytes(good[: len(good) // 2])
    table.loc[2] = ["sub-900", "ses-01", str(broken), 70.0, "F", "CN"]
    table.to_csv(tmp_path / "scans.tsv", sep="\t", index=False)
    config = yaml.safe_load(TINY.read_text())
    config.pop("demo")
    config["input"] = {"table": str(tmp_path / "scans.tsv")}
    config["split"] = {"val_fraction": 0.0, "test_fraction": 0.0}
    path = tmp_path / "table.yaml"
    path.write_text(yaml.safe_dump(config))
    workdir = tmp_path / "run"
    workdir.mkdir()
    result = run_snakemake(workdir, path, "--keep-going", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "sub-900_ses-01_T1w.nii.gz" in output and "truncated" in output
    preprocessed = sorted(
        (workdir / "results" / "preprocess").rglob("*_res-4_desc-preproc_T1w.nii.gz")
    )
    assert [p.name.split("_space")[0] for p in preprocessed] == list(
        cohort["participant_id"] + "_" + cohort["session_id"]
    )
    assert not [p for p in (workdir / "results" / "preprocess").rglob("sub-900*") if p.is_file()]
    assert not re.search(r"^(local)?rule train:", output, re.M)
    assert not list((workdir / "results").glob("*/model/model.pt"))
    log = "logs/preprocess/native/sub-900/ses-01/anat/sub-900_ses-01.log"
    end = output[output.index("Exiting because a job execution failed") :]
    assert (
        "latentcf: 1 scan(s) failed; the stages that need them (training and every cohort-level "
        "stage after it) did not run:\n"
        f"  - sub-900 ses-01: {broken} failed in preprocess_native (log: {log}): could not read "
        "the voxel data"
    ) in end
    assert "the file is truncated or corrupt" in end.split(log)[1].splitlines()[0]
    assert (
        "latentcf: to go on, fix or replace each file and rerun, or leave the scan out: remove "
        f"its row from {tmp_path / 'scans.tsv'} (input.table)"
    ) in end
