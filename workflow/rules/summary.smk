# What was built: one Markdown page listing every stage's outputs, written last.


def summary_inputs(wildcards):
    """Every final output of the enabled stages (expands once the cohort table exists)."""
    targets = {"cohort": f"{OUT}/cohort/cohort.tsv"}
    if config["demo"]["enabled"]:
        targets["demo_figure"] = f"{OUT}/demo/truth_volumes_vs_age.png"
    targets["preprocessed"] = [preproc_path(s) for s in scans()]
    targets["preprocess_qc"] = [PREPROC_QC_TABLE, PREPROC_QC_MOSAIC]
    targets["vqvae_model"] = rules.train_vqvae.output.model
    targets["vqvae_latents"] = expand(rules.encode_vqvae.output.latent, scan=scans())
    targets["vqvae_reconstructions"] = list(rules.summarise_reconstructions.output)
    return targets


rule summary:
    input:
        unpack(summary_inputs),
    output:
        f"{OUT}/summary.md",
    params:
        output_dir=OUT,
    log:
        "logs/summary.log",
    script:
        "../../scripts/write_summary.py"
