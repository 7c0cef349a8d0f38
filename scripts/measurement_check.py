"""Snakemake adapter: the volume-change measurement on the demo's true pairs (latentcf.evaluate.measurement)."""

from latentcf.cli_errors import run_script
from latentcf.preprocess import set_threads


def main(smk):
    set_threads(smk.threads)  # before ITK loads
    from latentcf.evaluate.measurement import measurement_check

    measurement_check(
        scans=list(smk.params.scans),
        raw_images=list(smk.input.raw),
        transforms=list(smk.input.transforms),
        images=list(smk.input.images),
        masks=list(smk.input.masks),
        truth_dir=smk.input.truth,
        interventions=list(smk.params.interventions),
        out_tsv=smk.output[0],
        segment_config=dict(smk.params.segment),
        evaluate_config=dict(smk.params.evaluate),
        resolution_mm=int(smk.params.resolution_mm),
    )


run_script(main, snakemake)
