# Segmentation and evaluation (latentcf.segment, latentcf.evaluate): every real scan's model-grid
# image is segmented once (per chunk); each model's null and counterfactual images are segmented
# and their volume changes measured by tensor-based morphometry (per model and chunk); on the demo
# the measurement is checked on the simulator's true pairs; each forecast subject's observed change
# is measured once, each model's forecasts per model; `evaluate` gathers every table and figure of
# a model.

SEGMENT = f"{OUT}/segment"
EVALUATE_DIR = f"{MODEL_DIR}/evaluate"
# The real changes every model's forecasts are measured against (model-independent, run once).
OBSERVED_CHANGES = f"{OUT}/evaluate/observed_changes"
_SEG_MEM_MB = {1: 6000, 2: 3000, 4: 2000}[RES]


rule segment_scans:
    input:
        images=chunk_preproc(PREPROC_T1W),
    output:
        chunk=directory(f"{SEGMENT}/chunk-{{chunk}}"),
    params:
        scans=chunk_scans,
        segment=config["segment"],
        resolution_mm=RES,
        code=code("segment_scans.py"),
    log:
        "logs/segment/chunk-{chunk}.log",
    benchmark:
        "benchmarks/segment/chunk-{chunk}.tsv"
    threads: config["segment"]["threads"]
    priority: 1  # other jobs wait on it (see common.smk, "Scheduling")
    resources:
        mem_mb=_SEG_MEM_MB,
        runtime=60,
    conda:
        "../../envs/latentcf.yaml"
    script:
        "../../scripts/segment_scans.py"


rule segment_counterfactuals:
    input:
        counterfactual=f"{MODEL_DIR}/counterfactual/chunk-{{chunk}}",
    output:
        chunk=directory(f"{MODEL_DIR}/segment/chunk-{{chunk}}"),
    wildcard_constraints:
        model=models_pattern(CF_MODELS),
    params:
        family=lambda wildcards: MODELS[wildcards.model]["family"],
        segment=config["segment"],
        evaluate={"tbm": config["evaluate"]["tbm"]},
        resolution_mm=RES,
        code=code("segment_counterfactuals.py"),
    log:
        "logs/{model}/segment/chunk-{chunk}.log",
    benchmark:
        "benchmarks/{model}/segment/chunk-{chunk}.tsv"
    threads: config["segment"]["threads"]
    priority: 1  # other jobs wait on it (see common.smk, "Scheduling")
    resources:
        mem_mb=_SEG_MEM_MB,
        runtime=120,
    conda:
        "../../envs/latentcf.yaml"
    script:
        "../../scripts/segment_counterfactuals.py"


rule measurement_check:
    input:
        truth=f"{OUT}/demo/truth_counterfactuals",
        raw=lambda wildcards: [scan_input_t1w_of(s) for s in measurement_scans()],
        transforms=lambda wildcards: [PREPROC_XFM.format(scan=s) for s in measurement_scans()],
        images=lambda wildcards: [preproc_path(s) for s in measurement_scans()],
        masks=lambda wildcards: [preproc_path(s, PREPROC_MASK) for s in measurement_scans()],
    output:
        f"{OUT}/evaluate/measurement_check.tsv",
    params:
        scans=measurement_scans,
        interventions=[iv["name"] for iv in config["interventions"]],
        segment=config["segment"],
        evaluate={"tbm": config["evaluate"]["tbm"]},
        resolution_mm=RES,
        code=code("measurement_check.py"),
    log:
        "logs/evaluate/measurement_check.log",
    benchmark:
        "benchmarks/evaluate/measurement_check.tsv"
    threads: config["segment"]["threads"]
    priority: 1  # off the critical path: run it early, not alone at the end
    resources:
        mem_mb=_SEG_MEM_MB,
        runtime=120,
    conda:
        "../../envs/latentcf.yaml"
    script:
        "../../scripts/measurement_check.py"


rule measure_observed_changes:
    input:
        cohort=f"{OUT}/cohort/cohort.tsv",
        images=lambda wildcards: [preproc_path(s) for s in scans(*FORECAST_SPLITS)],
    output:
        directory(OBSERVED_CHANGES),
    params:
        scans=lambda wildcards: scans(*FORECAST_SPLITS),
        covariates=config["covariates"],
        forecast={k: config["forecast"][k] for k in ("splits", "age_covariate")},
        segment=config["segment"],
        evaluate={"tbm": config["evaluate"]["tbm"]},
        resolution_mm=RES,
        code=code("measure_observed_changes.py"),
    log:
        "logs/evaluate/measure_observed_changes.log",
    benchmark:
        "benchmarks/evaluate/measure_observed_changes.tsv"
    threads: config["segment"]["threads"]
    priority: 1  # off the critical path: run it early, not alone at the end
    resources:
        mem_mb=_SEG_MEM_MB,
        runtime=60,
    conda:
        "../../envs/latentcf.yaml"
    script:
        "../../scripts/measure_observed_changes.py"


rule measure_forecasts:
    input:
        forecast=f"{MODEL_DIR}/forecast",
        observed=OBSERVED_CHANGES,
        encode=chunk_dirs(*FORECAST_SPLITS),
        images=lambda wildcards: [preproc_path(s) for s in scans(*FORECAST_SPLITS)],
        masks=lambda wildcards: [preproc_path(s, PREPROC_MASK) for s in scans(*FORECAST_SPLITS)],
    output:
        f"{EVALUATE_DIR}/forecast_changes.tsv",
    wildcard_constraints:
        model=models_pattern(FORECAST_MODELS),
    params:
        scans=lambda wildcards: scans(*FORECAST_SPLITS),
        family=lambda wildcards: MODELS[wildcards.model]["family"],
        evaluate={"tbm": config["evaluate"]["tbm"]},
        resolution_mm=RES,
        code=code("measure_forecasts.py"),
    log:
        "logs/{model}/measure_forecasts.log",
    benchmark:
        "benchmarks/{model}/measure_forecasts.tsv"
    threads: config["segment"]["threads"]
    priority: 1  # other jobs wait on it (see common.smk, "Scheduling")
    resources:
        mem_mb=_SEG_MEM_MB,
        runtime=60,
    conda:
        "../../envs/latentcf.yaml"
    script:
        "../../scripts/measure_forecasts.py"


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        **{
            name: (
                report(
                    f"{EVALUATE_DIR}/{file}",
                    caption=f"../report/evaluate_{name}.rst",
                    category="Evaluation",
                    subcategory="{model}",
                )
                if name in EVALUATE_REPORTED
                else f"{EVALUATE_DIR}/{file}"
            )
            for name, file in EVALUATE_OUTPUTS.items()
        },
    params:
        model=lambda wildcards: MODELS[wildcards.model],
        covariates=config["covariates"],
        image_parents=config["image_parents"],
        interventions=config["interventions"],
        evaluate=config["evaluate"],
        scans=lambda wildcards: scans(),
        demo_atrophy=config["demo"]["atrophy"] if config["demo"]["enabled"] else None,
        resolution_mm=RES,
        seed=config["seed"],
        code=code("evaluate.py"),
    log:
        "logs/{model}/evaluate.log",
    benchmark:
        "benchmarks/{model}/evaluate.tsv"
    threads: 1
    resources:
        mem_mb=_SEG_MEM_MB,
        runtime=60,
    conda:
        "../../envs/latentcf.yaml"
    script:
        "../../scripts/evaluate.py"
