"""Snakemake adapter: build and write the cohort table (see latentcf.cohort.run_ingest)."""

from latentcf.cli_errors import run_script
from latentcf.cohort import run_ingest


def main(smk):
    run_ingest(
        source=smk.input.source,
        cohort_tsv=smk.output.cohort,
        excluded_tsv=smk.output.excluded,
        covariates=smk.params.covariates,
        split=smk.params.split,
        participant_label=smk.params.participant_label,
        seed=smk.params.seed,
        options=smk.params.options,
    )


run_script(main, snakemake)
