"""Snakemake adapter: normalise and resample to the model grid (latentcf.preprocess.pipeline.run_grid)."""

from latentcf.cli_errors import run_script
from latentcf.preprocess import set_threads


def main(smk):
    set_threads(smk.threads)  # before ITK loads
    from latentcf.preprocess.pipeline import run_grid

    run_grid(
        smk.input.t1w,
        smk.input.mask,
        smk.input.xfm,
        smk.output.t1w,
        smk.output.mask,
        resolution_mm=int(smk.params.resolution_mm),
        normalisation=dict(smk.params.normalisation),
        interpolation=smk.params.interpolation,
    )


run_script(main, snakemake)
