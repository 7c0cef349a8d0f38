"""Snakemake adapter: the demo cohort's true counterfactuals of the configured interventions."""

import torch

from latentcf.cli_errors import run_script
from latentcf.demo import simulate_demo_counterfactuals


def main(smk):
    torch.set_num_threads(max(1, int(smk.threads)))
    simulate_demo_counterfactuals(
        smk.output.truth,
        demo=smk.params.demo,
        interventions=smk.params.interventions,
        seed=smk.params.seed,
        overwrite=True,
    )


run_script(main, snakemake)
