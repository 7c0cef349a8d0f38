# Longitudinal forecasts of each model (latentcf.forecast): the population slope prior from the
# train subjects' encoded latents, each held-out longitudinal subject's last scan forecast from
# its earlier ones by every method, decoded on the model grid; one job per model. Its params are
# the model, the covariates and the forecast section: interventions and the SCM's settings reach
# it only through fit_scm's outputs (read for an SCM population slope); forecast.models only says
# which models run it.


rule forecast:
    input:
        model=f"{MODEL_DIR}/model/model.pt",
        design=f"{MODEL_DIR}/scm/design.json",
        coefficients=f"{MODEL_DIR}/scm/coefficients.npz",
        cohort=f"{OUT}/cohort/cohort.tsv",
        chunks=chunk_dirs("train", *FORECAST_SPLITS),
    output:
        folder=directory(f"{MODEL_DIR}/forecast"),
    wildcard_constraints:
        model=models_pattern(FORECAST_MODELS),
    params:
        model=lambda wildcards: MODELS[wildcards.model],
        covariates=config["covariates"],
        forecast={k: v for k, v in config["forecast"].items() if k != "models"},
        resolution_mm=RES,
        code=code("forecast.py"),
    log:
        "logs/{model}/forecast.log",
    benchmark:
        "benchmarks/{model}/forecast.tsv"
    threads: config["forecast"]["threads"]
    priority: 1  # other jobs wait on it (see common.smk, "Scheduling")
    resources:
        gpu=gpu_request(config["forecast"]["device"]),
        mem_mb={1: 8000, 2: 3000, 4: 2000}[RES],
        runtime=60,
    conda:
        "../../envs/latentcf.yaml"
    script:
        "../../scripts/forecast.py"
