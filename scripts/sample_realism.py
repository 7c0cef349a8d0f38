"""Snakemake adapter: the realism of one model's samples (latentcf.sample.realism)."""

from pathlib import Path

from latentcf.cli_errors import run_script
from latentcf.sample.realism import run_sample_realism


def main(smk):
    scans = list(smk.params.real_scans)
    run_sample_realism(
        sample_dir=smk.input.images,
        sample_segment_dir=smk.input.segment,
        jacobians_tsv=smk.input.jacobians,
        real_segment_dirs=list(smk.input.real_segments),
        real_images=dict(zip(scans, smk.input.real_images, strict=True)),
        out_dir=Path(smk.output.volumes).parent,
        reference=smk.params.reference,
        real_labels=dict(smk.params.real_labels),
        sample_config=dict(smk.params.sample),
    )


run_script(main, snakemake)
