"""Snakemake adapter: segment the model-grid scans of one chunk (latentcf.evaluate.chunks)."""

from latentcf.cli_errors import run_script
from latentcf.preprocess import set_threads


def main(smk):
    set_threads(smk.threads)  # before ITK loads
    from latentcf.evaluate.chunks import segment_scans

    segment_scans(
        scans=list(smk.params.scans),
        images=list(smk.input.images),
        out_dir=smk.output.chunk,
        segment_config=dict(smk.params.segment),
        resolution_mm=int(smk.params.resolution_mm),
    )


run_script(main, snakemake)
