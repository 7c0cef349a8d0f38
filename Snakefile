# latentcf: counterfactual 3D brain MRI in the latent space of a learned autoencoder.
#
#   snakemake --cores 2                       # the demo (config/config.yaml)
#   snakemake --cores 2 --configfile my.yaml  # your data (see config/README.md)
#
# Stages (one .smk each): demo -> ingest -> preprocess -> model (train, encode) -> scm (fit_scm)
# -> counterfactual, forecast -> evaluate (segment, measure, evaluate); sample (families with a
# prior: draw from it, segment the samples, realism against held-out scans).
# A --configfile replaces the demo config (it is not merged into it); unset keys take the
# schema defaults, so a user's config never inherits `demo.enabled: true` by accident.
import os

if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config", "config.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/scm.smk"
include: "workflow/rules/counterfactual.smk"
include: "workflow/rules/forecast.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/summary.smk"


rule all:
    default_target: True
    input:
        f"{OUT}/summary.md",
        # samples from the prior of every model whose family has one (also in the summary)
        [path for paths in sample_targets().values() for path in paths],


onerror:
    # One line per failed scan (input file, log, error) and how to go on (see common.smk).
    report_failed_scans()
