"""Snakemake adapter: longitudinal forecasts of one model (latentcf.forecast.stage)."""

from latentcf.cli_errors import run_script
from latentcf.forecast.stage import run_forecast


def main(smk):
    run_forecast(
        model_path=smk.input.model,
        model_config=dict(smk.params.model),
        chunk_dirs=list(smk.input.chunks),
        cohort_tsv=smk.input.cohort,
        covariates=dict(smk.params.covariates),
        scm_files=(smk.input.design, smk.input.coefficients),
        out_dir=smk.output.folder,
        resolution_mm=int(smk.params.resolution_mm),
        forecast_config=dict(smk.params.forecast),
        threads=smk.threads,
    )


run_script(main, snakemake)
