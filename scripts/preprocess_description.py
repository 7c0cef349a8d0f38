"""Snakemake adapter: the preprocessing derivative root's dataset_description.json."""

from latentcf.cli_errors import run_script
from latentcf.preprocess.outputs import write_dataset_description


def main(smk):
    write_dataset_description(smk.output[0])


run_script(main, snakemake)
