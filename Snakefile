# latentcf: counterfactual 3D brain MRI in the latent space of a learned autoencoder.
#
#   snakemake --cores 2                       # the demo (config/config.yaml)
#   snakemake --cores 2 --configfile my.yaml  # your data (see config/README.md)
#
# Stages (one .smk each): demo -> ingest -> preprocess -> model (train, encode).


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/summary.smk"


rule all:
    default_target: True
    input:
        f"{OUT}/summary.md",
