"""Snakemake adapter: simulate the demo BIDS cohort with ground truth (see latentcf.demo)."""

import torch

from latentcf.cli_errors import run_script
from latentcf.demo import simulate_demo


def main(smk):
    torch.set_num_threads(max(1, int(smk.threads)))
    simulate_demo(
        smk.output.bids,
        demo=smk.params.demo,
        interventions=smk.params.interventions,
        seed=smk.params.seed,
        overwrite=True,
    )


run_script(main, snakemake)
