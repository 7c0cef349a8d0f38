"""Snakemake adapter: fit the latent SCM of one model (see latentcf.scm.fit.run_fit_scm)."""

from latentcf.cli_errors import run_script
from latentcf.scm.fit import run_fit_scm


def main(smk):
    run_fit_scm(
        cohort_tsv=smk.input.cohort,
        chunk_dirs=list(smk.input.chunks),
        model_path=smk.input.model,
        model_config=dict(smk.params.model),
        covariates=dict(smk.params.covariates),
        image_parents=smk.params.image_parents,
        scm_config=dict(smk.params.scm),
        outputs={k: smk.output[k] for k in smk.output.keys()},
        resolution_mm=int(smk.params.resolution_mm),
        threads=smk.threads,
    )


run_script(main, snakemake)
