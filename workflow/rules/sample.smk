# Samples from the prior of each model whose family has one (latentcf.models.settings.
# FAMILIES_WITH_PRIOR; latentcf.sample): draw sample.n images and the Jacobian statistics of the
# family's deformation fields, segment them like the real scans, and measure how real they look
# against the real held-out scans (regional-volume distances, optional FID, a figure). Outputs
# live under {OUT}/{model}/sample/ (names in latentcf.derivatives); models of other families
# have no sample jobs (SAMPLED_MODELS, common.smk).

SAMPLE_DIR = f"{MODEL_DIR}/sample"
_SAMPLE = {k: v for k, v in config["sample"].items() if k not in ("figure_images", "feature_network")}


rule sample:
    input:
        model=f"{MODEL_DIR}/model/model.pt",
    output:
        images=directory(f"{SAMPLE_DIR}/images"),
        jacobians=f"{SAMPLE_DIR}/{derivatives.SAMPLE_JACOBIANS}",
    wildcard_constraints:
        model=SAMPLED_MODELS_PATTERN,
    params:
        model=lambda wildcards: MODELS[wildcards.model],
        sample=_SAMPLE,
        seed=config["seed"],
        resolution_mm=RES,
        code=code("sample.py"),
    log:
        "logs/{model}/sample.log",
    benchmark:
        "benchmarks/{model}/sample.tsv"
    threads: config["sample"]["threads"]
    priority: 1  # other jobs wait on it (see common.smk, "Scheduling")
    resources:
        gpu=gpu_request(config["sample"]["device"]),
        mem_mb={1: 8000, 2: 3000, 4: 2000}[RES],
        runtime=30,
    conda:
        "../../envs/latentcf.yaml"
    script:
        "../../scripts/sample.py"


rule segment_samples:
    input:
        images=f"{SAMPLE_DIR}/images",
    output:
        segment=directory(f"{SAMPLE_DIR}/segment"),
    wildcard_constraints:
        model=SAMPLED_MODELS_PATTERN,
    params:
        family=lambda wildcards: MODELS[wildcards.model]["family"],
        segment=config["segment"],
        resolution_mm=RES,
        code=code("segment_samples.py"),
    log:
        "logs/{model}/segment_samples.log",
    benchmark:
        "benchmarks/{model}/segment_samples.tsv"
    threads: config["segment"]["threads"]
    priority: 1  # off the critical path: run it early, not alone at the end
    resources:
        mem_mb=_SEG_MEM_MB,
        runtime=60,
    conda:
        "../../envs/latentcf.yaml"
    script:
        "../../scripts/segment_samples.py"


rule sample_realism:
    input:
        images=f"{SAMPLE_DIR}/images",
        segment=f"{SAMPLE_DIR}/segment",
        jacobians=f"{SAMPLE_DIR}/{derivatives.SAMPLE_JACOBIANS}",
        real_segments=lambda wildcards: [f"{SEGMENT}/chunk-{c}" for c in realism_chunks()],
        real_images=lambda wildcards: [preproc_path(s) for s in realism_scans()],
        feature_network=config["sample"]["feature_network"] or [],
    output:
        **{
            name: (
                report(
                    f"{SAMPLE_DIR}/{file}",
                    caption=f"../report/sample_{name}.rst",
                    category="Samples",
                    subcategory="{model}",
                )
                if name in ("figure", "tables_html")
                else f"{SAMPLE_DIR}/{file}"
            )
            for name, file in derivatives.SAMPLE_REALISM_OUTPUTS.items()
        },
    wildcard_constraints:
        model=SAMPLED_MODELS_PATTERN,
    params:
        real_scans=lambda wildcards: realism_scans(),
        real_labels=lambda wildcards: realism_labels(),
        reference=lambda wildcards: realism_reference(),
        sample={
            k: config["sample"][k] for k in ("batch_size", "feature_network", "figure_images")
        },
        code=code("sample_realism.py"),
    log:
        "logs/{model}/sample_realism.log",
    benchmark:
        "benchmarks/{model}/sample_realism.tsv"
    threads: 1
    resources:
        mem_mb=_SEG_MEM_MB,
        runtime=30,
    conda:
        "../../envs/latentcf.yaml"
    script:
        "../../scripts/sample_realism.py"
