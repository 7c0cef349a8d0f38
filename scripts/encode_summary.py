"""Snakemake adapter: reconstruction metrics table + figure (see latentcf.encode.summarise_reconstructions)."""

from latentcf.cli_errors import run_script
from latentcf.encode import summarise_reconstructions


def main(smk):
    summarise_reconstructions(
        cohort_tsv=smk.input.cohort,
        metric_files=list(smk.input.metrics),
        out_tsv=smk.output.table,
        out_png=smk.output.figure,
        images=list(smk.input.images),
        recons=list(smk.input.recons),
        figure_scans=int(smk.params.figure_scans),
    )


run_script(main, snakemake)
