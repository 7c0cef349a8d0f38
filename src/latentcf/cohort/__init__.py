"""Ingest: a BIDS dataset (or a plain TSV) -> one validated cohort table, split by subject.

Public API: :func:`run_ingest` (build + write), :func:`build_cohort`, :func:`write_cohort`,
:func:`read_cohort` (checked against cohort.schema.yaml), :func:`read_excluded`,
:func:`assign_splits`, :func:`scan_stem`; for the workflow,
:func:`latentcf.cohort.tracking.ingest_inputs` (what the ingest checkpoint depends on).
Importing this package does not import pybids (only ingest itself parses file names).
"""

from latentcf.cohort.build import Cohort, IngestError, build_cohort, run_ingest
from latentcf.cohort.output import (
    BASE_COLUMNS,
    EXCLUDED_COLUMNS,
    read_cohort,
    read_excluded,
    write_cohort,
)
from latentcf.cohort.records import scan_stem
from latentcf.cohort.split import SplitError, assign_splits, subject_uniform
from latentcf.cohort.tracking import ingest_inputs

__all__ = [
    "BASE_COLUMNS",
    "EXCLUDED_COLUMNS",
    "Cohort",
    "IngestError",
    "SplitError",
    "assign_splits",
    "build_cohort",
    "ingest_inputs",
    "read_cohort",
    "read_excluded",
    "run_ingest",
    "scan_stem",
    "subject_uniform",
    "write_cohort",
]
