# The latent structural causal model of each model (closed-form GLM over the train split, streamed
# from the encode chunks; latentcf.scm). Its params are the model, the covariates with their causal
# graph, image_parents and the scm section: changing the interventions does not refit it.


rule fit_scm:
    input:
        cohort=f"{OUT}/cohort/cohort.tsv",
        model=f"{MODEL_DIR}/model/model.pt",
        chunks=chunk_dirs("train"),
    output:
        design=f"{MODEL_DIR}/scm/design.json",
        coefficients=f"{MODEL_DIR}/scm/coefficients.npz",
        effects_nifti=f"{MODEL_DIR}/scm/effects.nii.gz",
        r2=report(
            f"{MODEL_DIR}/scm/r2.png",
            caption="../report/scm_r2.rst",
            category="Latent SCM",
            subcategory="{model}",
        ),
        effects=report(
            f"{MODEL_DIR}/scm/effects.png",
            caption="../report/scm_effects.rst",
            category="Latent SCM",
            subcategory="{model}",
        ),
    wildcard_constraints:
        model=models_pattern(SCM_MODELS),
    params:
        model=lambda wildcards: MODELS[wildcards.model],
        covariates=config["covariates"],
        image_parents=config["image_parents"],
        scm=config["scm"],
        resolution_mm=RES,
        code=code("fit_scm.py"),
    log:
        "logs/{model}/fit_scm.log",
    benchmark:
        "benchmarks/{model}/fit_scm.tsv"
    threads: 1
    priority: 1  # other jobs wait on it (see common.smk, "Scheduling")
    resources:
        mem_mb={1: 8000, 2: 3000, 4: 2000}[RES],
        runtime=30,
    conda:
        "../../envs/latentcf.yaml"
    script:
        "../../scripts/fit_scm.py"
