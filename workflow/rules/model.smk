# Model family vqvae: train the 3D VQ-VAE, encode every scan, summarise reconstructions.
# Outputs live under {OUT}/vqvae/ (a BIDS-derivatives root). Checkpoints in
# {OUT}/vqvae/model/checkpoints/ are deliberately NOT outputs: Snakemake must not delete them
# when a training job fails, so that rerunning resumes from the newest matching one.

VQVAE = f"{OUT}/vqvae"
VQVAE_TRAIN_MEM_MB = {1: 24000, 2: 6000, 4: 2000}


rule train_vqvae:
    input:
        cohort=f"{OUT}/cohort/cohort.tsv",
        train_images=preproc_t1w_for_split("train"),
        val_images=preproc_t1w_for_split("val"),
        val_masks=preproc_mask_for_split("val"),
    output:
        model=f"{VQVAE}/model/model.pt",
        table=f"{VQVAE}/model/training.tsv",
        description=f"{VQVAE}/dataset_description.json",
        plot=report(
            f"{VQVAE}/model/training.png",
            caption="../report/training.rst",
            category="Model",
        ),
    params:
        family="vqvae",
        model=config["model"]["vqvae"],
        train=config["train"],
        seed=config["seed"],
        checkpoint_dir=f"{VQVAE}/model/checkpoints",
    log:
        "logs/train_vqvae.log",
    benchmark:
        "benchmarks/train_vqvae.tsv"
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=VQVAE_TRAIN_MEM_MB[RES],
        runtime=vqvae_train_runtime,
    conda:
        "../../envs/latentcf.yaml"
    script:
        "../../scripts/train_vqvae.py"


rule encode_vqvae:
    input:
        model=f"{VQVAE}/model/model.pt",
        image=preproc_t1w,
        mask=preproc_mask,
    output:
        latent=f"{VQVAE}/encode/{{scan}}_desc-vqvae_latent.npy",
        recon=f"{VQVAE}/encode/{{scan}}_space-{TEMPLATE_ID}_res-{RES}_desc-vqvaerecon_T1w.nii.gz",
        metrics=f"{VQVAE}/encode/{{scan}}_desc-vqvae_metrics.tsv",
    params:
        family="vqvae",
        model=config["model"]["vqvae"],
        encode=config["encode"],
    log:
        "logs/encode_vqvae/{scan}.log",
    benchmark:
        "benchmarks/encode_vqvae/{scan}.tsv"
    threads: 1
    resources:
        mem_mb={1: 6000, 2: 2000, 4: 1000}[RES],
        runtime=15,
    conda:
        "../../envs/latentcf.yaml"
    script:
        "../../scripts/encode_vqvae.py"


rule summarise_reconstructions:
    input:
        cohort=f"{OUT}/cohort/cohort.tsv",
        metrics=vqvae_heldout("metrics"),
        recons=vqvae_heldout("recon"),
        images=preproc_t1w_for_split("val", "test"),
    output:
        table=f"{VQVAE}/encode/reconstruction_metrics.tsv",
        figure=report(
            f"{VQVAE}/encode/reconstructions.png",
            caption="../report/reconstructions.rst",
            category="Model",
        ),
    params:
        figure_scans=config["encode"]["figure_scans"],
    log:
        "logs/summarise_reconstructions.log",
    conda:
        "../../envs/latentcf.yaml"
    script:
        "../../scripts/encode_summary.py"
