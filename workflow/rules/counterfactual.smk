# Counterfactual images: one job per model and chunk of scans, all interventions at once
# (latentcf.counterfactual), and the montage of a few held-out scans for the report.

# The settings a counterfactual job depends on: not the montage's scans, nor which models run it
# (adding a model to counterfactual.models must not rerun the others).
_CF = {k: v for k, v in config["counterfactual"].items() if k not in ("figure_scans", "models")}


rule counterfactual:
    input:
        model=f"{MODEL_DIR}/model/model.pt",
        design=f"{MODEL_DIR}/scm/design.json",
        coefficients=f"{MODEL_DIR}/scm/coefficients.npz",
        cohort=f"{OUT}/cohort/cohort.tsv",
        encode=f"{MODEL_DIR}/encode/chunk-{{chunk}}",
        xfms=cf_native(PREPROC_XFM),
        references=cf_native(PREPROC_NATIVE_T1W),
    output:
        chunk=directory(f"{MODEL_DIR}/counterfactual/chunk-{{chunk}}"),
    wildcard_constraints:
        model=models_pattern(CF_MODELS),
    params:
        model=lambda wildcards: MODELS[wildcards.model],
        covariates=config["covariates"],
        interventions=config["interventions"],
        counterfactual=_CF,
        native_scans=lambda wildcards: cf_chunk_scans(wildcards) if _CF["native_space"] else [],
        resolution_mm=RES,
        code=code("counterfactual.py"),
    log:
        "logs/{model}/counterfactual/chunk-{chunk}.log",
    benchmark:
        "benchmarks/{model}/counterfactual/chunk-{chunk}.tsv"
    threads: config["counterfactual"]["threads"]
    priority: 1  # other jobs wait on it (see common.smk, "Scheduling")
    resources:
        gpu=gpu_request(config["counterfactual"]["device"]),
        mem_mb={1: 8000, 2: 3000, 4: 2000}[RES],
        runtime=60,
    conda:
        "../../envs/latentcf.yaml"
    script:
        "../../scripts/counterfactual.py"


rule plot_counterfactuals:
    input:
        chunks=lambda wildcards: [
            f"{OUT}/{wildcards.model}/counterfactual/chunk-{chunk_of(s)}" for s in cf_figure_scans()
        ],
        images=lambda wildcards: [preproc_path(s) for s in cf_figure_scans()],
    output:
        report(
            f"{MODEL_DIR}/counterfactual/counterfactuals.png",
            caption="../report/counterfactuals.rst",
            category="Counterfactuals",
            subcategory="{model}",
        ),
    wildcard_constraints:
        model=models_pattern(CF_MODELS),
    params:
        scans=cf_figure_scans,
        interventions=[iv["name"] for iv in config["interventions"]],
        model=lambda wildcards: MODELS[wildcards.model],
        resolution_mm=RES,
        code=code("plot_counterfactuals.py"),
    log:
        "logs/{model}/plot_counterfactuals.log",
    benchmark:
        "benchmarks/{model}/plot_counterfactuals.tsv",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/latentcf.yaml"
    script:
        "../../scripts/plot_counterfactuals.py"
