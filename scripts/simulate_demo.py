"""Snakemake adapter: simulate the demo BIDS cohort (factual scans) with its ground truth."""

import torch

from latentcf.cli_errors import run_script
from latentcf.demo import simulate_demo


def main(smk):
    torch.set_num_threads(max(1, int(smk.threads)))
    simulate_demo(smk.output.bids, demo=smk.params.demo, seed=smk.params.seed, overwrite=True)


run_script(main, snakemake)
