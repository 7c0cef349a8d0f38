"""Snakemake adapter: every evaluation table and figure of one model (latentcf.evaluate.run)."""

from pathlib import Path

from latentcf.cli_errors import run_script
from latentcf.preprocess import set_threads


def main(smk):
    set_threads(smk.threads)
    from latentcf import derivatives
    from latentcf.evaluate.run import CounterfactualInputs, run_evaluate

    scans = list(smk.params.scans)
    truth = None
    if "truth" in smk.input.keys():
        truth = {
            "volumes": Path(smk.input.truth) / "volumes.tsv",
            "folder": smk.input.truth,
            "atrophy": smk.params.demo_atrophy,
        }
    counterfactuals = None
    if "counterfactuals" in smk.input.keys():  # the model is one of counterfactual.models
        counterfactuals = CounterfactualInputs(
            scm_files=(smk.input.design, smk.input.coefficients),
            segment_dirs=list(smk.input.model_segments),
            counterfactual_dirs=list(smk.input.counterfactuals),
        )
        if truth is not None:  # compared with the true counterfactuals
            truth |= {
                "raw": dict(zip(scans, smk.input.raw, strict=True)),
                "transforms": dict(zip(scans, smk.input.transforms, strict=True)),
                "measurement": smk.input.measurement,
            }
    forecast = None
    if "forecast" in smk.input.keys():  # the model is one of forecast.models
        forecast = (
            smk.input.forecast_changes,
            Path(smk.input.forecast) / derivatives.FORECAST_ERRORS_TABLE,
        )
    run_evaluate(
        cohort_tsv=smk.input.cohort,
        covariates=dict(smk.params.covariates),
        image_parents=smk.params.image_parents,
        interventions=list(smk.params.interventions),
        model_path=smk.input.model,
        model_config=dict(smk.params.model),
        reconstruction_tsv=smk.input.reconstruction,
        real_segment_dirs=list(smk.input.real_segments),
        counterfactuals=counterfactuals,
        images=dict(zip(scans, smk.input.images, strict=True)),
        masks=dict(zip(scans, smk.input.masks, strict=True)),
        out_dir=Path(smk.output.headline).parent,
        resolution_mm=int(smk.params.resolution_mm),
        seed=int(smk.params.seed),
        evaluate_config=dict(smk.params.evaluate),
        truth=truth,
        forecast=forecast,
        threads=smk.threads,
    )


run_script(main, snakemake)
