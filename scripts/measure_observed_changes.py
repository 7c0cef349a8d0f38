"""Snakemake adapter: what every model's forecasts are measured against (observed changes)."""

from latentcf.cli_errors import run_script
from latentcf.preprocess import set_threads


def main(smk):
    set_threads(smk.threads)  # before ITK loads
    from latentcf.evaluate.forecasts import measure_observed_changes
    from latentcf.forecast.stage import forecast_subjects

    _, subjects = forecast_subjects(
        smk.input.cohort, dict(smk.params.covariates), dict(smk.params.forecast)
    )
    measure_observed_changes(
        subjects,
        image_of=dict(zip(smk.params.scans, smk.input.images, strict=True)),
        out_dir=smk.output[0],
        segment_config=dict(smk.params.segment),
        evaluate_config=dict(smk.params.evaluate),
        resolution_mm=int(smk.params.resolution_mm),
    )


run_script(main, snakemake)
