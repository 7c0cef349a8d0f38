"""Ingest: a BIDS dataset (or a plain TSV) -> one validated cohort table, split by subject.

Public API: :func:`run_ingest` (build + write), :func:`build_cohort`, :func:`write_cohort`,
:func:`read_cohort`, :func:`assign_splits`, :func:`scan_stem`.
"""

from latentcf.cohort.build import (
    BASE_COLUMNS,
    EXCLUDED_COLUMNS,
    Cohort,
    IngestError,
    build_cohort,
    read_cohort,
    run_ingest,
    write_cohort,
)
from latentcf.cohort.records import scan_stem
from latentcf.cohort.split import SplitError, assign_splits, subject_uniform

__all__ = [
    "BASE_COLUMNS",
    "EXCLUDED_COLUMNS",
    "Cohort",
    "IngestError",
    "SplitError",
    "assign_splits",
    "build_cohort",
    "read_cohort",
    "run_ingest",
    "scan_stem",
    "subject_uniform",
    "write_cohort",
]
