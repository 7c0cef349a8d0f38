"""Snakemake adapter: load/check, N4, skull strip (latentcf.preprocess.pipeline.run_native)."""

from latentcf.cli_errors import run_script
from latentcf.preprocess import set_threads


def main(smk):
    set_threads(smk.threads)  # before ITK/torch load
    from latentcf.preprocess.pipeline import run_native

    run_native(
        smk.input.t1w,
        smk.output.t1w,
        smk.output.mask,
        smk.output.qc,
        smk.output.qc_json,
        n4=dict(smk.params.n4),
        skullstrip=dict(smk.params.skullstrip),
    )


run_script(main, snakemake)
