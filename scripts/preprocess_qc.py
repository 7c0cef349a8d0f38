"""Snakemake adapter: cohort preprocessing QC table and mosaic (latentcf.preprocess.summary)."""

from latentcf.cli_errors import run_script
from latentcf.preprocess import set_threads


def main(smk):
    set_threads(smk.threads)
    from latentcf.preprocess.summary import write_qc_summary

    write_qc_summary(
        list(smk.params.scans),
        list(smk.input.skullstrip),
        list(smk.input.registration),
        list(smk.input.images),
        smk.output.table,
        smk.output.mosaic,
    )


run_script(main, snakemake)
