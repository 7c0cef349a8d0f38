"""Snakemake adapter: plot the demo's true regional volumes against age by diagnosis."""

from pathlib import Path

from latentcf.cli_errors import run_script
from latentcf.demo.plot import plot_truth_volumes


def main(smk):
    plot_truth_volumes(Path(smk.input.bids) / smk.params.volumes, smk.output.figure)


run_script(main, snakemake)
