"""Snakemake adapter: counterfactuals of one chunk of scans (latentcf.counterfactual.generate)."""

from latentcf.cli_errors import run_script
from latentcf.counterfactual.generate import counterfactual_chunk


def main(smk):
    native = None
    if smk.params.native_scans:
        native = {
            scan: (xfm, ref)
            for scan, xfm, ref in zip(
                smk.params.native_scans, smk.input.xfms, smk.input.references, strict=True
            )
        }
    counterfactual_chunk(
        model_path=smk.input.model,
        model_config=dict(smk.params.model),
        scm_files=(smk.input.design, smk.input.coefficients),
        encode_dir=smk.input.encode,
        cohort_tsv=smk.input.cohort,
        covariates=dict(smk.params.covariates),
        interventions=list(smk.params.interventions),
        out_dir=smk.output.chunk,
        resolution_mm=int(smk.params.resolution_mm),
        counterfactual_config=dict(smk.params.counterfactual),
        native=native,
        threads=smk.threads,
    )


run_script(main, snakemake)
