"""Snakemake adapter: held-out reconstruction metrics + figure (latentcf.encode.summarise_reconstructions)."""

from latentcf.cli_errors import run_script
from latentcf.encode import summarise_reconstructions


def main(smk):
    summarise_reconstructions(
        cohort_tsv=smk.input.cohort,
        chunk_dirs=list(smk.input.chunks),
        splits=list(smk.params.splits),
        out_tsv=smk.output.table,
        out_png=smk.output.figure,
        images=dict(zip(smk.params.scans, smk.input.images, strict=True)),
        resolution_mm=int(smk.params.resolution_mm),
        family=smk.params.model["family"],
        figure_scans=int(smk.params.figure_scans),
    )


run_script(main, snakemake)
