"""Snakemake adapter: segment one model's samples like the real scans (latentcf.sample.segment)."""

from latentcf.cli_errors import run_script
from latentcf.preprocess import set_threads


def main(smk):
    set_threads(smk.threads)  # before ITK loads
    from latentcf.sample.segment import segment_samples

    segment_samples(
        sample_dir=smk.input.images,
        out_dir=smk.output.segment,
        family=smk.params.family,
        segment_config=dict(smk.params.segment),
        resolution_mm=int(smk.params.resolution_mm),
    )


run_script(main, snakemake)
