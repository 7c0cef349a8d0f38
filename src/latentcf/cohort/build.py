"""Ingest: input dataset (BIDS folder or plain TSV) -> validated cohort table + exclusions.

Policy. Per-scan problems (missing covariate value or row, unseen category, non-numeric or
out-of-range value, missing file, unreadable or non-3D NIfTI, misnamed T1w file) exclude that
scan: it is logged and listed in excluded.tsv with the messages, and healthy scans go on —
unless `strict` is true, then ingest fails listing every problem. Dataset-level problems always
fail: duplicate subject/session rows, a covariate column found in no table, an unknown
participant_label, an empty cohort after exclusion, fewer subjects than the split needs.
On failure nothing is written.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from latentcf.cohort.bids import collect_bids
from latentcf.cohort.output import BASE_COLUMNS, EXCLUDED_COLUMNS, write_cohort
from latentcf.cohort.records import NO_SESSION, Excluded, ScanRecord, bullets
from latentcf.cohort.split import SplitError, assign_splits
from latentcf.cohort.table import collect_table
from latentcf.cohort.validate import CovariateSpec, check_image, check_value, parse_covariates
from latentcf.errors import ConfigError, InputDataError, LatentCFError

log = logging.getLogger(__name__)

MULTIPLE_T1W = ("lowest_run", "error")
MAX_LISTED = 20


class IngestError(LatentCFError):
    """Ingest failed; the message lists every problem found."""


@dataclass
class Cohort:
    """The result of ingest.

    `table`: one row per scan, columns BASE_COLUMNS then the covariates in config order
    (numeric as float, categorical as str). `excluded`: EXCLUDED_COLUMNS.
    """

    table: pd.DataFrame
    excluded: pd.DataFrame


def build_cohort(
    source: str | Path,
    covariates: Mapping[str, Mapping[str, Any]],
    split: Mapping[str, float],
    participant_label: object = None,
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
) -> Cohort:
    """Read `source` (a BIDS folder, or a TSV file with a path column) into a validated cohort.

    `covariates`, `split`, `participant_label`, `seed` are the config keys of the same names;
    `options` is the config's `ingest` section ({strict, multiple_t1w}).
    Raises :class:`LatentCFError` subclasses with messages naming file, line, column, value
    and what was expected.
    """
    options = dict(options or {})
    strict = bool(options.get("strict", False))
    multiple = options.get("multiple_t1w", "lowest_run")
    if multiple not in MULTIPLE_T1W:
        raise ConfigError(
            "ingest.multiple_t1w", f"got {multiple!r}; expected one of {list(MULTIPLE_T1W)}"
        )
    specs = parse_covariates(covariates)
    source = Path(source)
    records, excluded = _collect(source, specs, participant_label, multiple)

    rows = []
    for record in records:
        row, problems = _validate_record(record, specs)
        if problems:
            excluded.append(
                Excluded(record.participant_id, record.session_id, record.path, "; ".join(problems))
            )
        else:
            rows.append(row)
    problems = [e for e in excluded if e.is_problem]
    for item in excluded:
        log.warning("excluded %s: %s", item.path, item.reason)
    if strict and problems:
        raise IngestError(
            bullets(
                f"{source}: {len(problems)} scan(s) with problems (ingest.strict: true)",
                [e.reason for e in problems],
                MAX_LISTED,
            )
            + "\nFix these values or files, or set ingest.strict: false to leave these scans out "
            "(listed in excluded.tsv)"
        )
    if not rows:
        raise IngestError(
            bullets(
                f"{source}: no usable scan left after exclusions; expected at least one",
                [e.reason for e in excluded],
                MAX_LISTED,
            )
        )
    table = pd.DataFrame(rows, columns=BASE_COLUMNS + [s.name for s in specs])
    try:
        splits = assign_splits(
            table["participant_id"],
            seed,
            float(split.get("val_fraction", 0.15)),
            float(split.get("test_fraction", 0.15)),
        )
    except SplitError as exc:
        raise IngestError(f"{source}: {exc}") from None
    table["split"] = table["participant_id"].map(splits)
    table = table.sort_values("scan", kind="stable").reset_index(drop=True)
    log.info(
        "cohort: %d scans of %d subjects (%s); %d excluded",
        len(table),
        table["participant_id"].nunique(),
        ", ".join(f"{k}: {v} subjects" for k, v in _subject_counts(table).items()),
        len(excluded),
    )
    return Cohort(table, _excluded_frame(excluded))


def _collect(
    source: Path, specs: Sequence[CovariateSpec], participant_label: object, multiple: str
) -> tuple[list[ScanRecord], list[Excluded]]:
    """Scan records and listing-time exclusions from a BIDS folder or a plain TSV."""
    if source.is_dir():
        return collect_bids(source, specs, participant_label, multiple)
    if source.is_file():
        return collect_table(source, specs, participant_label), []
    raise InputDataError(
        source,
        "input not found; expected a BIDS folder or a TSV file",
        "Check config keys input.bids_dir / input.table",
    )


def _excluded_frame(excluded: Sequence[Excluded]) -> pd.DataFrame:
    ordered = sorted(excluded, key=lambda e: (e.participant_id, e.session_id or "", str(e.path)))
    return pd.DataFrame(
        [(e.participant_id, e.session_id or NO_SESSION, str(e.path), e.reason) for e in ordered],
        columns=EXCLUDED_COLUMNS,
    )


def _validate_record(record: ScanRecord, specs: Sequence[CovariateSpec]) -> tuple[dict, list[str]]:
    problems = list(record.problems)
    row: dict[str, Any] = {
        "scan": record.scan,
        "participant_id": record.participant_id,
        "session_id": record.session_id or NO_SESSION,
        "path": str(record.path),
        "split": "",
    }
    for spec in specs:
        cell = record.cells.get(spec.name)
        if cell is None:
            continue  # its absence is already in record.problems
        value, problem = check_value(spec, cell)
        if problem:
            problems.append(problem)
        row[spec.name] = value
    if record.check_path:
        image_problem = check_image(record.path, record.path_where)
        if image_problem:
            problems.append(image_problem)
    return row, problems


def _subject_counts(table: pd.DataFrame) -> dict[str, int]:
    counts = table.drop_duplicates("participant_id")["split"].value_counts()
    return {name: int(counts.get(name, 0)) for name in ("train", "val", "test")}


def run_ingest(
    source: str | Path,
    cohort_tsv: str | Path,
    excluded_tsv: str | Path,
    covariates: Mapping[str, Mapping[str, Any]],
    split: Mapping[str, float],
    participant_label: object = None,
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
) -> Cohort:
    """Build the cohort (see :func:`build_cohort`) and write it; nothing is written on failure.

    A `source` that is a BIDS `dataset_description.json` stands for its folder.
    """
    source = Path(source)
    if source.name == "dataset_description.json":
        source = source.parent
    cohort = build_cohort(source, covariates, split, participant_label, seed, options)
    write_cohort(cohort, cohort_tsv, excluded_tsv)
    return cohort
