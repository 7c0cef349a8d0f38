"""Plain-TSV input for non-BIDS users: one row per T1w scan.

Columns: `participant_id` ('001' or 'sub-001'), `path` (absolute, or relative to the TSV's
folder), optional `session_id` ('01', 'ses-01' or n/a), then the covariates. The scan is named
as if it were BIDS: sub-X/ses-Y/anat/sub-X_ses-Y.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from latentcf.cohort.records import ScanRecord, parse_id, select_participants
from latentcf.cohort.tsv import is_missing, read_tsv
from latentcf.cohort.validate import CovariateSpec
from latentcf.errors import InputDataError, did_you_mean

log = logging.getLogger(__name__)


def collect_table(
    table_path: str | Path,
    covariates: Sequence[CovariateSpec],
    participant_label: object = None,
) -> list[ScanRecord]:
    """Scan records (with the cells of their covariates) for the selected rows of a plain TSV.

    Raises :class:`InputDataError` for dataset-level problems: a missing column, a malformed
    participant/session id, duplicate participant/session rows; :class:`ConfigError` for an
    unknown participant_label.
    """
    path = Path(table_path)
    table = read_tsv(path, str(path), required=("participant_id", "path"))
    for spec in covariates:
        if spec.name not in table.columns:
            raise InputDataError(
                path,
                f"line 1: covariate column '{spec.name}' (config key 'covariates') is missing "
                f"(columns found: {table.columns}).{did_you_mean(spec.name, table.columns)}",
                f"Add a '{spec.name}' column, or remove '{spec.name}' from the config's covariates",
            )
    base = path.absolute().parent
    records: list[ScanRecord] = []
    seen: dict[tuple[str, str | None], int] = {}
    for line, row in table.rows:
        pid = parse_id(path, line, "participant_id", row["participant_id"], "sub")
        sid = None
        if "session_id" in table.columns and not is_missing(row["session_id"]):
            sid = parse_id(path, line, "session_id", row["session_id"], "ses")
        if (pid, sid) in seen:
            raise InputDataError(
                path,
                f"lines {seen[(pid, sid)]} and {line}, columns 'participant_id'/'session_id': "
                f"duplicate scan '{pid}'/'{sid or 'n/a'}'; expected one row per subject and session",
                "Merge or remove the duplicate rows",
            )
        seen[(pid, sid)] = line
        where = f"{path} line {line}, column 'path'"
        raw_path = row["path"]
        scan_path = Path(os.path.normpath(base / Path(raw_path).expanduser()))
        record = ScanRecord(pid, sid, scan_path, path_where=where)
        if is_missing(raw_path):
            record.check_path = False
            record.problems.append(f"{where}: missing value; expected the path of a T1w NIfTI file")
        for spec in covariates:
            record.cells[spec.name] = table.cell(line, row, spec.name)
        records.append(record)
    if not records:
        raise InputDataError(path, "the table has no data rows; expected one row per T1w scan")
    selected = select_participants(
        [r.participant_id for r in records], participant_label, str(path)
    )
    if selected is not None:
        records = [r for r in records if r.participant_id in selected]
    log.info(
        "table %s: %d scans of %d subjects selected",
        path,
        len(records),
        len({r.participant_id for r in records}),
    )
    return records
