"""Snakemake adapter: encode one scan with the VQ-VAE (see latentcf.encode.encode_scan)."""

from latentcf.cli_errors import run_script
from latentcf.encode import encode_scan


def main(smk):
    encode_scan(
        model_path=smk.input.model,
        image_path=smk.input.image,
        mask_path=smk.input.mask,
        scan=smk.wildcards.scan,
        out_latent=smk.output.latent,
        out_recon=smk.output.recon,
        out_metrics=smk.output.metrics,
        family=smk.params.family,
        model_config=dict(smk.params.model),
        encode_config=dict(smk.params.encode),
        threads=smk.threads,
    )


run_script(main, snakemake)
