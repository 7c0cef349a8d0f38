# Models (one {model} per entry of config `models`): train, encode every scan per chunk of scans,
# summarise held-out reconstructions. Outputs live under {OUT}/{model}/ (a BIDS-derivatives root;
# names in latentcf.derivatives). Each rule gets only its model's settings through params:, so
# changing one model's settings reruns that model's jobs only. Checkpoints in
# {OUT}/{model}/model/checkpoints/ are deliberately NOT outputs: Snakemake must not delete them
# when a training job fails, so that rerunning resumes from the newest matching one.

MODEL_DIR = f"{OUT}/{{model}}"
_ENCODE = {k: v for k, v in config["encode"].items() if k != "figure_scans"}


rule train:
    input:
        train_images=preproc_t1w_for_split("train"),
        val_images=preproc_t1w_for_split("val"),
        val_masks=preproc_mask_for_split("val"),
        files=model_files,
    output:
        model=f"{MODEL_DIR}/model/model.pt",
        table=f"{MODEL_DIR}/model/training.tsv",
        description=f"{MODEL_DIR}/dataset_description.json",
        plot=report(
            f"{MODEL_DIR}/model/training.png",
            caption="../report/training.rst",
            category="Models",
            subcategory="{model}",
        ),
    params:
        model=lambda wildcards: MODELS[wildcards.model],
        train=lambda wildcards: model_train_config(config["train"], wildcards.model),
        seed=config["seed"],
        checkpoint_dir=lambda wildcards: f"{OUT}/{wildcards.model}/model/checkpoints",
        code=code("train.py"),
    log:
        "logs/{model}/train.log",
    benchmark:
        "benchmarks/{model}/train.tsv"
    threads: lambda wildcards: model_train_config(config["train"], wildcards.model)["threads"]
    priority: 2  # the longest jobs, and every model stage waits on them (common.smk, "Scheduling")
    resources:
        gpu=train_gpus,
        mem_mb=TRAIN_MEM_MB[RES],
        runtime=train_runtime,
        **{n: (lambda w, n=n: train_slurm(w).get(n)) for n in TRAIN_SLURM_RESOURCES},
    conda:
        "../../envs/latentcf.yaml"
    script:
        "../../scripts/train.py"


rule encode:
    input:
        model=f"{MODEL_DIR}/model/model.pt",
        images=chunk_preproc(PREPROC_T1W),
        masks=chunk_preproc(PREPROC_MASK),
    output:
        chunk=directory(f"{MODEL_DIR}/encode/chunk-{{chunk}}"),
    params:
        scans=chunk_scans,
        model=lambda wildcards: MODELS[wildcards.model],
        encode=_ENCODE,
        resolution_mm=RES,
        code=code("encode.py"),
    log:
        "logs/{model}/encode/chunk-{chunk}.log",
    benchmark:
        "benchmarks/{model}/encode/chunk-{chunk}.tsv"
    threads: config["encode"]["threads"]
    priority: 1  # other jobs wait on it (see common.smk, "Scheduling")
    resources:
        gpu=gpu_request(config["encode"]["device"]),
        mem_mb={1: 6000, 2: 3000, 4: 2000}[RES],
        runtime=30,
    conda:
        "../../envs/latentcf.yaml"
    script:
        "../../scripts/encode.py"


rule summarise_reconstructions:
    input:
        cohort=f"{OUT}/cohort/cohort.tsv",
        chunks=chunk_dirs("val", "test"),
        images=preproc_t1w_for_split("val", "test"),
    output:
        table=f"{MODEL_DIR}/encode/reconstruction_metrics.tsv",
        figure=report(
            f"{MODEL_DIR}/encode/reconstructions.png",
            caption="../report/reconstructions.rst",
            category="Models",
            subcategory="{model}",
        ),
    params:
        scans=lambda wildcards: scans("val", "test"),
        splits=["val", "test"],
        model=lambda wildcards: MODELS[wildcards.model],
        resolution_mm=RES,
        figure_scans=config["encode"]["figure_scans"],
        code=code("encode_summary.py"),
    log:
        "logs/{model}/summarise_reconstructions.log",
    benchmark:
        "benchmarks/{model}/summarise_reconstructions.tsv",
    threads: 1
    priority: 1  # other jobs wait on it (see common.smk, "Scheduling")
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/latentcf.yaml"
    script:
        "../../scripts/encode_summary.py"
