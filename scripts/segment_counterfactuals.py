"""Snakemake adapter: segment one chunk's counterfactuals and measure their volume changes."""

from latentcf.cli_errors import run_script
from latentcf.preprocess import set_threads


def main(smk):
    set_threads(smk.threads)  # before ITK loads
    from latentcf.evaluate.chunks import counterfactual_volumes

    counterfactual_volumes(
        counterfactual_dir=smk.input.counterfactual,
        out_dir=smk.output.chunk,
        family=smk.params.family,
        segment_config=dict(smk.params.segment),
        evaluate_config=dict(smk.params.evaluate),
        resolution_mm=int(smk.params.resolution_mm),
    )


run_script(main, snakemake)
