"""Snakemake adapter: encode one chunk of scans with one model (see latentcf.encode.encode_chunk)."""

from latentcf.cli_errors import run_script
from latentcf.encode import encode_chunk


def main(smk):
    encode_chunk(
        model_path=smk.input.model,
        scans=list(smk.params.scans),
        images=list(smk.input.images),
        masks=list(smk.input.masks),
        out_dir=smk.output.chunk,
        model_config=dict(smk.params.model),
        resolution_mm=int(smk.params.resolution_mm),
        encode_config=dict(smk.params.encode),
        threads=smk.threads,
    )


run_script(main, snakemake)
