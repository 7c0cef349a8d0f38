"""Snakemake adapter: affine registration to the template (latentcf.preprocess.pipeline.run_registration)."""

from latentcf.cli_errors import run_script
from latentcf.preprocess import set_threads


def main(smk):
    set_threads(smk.threads)  # before ITK loads
    from latentcf.preprocess.pipeline import run_registration

    run_registration(
        smk.input.t1w,
        smk.input.mask,
        smk.output.xfm,
        smk.output.qc,
        smk.output.qc_json,
        registration=dict(smk.params.registration),
    )


run_script(main, snakemake)
