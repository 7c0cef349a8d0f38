"""Snakemake adapter: the counterfactual montage (latentcf.counterfactual.figures)."""

from latentcf.cli_errors import run_script
from latentcf.counterfactual.figures import plot_counterfactuals


def main(smk):
    scans = list(smk.params.scans)
    plot_counterfactuals(
        scans=scans,
        inputs=dict(zip(scans, smk.input.images, strict=True)),
        chunk_dirs=dict(zip(scans, smk.input.chunks, strict=True)),
        interventions=list(smk.params.interventions),
        resolution_mm=int(smk.params.resolution_mm),
        family=smk.params.model["family"],
        out_png=smk.output[0],
    )


run_script(main, snakemake)
