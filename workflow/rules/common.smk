# Shared by every stage: config validation, the cohort table (from the ingest checkpoint)
# and the input functions that turn it into per-scan file lists.

import functools
import sys
from pathlib import Path

from latentcf.cohort import read_cohort
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
    return read_cohort(path, config["covariates"])


def cohort_table():
    """The cohort table written by the ingest checkpoint (call only inside input functions)."""
    path = checkpoints.ingest.get().output.cohort
    return _read_cohort(path, Path(path).stat().st_mtime)


def scans(*splits):
    """Scan stems (the {scan} wildcard) of the given splits; all scans when none is given."""
    table = cohort_table()
    if splits:
        table = table[table["split"].isin(splits)]
    return list(table["scan"])


def scan_input_t1w(wildcards):
    """Raw T1w path of `wildcards.scan`."""
    table = cohort_table().set_index("scan")
    return table.loc[wildcards.scan, "path"]


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
