# Shared by every stage: config validation, the cohort table (from the ingest checkpoint)
# and the input functions that turn it into per-scan file lists.

import functools
import os
import re
import sys
from pathlib import Path

from latentcf import derivatives
from latentcf.chunks import chunk_members
from latentcf.cohort import ingest_inputs, read_cohort
from latentcf.cohort.failures import FailedScanJob, failed_scans_message
from latentcf.config import (
    ConfigValidationError,
    model_train_config,
    stage_models,
    validate_config,
)
from latentcf.hardware import gpu_request
from latentcf.models.settings import FAMILIES_WITH_PRIOR, model_input_files
from latentcf.provenance import code_version
from latentcf.templates import TEMPLATE_ID
from snakemake.logging import logger
from snakemake.utils import min_version


min_version("9.0")

try:
    validate_config(config, Path(workflow.current_basedir).parent / "schemas")
except ConfigValidationError as exc:
    sys.exit(f"latentcf: {exc}\nSee config/README.md for every key and its allowed values.")

OUT = config["output_dir"]

# Scheduling (each rule's `priority`): Snakemake starts the ready jobs of highest priority first.
# Training (2) takes longest and every model stage waits on it; the jobs other jobs wait on (1)
# come next; the leaves (evaluate, figures, summaries: 0) fill the gaps. Without this, on 2 cores
# one model's chain could wait behind other models' leaves and end the run alone.
RES = config["preprocess"]["resolution_mm"]
MODELS = config["models"]


def models_pattern(names):
    """A {model} wildcard constraint matching exactly `names` ((?!) matches nothing when none)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


wildcard_constraints:
    scan=r"sub-[^/]+/(ses-[^/]+/)?anat/sub-[^/_]+(_ses-[^/_]+)?",
    model=models_pattern(MODELS),
    chunk=r"\d+",


SCRIPTS = Path(workflow.current_basedir).parents[1] / "scripts"


# Which models run the counterfactual and forecast stages (counterfactual.models,
# forecast.models; null = every model); the latent SCM is fitted for the models of either.
CF_MODELS = stage_models(config, "counterfactual")
FORECAST_MODELS = stage_models(config, "forecast")
SCM_MODELS = [name for name in MODELS if name in CF_MODELS or name in FORECAST_MODELS]


def code(script):
    """Hash of the package code `scripts/<script>` runs (a `code` param: upgrades rerun stages)."""
    return code_version(SCRIPTS / script)


# ---------------------------------------------------------------- input data


def ingest_input(wildcards=None):
    """The dataset ingest reads: the demo's BIDS folder, input.bids_dir or input.table."""
    if config["demo"]["enabled"]:
        return f"{OUT}/demo/bids"
    return config["input"]["bids_dir"] or config["input"]["table"]


@functools.lru_cache(maxsize=4)
def _read_cohort(path, mtime):
    table = read_cohort(path, config["covariates"])
    chunks = chunk_members(table["scan"], table["participant_id"], config["chunks"])
    return table, dict(zip(table["scan"], table["path"])), chunks


def ingest_covariates():
    """The covariate specs ingest checks values against (the causal graph is not its business:
    editing parents must not rerun ingest)."""
    return {
        name: {k: v for k, v in spec.items() if k not in ("parents", "reference")}
        for name, spec in config["covariates"].items()
    }


def _cohort():
    """(cohort table, {scan: raw T1w path}, {chunk: scans}) from the ingest checkpoint
    (input functions only)."""
    path = checkpoints.ingest.get().output.cohort
    return _read_cohort(path, Path(path).stat().st_mtime)


def scans(*splits):
    """Scan stems (the {scan} wildcard) of the given splits; all scans when none is given."""
    table = _cohort()[0]
    if splits:
        table = table[table["split"].isin(splits)]
    return list(table["scan"])


def scan_input_t1w(wildcards):
    """Raw T1w path of `wildcards.scan` (a dict lookup: called once per scan and rule)."""
    return scan_input_t1w_of(wildcards.scan)


def scan_input_t1w_of(scan):
    return _cohort()[1][scan]


def report_failed_scans():
    """The Snakefile's onerror: one line per failed per-scan job (scan, input file, log, error)
    and how to go on (latentcf.cohort.failures). Reads the jobs Snakemake's scheduler marked
    failed; never raises (the hook must not hide Snakemake's own error)."""
    try:
        failed = workflow.scheduler.failed
        path = f"{OUT}/cohort/cohort.tsv"
        raw = _read_cohort(path, Path(path).stat().st_mtime)[1] if os.path.exists(path) else {}
        jobs = [
            FailedScanJob(
                job.name,  # the rule's name
                job.wildcards["scan"],
                raw=raw.get(job.wildcards["scan"]),
                log=str(job.log[0]) if job.log else None,
            )
            for group in failed
            for job in getattr(group, "jobs", [group])
            if "scan" in job.wildcards.keys()
        ]
        message = failed_scans_message(jobs, config["input"], demo=config["demo"]["enabled"])
    except Exception as exc:  # a summary: never a second failure
        message = f"latentcf: could not list the failed scans ({type(exc).__name__}: {exc})"
    if message:
        logger.error(message)


# ---------------------------------------------------------------- preprocessed images


def preproc_path(scan, pattern=None):
    """Model-grid file of `scan` (PREPROC_T1W by default; patterns are in preprocess.smk)."""
    return (pattern or PREPROC_T1W).format(scan=scan, res=RES)


def preproc_t1w_for_split(*splits):
    """Input function: model-grid T1w of every scan in `splits`."""
    return lambda wildcards: [preproc_path(s) for s in scans(*splits)]


def preproc_mask_for_split(*splits):
    """Input function: model-grid brain masks of every scan in `splits`."""
    return lambda wildcards: [preproc_path(s, PREPROC_MASK) for s in scans(*splits)]


# ---------------------------------------------------------------- ingest


def ingest_tracked_files(wildcards):
    """What ingest reads from a user's BIDS folder (tables, T1w images and their folders), so that
    editing or adding any of them reruns ingest; from the cohort tables when they are current,
    without walking the tree (latentcf.cohort.tracking). The demo folder is a rule output instead."""
    if config["demo"]["enabled"] or not config["input"]["bids_dir"]:
        return []
    cohort = f"{OUT}/cohort"
    return ingest_inputs(
        config["input"]["bids_dir"],
        f"{cohort}/cohort.tsv",
        f"{cohort}/excluded.tsv",
        config["participant_label"],
    )


# ---------------------------------------------------------------- models (chunks of scans)


def chunks(*splits):
    """Chunk labels holding at least one scan of `splits` (all scans when none is given)."""
    wanted = set(scans(*splits))
    return [c for c, members in _cohort()[2].items() if wanted.intersection(members)]


def chunk_scans(wildcards):
    """Scans of chunk `wildcards.chunk`, in cohort order."""
    return _cohort()[2][wildcards.chunk]


def chunk_preproc(pattern):
    """Input function: model-grid files (PREPROC_T1W or PREPROC_MASK) of the chunk's scans."""
    return lambda wildcards: [preproc_path(s, pattern) for s in chunk_scans(wildcards)]


def chunk_dirs(*splits, stage="encode"):
    """Input function: a model's `stage` folders of the chunks that hold scans of `splits`."""
    return lambda wildcards: [f"{OUT}/{wildcards.model}/{stage}/chunk-{c}" for c in chunks(*splits)]


def chunk_of(scan):
    return next(c for c, members in _cohort()[2].items() if scan in members)


# ---------------------------------------------------------------- counterfactuals

CF_SPLITS = config["counterfactual"]["splits"]


def cf_chunk_scans(wildcards):
    """Scans of chunk `wildcards.chunk` in the counterfactual splits."""
    wanted = set(scans(*CF_SPLITS))
    return [s for s in chunk_scans(wildcards) if s in wanted]


def cf_native(pattern):
    """Input function: per-scan preprocessing files the native-space counterfactuals need."""
    if not config["counterfactual"]["native_space"]:
        return lambda wildcards: []
    return lambda wildcards: [pattern.format(scan=s) for s in cf_chunk_scans(wildcards)]


def cf_figure_scans(wildcards=None):
    """The scans of the counterfactual montage: the first held-out ones with counterfactuals."""
    pool = scans(*[s for s in ("val", "test") if s in CF_SPLITS]) or scans(*CF_SPLITS)
    return pool[: config["counterfactual"]["figure_scans"]]


# ---------------------------------------------------------------- forecasts

FORECAST_SPLITS = config["forecast"]["splits"]


TRAIN_MEM_MB = {1: 24000, 2: 6000, 4: 2000}
TRAIN_RUNTIME_MIN = {1: 1440, 2: 240, 4: 60}
TRAIN_SLURM_RESOURCES = ("nodes", "tasks", "mpi", "gres", "tasks_per_gpu")


def model_files(wildcards):
    """Files a model's settings name (perceptual network, template): replacing one retrains."""
    return model_input_files(MODELS[wildcards.model])


def train_runtime(wildcards):
    budget = model_train_config(config["train"], wildcards.model)["max_minutes"]
    return int(budget + 30) if budget else TRAIN_RUNTIME_MIN[RES]


def _train_layout(wildcards) -> tuple[int, int, int]:
    """(nodes, processes per node, GPUs per process: 0 or 1) of a model's training job."""
    train = model_train_config(config["train"], wildcards.model)
    distributed = train["distributed"]
    return distributed.get("nodes", 1), distributed["processes"], gpu_request(train["device"])


def train_gpus(wildcards):
    """GPUs of a training job on one node: one per process (train.distributed) on a GPU device.
    Several nodes: None (the per-node request is the SLURM `gres`, train_slurm)."""
    nodes, processes, gpus = _train_layout(wildcards)
    return gpus * processes if nodes == 1 else None


def train_slurm(wildcards) -> dict:
    """A training job's SLURM resources when it spans several nodes (train.distributed.nodes),
    as snakemake-executor-plugin-slurm reads them: `nodes` and `tasks` (one task per node), `mpi`
    (the plugin then runs the job on its first node without wrapping it in srun, and training
    starts srun itself: latentcf.train.slurm_nodes) and on GPUs `gres` gpu:P (P GPUs on each node;
    tasks_per_gpu 0 leaves out the plugin's --ntasks-per-gpu). One node: none of them (a
    callable that returns None leaves the resource out)."""
    nodes, processes, gpus = _train_layout(wildcards)
    if nodes == 1:
        return {}
    on_gpus = {"gres": f"gpu:{processes}", "tasks_per_gpu": 0} if gpus else {}
    return {"nodes": nodes, "tasks": nodes, "mpi": "srun", **on_gpus}


# ---------------------------------------------------------------- evaluation

EVALUATE_OUTPUTS = derivatives.EVALUATE_OUTPUTS
EVALUATE_REPORTED = {"volumes_vs_age", "effect_sizes", "ground_truth_figure", "tables_html"}


def measurement_scans(wildcards=None):
    """The demo scans of the measurement check: held-out first, then train."""
    ordered = scans("val", "test") + scans("train")
    return ordered[: config["evaluate"]["measurement_scans"]]


def evaluate_inputs(wildcards):
    """Everything the evaluate job of model `wildcards.model` reads: the counterfactual and
    forecast files only where the model runs those stages (CF_MODELS, FORECAST_MODELS)."""
    model = f"{OUT}/{wildcards.model}"
    inputs = {
        "cohort": f"{OUT}/cohort/cohort.tsv",
        "model": f"{model}/model/model.pt",
        "reconstruction": f"{model}/encode/reconstruction_metrics.tsv",
        "real_segments": [f"{OUT}/segment/chunk-{c}" for c in chunks()],
        "images": [preproc_path(s) for s in scans()],
        "masks": [preproc_path(s, PREPROC_MASK) for s in scans()],
    }
    if wildcards.model in FORECAST_MODELS:
        inputs["forecast_changes"] = f"{model}/evaluate/forecast_changes.tsv"
        inputs["forecast"] = f"{model}/forecast"
    if config["demo"]["enabled"]:
        inputs["truth"] = f"{OUT}/demo/truth_counterfactuals"
    if wildcards.model in CF_MODELS:
        inputs |= {
            "design": f"{model}/scm/design.json",
            "coefficients": f"{model}/scm/coefficients.npz",
            "model_segments": [f"{model}/segment/chunk-{c}" for c in chunks(*CF_SPLITS)],
            "counterfactuals": [f"{model}/counterfactual/chunk-{c}" for c in chunks(*CF_SPLITS)],
        }
        if config["demo"]["enabled"]:  # the counterfactuals against the true ones
            inputs["raw"] = [scan_input_t1w_of(s) for s in scans()]
            inputs["transforms"] = [PREPROC_XFM.format(scan=s) for s in scans()]
            inputs["measurement"] = f"{OUT}/evaluate/measurement_check.tsv"
    return inputs


# ---------------------------------------------------------------- samples from the prior

#: Models whose family has a prior: each gets the sample, segment_samples and sample_realism jobs.
SAMPLED_MODELS = [name for name, spec in MODELS.items() if spec["family"] in FAMILIES_WITH_PRIOR]
# The sample rules' {model} wildcard: one of SAMPLED_MODELS.
SAMPLED_MODELS_PATTERN = models_pattern(SAMPLED_MODELS)


def realism_scans(wildcards=None):
    """The real scans the samples are compared with: the held-out (val + test) ones, or every
    scan when fewer than two are held out (realism_reference says which)."""
    held_out = scans("val", "test")
    return held_out if len(held_out) >= 2 else scans()


def realism_reference(wildcards=None):
    """The label of realism_scans() in the realism tables."""
    return "held-out" if len(scans("val", "test")) >= 2 else "all (fewer than 2 held-out)"


def realism_chunks(wildcards=None):
    """Segment chunks holding the scans of realism_scans()."""
    wanted = set(realism_scans())
    return [c for c, members in _cohort()[2].items() if wanted.intersection(members)]


def realism_labels(wildcards=None):
    """{scan: 'sub-XX_ses-YY (split)'} of realism_scans(), the figure's titles."""
    table = _cohort()[0].set_index("scan")
    return {s: f"{Path(s).name} ({table.at[s, 'split']})" for s in realism_scans()}


def sample_targets(wildcards=None):
    """The final outputs of the sample rules, for every model of SAMPLED_MODELS."""
    return {
        f"{model}: samples from the prior": [
            f"{OUT}/{model}/sample/images",
            f"{OUT}/{model}/sample/{derivatives.SAMPLE_JACOBIANS}",
        ]
        + [f"{OUT}/{model}/sample/{f}" for f in derivatives.SAMPLE_REALISM_OUTPUTS.values()]
        for model in SAMPLED_MODELS
    }


# ---------------------------------------------------------------- summary


def summary_inputs(wildcards):
    """Every final output of the enabled stages (expands once the cohort table exists)."""
    targets = {"cohort": f"{OUT}/cohort/cohort.tsv"}
    if config["demo"]["enabled"]:
        targets["demo_figure"] = f"{OUT}/demo/truth_volumes_vs_age.png"
        targets["demo_truth_counterfactuals"] = f"{OUT}/demo/truth_counterfactuals"
    targets["preprocessed"] = [preproc_path(s) for s in scans()]
    targets["preprocess_qc"] = [PREPROC_QC_TABLE, PREPROC_QC_MOSAIC]
    for model in MODELS:
        targets[f"{model}: model"] = expand(rules.train.output.model, model=model)
        targets[f"{model}: latents (chunks)"] = expand(
            rules.encode.output.chunk, model=model, chunk=chunks()
        )
        targets[f"{model}: reconstructions"] = expand(
            list(rules.summarise_reconstructions.output), model=model
        )
        if model in SCM_MODELS:
            targets[f"{model}: latent SCM"] = expand(list(rules.fit_scm.output), model=model)
        if model in CF_MODELS:
            targets[f"{model}: counterfactuals (chunks)"] = expand(
                rules.counterfactual.output.chunk, model=model, chunk=chunks(*CF_SPLITS)
            )
            targets[f"{model}: counterfactual montage"] = expand(
                rules.plot_counterfactuals.output, model=model
            )
        if model in FORECAST_MODELS:
            targets[f"{model}: forecasts"] = expand(rules.forecast.output.folder, model=model)
        targets[f"{model}: evaluation"] = expand(list(rules.evaluate.output), model=model)
    targets.update(sample_targets())
    return targets
