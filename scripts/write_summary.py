"""Snakemake adapter: write the run summary (see latentcf.summary)."""

from latentcf.cli_errors import run_script
from latentcf.summary import write_summary


def main(smk):
    inputs = {name: smk.input[name] for name in smk.input.keys()}
    write_summary(smk.params.output_dir, inputs, smk.output[0])


run_script(main, snakemake)
