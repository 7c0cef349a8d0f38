"""Snakemake adapter: draw images from one model's prior (see latentcf.sample.draw.sample_model)."""

from latentcf.cli_errors import run_script
from latentcf.sample.draw import sample_model


def main(smk):
    sample_model(
        model_path=smk.input.model,
        out_dir=smk.output.images,
        jacobians_tsv=smk.output.jacobians,
        model_config=dict(smk.params.model),
        resolution_mm=int(smk.params.resolution_mm),
        seed=int(smk.params.seed),
        sample_config=dict(smk.params.sample),
        threads=smk.threads,
    )


run_script(main, snakemake)
