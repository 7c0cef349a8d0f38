# Shared by every stage: config validation, the cohort table (from the ingest checkpoint)
# and the input functions that turn it into per-scan file lists.

import functools
import os
import sys
from pathlib import Path

from latentcf.cohort import read_cohort
from latentcf.cohort.bids import bids_tracked_files
from latentcf.config import ConfigValidationError, validate_config
from latentcf.templates import TEMPLATE_ID
from snakemake.utils import min_version


min_version("9.0")

try:
    validate_config(config, Path(workflow.current_basedir).parent / "schemas")
except ConfigValidationError as exc:
    sys.exit(f"latentcf: {exc}\nSee config/README.md for every key and its allowed values.")

OUT = config["output_dir"]
RES = config["preprocess"]["resolution_mm"]
FAMILY = config["model"]["family"]


wildcard_constraints:
    scan=r"sub-[^/]+/(ses-[^/]+/)?anat/sub-[^/_]+(_ses-[^/_]+)?",


# ---------------------------------------------------------------- input data


def ingest_input(wildcards=None):
    """The dataset ingest reads: the demo's BIDS folder, input.bids_dir or input.table."""
    if config["demo"]["enabled"]:
        return f"{OUT}/demo/bids"
    return config["input"]["bids_dir"] or config["input"]["table"]


@functools.lru_cache(maxsize=4)
def _read_cohort(path, mtime):
    table = read_cohort(path, config["covariates"])
    return table, dict(zip(table["scan"], table["path"]))


def _cohort():
    """(cohort table, {scan: raw T1w path}) from the ingest checkpoint (input functions only)."""
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
    return _cohort()[1][wildcards.scan]


# ---------------------------------------------------------------- preprocessed images


def preproc_path(scan, pattern=None):
    """Model-grid file of `scan` (PREPROC_T1W by default; patterns are in preprocess.smk)."""
    return (pattern or PREPROC_T1W).format(scan=scan, res=RES)


def preproc_t1w(wildcards):
    return preproc_path(wildcards.scan)


def preproc_mask(wildcards):
    return preproc_path(wildcards.scan, PREPROC_MASK)


def preproc_t1w_for_split(*splits):
    """Input function: model-grid T1w of every scan in `splits`."""
    return lambda wildcards: [preproc_path(s) for s in scans(*splits)]


def preproc_mask_for_split(*splits):
    """Input function: model-grid brain masks of every scan in `splits`."""
    return lambda wildcards: [preproc_path(s, PREPROC_MASK) for s in scans(*splits)]


# ---------------------------------------------------------------- ingest


def ingest_tracked_files(wildcards):
    """participants.tsv, sessions tables and T1w images of a user's BIDS folder, so that
    editing or adding any of them reruns ingest (the demo folder is a rule output instead)."""
    if config["demo"]["enabled"] or not config["input"]["bids_dir"]:
        return []
    return bids_tracked_files(config["input"]["bids_dir"])


# ---------------------------------------------------------------- model family vqvae

VQVAE_TRAIN_RUNTIME_MIN = {1: 1440, 2: 240, 4: 60}


def vqvae_train_runtime(wildcards):
    budget = config["train"]["max_minutes"]
    return int(budget + 30) if budget else VQVAE_TRAIN_RUNTIME_MIN[RES]


def vqvae_heldout(kind):
    """Input function: per-scan encode outputs (metrics / recon) of the val and test scans."""
    names = {
        "metrics": "desc-vqvae_metrics.tsv",
        "recon": f"space-{TEMPLATE_ID}_res-{RES}_desc-vqvaerecon_T1w.nii.gz",
    }
    return lambda wildcards: [f"{VQVAE}/encode/{s}_{names[kind]}" for s in scans("val", "test")]


# ---------------------------------------------------------------- summary


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
