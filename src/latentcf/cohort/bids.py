"""Finding T1w scans in a BIDS dataset and the table cells holding their covariates.

Scans: `sub-<l>/[ses-<l>/]anat/sub-<l>[_ses-<l>][_<key>-<value>...]_T1w.nii[.gz]`. Anything
else (other suffixes, sidecars, derivatives/, sourcedata/, code/, hidden files) is ignored.
The entities of a file name (subject, session, run) are read by pybids with the standard BIDS
config; the whole-name grammar is checked here, since pybids' parser does not check it.
Covariates come from `participants.tsv` (one row per participant_id), the per-subject
`sub-<l>/sub-<l>_sessions.tsv` (one row per session_id) and the per-session
`sub-<l>/[ses-<l>/]sub-<l>[_ses-<l>]_scans.tsv` (one row per file, `filename` relative to
that folder, e.g. `anat/sub-01_ses-01_T1w.nii.gz`). The most specific table wins: a
covariate is read from the scans table when it has the column and a row for the file, else
from the sessions table when it has the column (scans with a session only), else from
participants.tsv.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latentcf.cohort.records import (
    LABEL,
    Excluded,
    ScanRecord,
    is_entity_name,
    parse_id,
    select_participants,
)
from latentcf.cohort.tsv import Table, read_tsv
from latentcf.cohort.validate import CovariateSpec
from latentcf.errors import InputDataError, did_you_mean

log = logging.getLogger(__name__)

T1W_SUFFIXES = ("_T1w.nii", "_T1w.nii.gz")
# The whole-name grammar, which pybids does not check (its parser searches for each entity
# anywhere in the name): sub first, then an optional ses, then other key-value entities with
# letters-and-digits values (run: digits only), then _T1w. pybids then reads the entities.
T1W_NAME_RE = re.compile(
    rf"^sub-{LABEL}(?:_ses-{LABEL})?"
    rf"(?:_(?:run-[0-9]+|(?!(?:sub|ses|run)-){LABEL}-{LABEL}))*_T1w\.nii(?:\.gz)?$"
)
T1W_GRAMMAR = "sub-<label>[_ses-<label>][_<key>-<value>...]_T1w.nii[.gz] (run-<index>: digits)"


@dataclass(frozen=True)
class T1wFile:
    """A T1w image found on disk, with the subject/session of the folder it sits in."""

    participant_id: str
    session_id: str | None
    path: Path
    run: int = 0

    @property
    def sort_key(self) -> tuple[int, str]:
        return (self.run, self.path.name)


def list_t1w(bids_dir: Path) -> list[T1wFile]:
    """Every file named like a T1w image under sub-*/[ses-*/]anat/ of `bids_dir`, sorted.

    Only lists folders (no file-name parsing): what ingest reads and Snakemake must track.
    `run` is left at 0; :func:`find_t1w` parses the names.
    """
    found: list[T1wFile] = []
    for sub_dir in sorted(bids_dir.iterdir()):
        if not (is_entity_name(sub_dir.name, "sub") and sub_dir.is_dir()):
            continue
        anat_dirs: list[tuple[str | None, Path]] = [(None, sub_dir / "anat")]
        for ses_dir in sorted(sub_dir.iterdir()):
            if is_entity_name(ses_dir.name, "ses") and ses_dir.is_dir():
                anat_dirs.append((ses_dir.name, ses_dir / "anat"))
        for session_id, anat in anat_dirs:
            if not anat.is_dir():
                continue
            for path in sorted(anat.iterdir()):
                if not path.name.startswith(".") and path.name.endswith(T1W_SUFFIXES):
                    found.append(T1wFile(sub_dir.name, session_id, path.absolute()))
    return found


def find_t1w(bids_dir: Path) -> tuple[list[T1wFile], list[Excluded]]:
    """All T1w images under `bids_dir`, in a stable order, plus misnamed ones as exclusions.

    A T1w whose name breaks the BIDS grammar, or whose file-name subject/session does not
    match its folders, is excluded.
    """
    found: list[T1wFile] = []
    excluded: list[Excluded] = []
    for item in list_t1w(bids_dir):
        parsed = _parse_t1w(bids_dir, item)
        (excluded if isinstance(parsed, Excluded) else found).append(parsed)
    return found, excluded


@functools.cache
def _bids_entities() -> tuple[Any, ...]:
    """pybids' subject, session and run entities (standard BIDS config), loaded once."""
    from bids.layout import Config  # lazy: pybids takes ~0.25 s to import

    entities = Config.load("bids").entities
    return tuple(entities[name] for name in ("subject", "session", "run"))


def file_entities(name: str) -> dict[str, Any]:
    """{'subject': ..., 'session': ..., 'run': ...} (those present) of a BIDS file name, by pybids."""
    from bids.layout import parse_file_entities

    # The leading "/" anchors pybids' subject pattern, which expects a path.
    return parse_file_entities("/" + name, entities=list(_bids_entities()))


def _parse_t1w(root: Path, item: T1wFile) -> T1wFile | Excluded:
    """`item` with its run number, or an exclusion saying how its name is wrong."""
    participant_id, session_id, path = item.participant_id, item.session_id, item.path
    if not T1W_NAME_RE.match(path.name):
        problem = f"file name does not follow {T1W_GRAMMAR}"
    else:
        entities = file_entities(path.name)
        session = entities.get("session")
        if f"sub-{entities['subject']}" == participant_id and session_id == (
            f"ses-{session}" if session else None
        ):
            return T1wFile(participant_id, session_id, path, int(entities.get("run", 0)))
        expected = participant_id + (f"_{session_id}" if session_id else "")
        problem = (
            "file name's subject/session does not match its folder; "
            f"expected it to start with '{expected}_'"
        )
    rel = path.relative_to(root.absolute())
    return Excluded(participant_id, session_id, path, f"{rel}: {problem}")


def pick_one_per_session(
    files: list[T1wFile], multiple: str
) -> tuple[list[T1wFile], list[Excluded]]:
    """Keep one T1w per subject/session (`multiple` = "lowest_run"), or fail (`"error"`).

    lowest_run: the lowest run number wins (no run entity = 0); ties by file name. The others
    are returned as exclusions that name the kept file.
    """
    groups: dict[tuple[str, str | None], list[T1wFile]] = defaultdict(list)
    for item in files:
        groups[(item.participant_id, item.session_id)].append(item)
    kept, dropped = [], []
    for key in sorted(groups, key=lambda k: (k[0], k[1] or "")):
        group = sorted(groups[key], key=lambda f: f.sort_key)
        kept.append(group[0])
        if len(group) == 1:
            continue
        names = [f.path.name for f in group]
        if multiple == "error":
            raise InputDataError(
                group[0].path.parent,
                f"{len(group)} T1w images for {key[0]}"
                + (f"/{key[1]}" if key[1] else "")
                + f" ({names}); expected one (ingest.multiple_t1w: error)",
                "Remove the extra images or set ingest.multiple_t1w: lowest_run",
            )
        for other in group[1:]:
            reason = (
                f"not used: another T1w of this subject/session was kept ({names[0]}, lowest run)"
            )
            dropped.append(
                Excluded(other.participant_id, other.session_id, other.path, reason, False)
            )
    return kept, dropped


def collect_bids(
    bids_dir: str | Path,
    covariates: Sequence[CovariateSpec],
    participant_label: object = None,
    multiple_t1w: str = "lowest_run",
) -> tuple[list[ScanRecord], list[Excluded]]:
    """Scan records (with the cells of their covariates) for the selected subjects of a BIDS dataset.

    Returns (records, exclusions found while listing files). Raises :class:`InputDataError`
    for dataset-level problems: no T1w at all, duplicate participant/session rows, a covariate
    column present in no table; :class:`ConfigError` for an unknown participant_label.
    """
    root = Path(bids_dir).absolute()
    if not root.is_dir():
        raise InputDataError(root, "BIDS folder not found", "Check config key input.bids_dir")
    files, excluded = find_t1w(root)
    subjects = sorted({f.participant_id for f in files} | {e.participant_id for e in excluded})
    if not subjects:
        raise InputDataError(
            root,
            "no T1w images found; expected files like sub-<label>/[ses-<label>/]anat/sub-<label>_T1w.nii.gz",
            "Point input.bids_dir at the dataset root (the folder holding participants.tsv)",
        )
    selected = select_participants(subjects, participant_label, str(root))
    if selected is not None:
        files = [f for f in files if f.participant_id in selected]
        excluded = [e for e in excluded if e.participant_id in selected]
    files, dropped = pick_one_per_session(files, multiple_t1w)
    excluded += dropped

    participants = _read_participants(root)
    sessions: dict[str, Table] = {}
    for pid in sorted({f.participant_id for f in files if f.session_id}):
        table = _read_sessions(root, pid)
        if table is not None:
            sessions[pid] = table
    scans_tables = _read_scans_tables(files)
    _check_columns_exist(root, covariates, participants, sessions, scans_tables)

    participant_rows = _index(participants, "participant_id", "sub") if participants else {}
    session_rows = {pid: _index(t, "session_id", "ses") for pid, t in sessions.items()}
    scans_rows = {folder: _index_filenames(t) for folder, t in scans_tables.items()}
    records = []
    for item in files:
        record = ScanRecord(item.participant_id, item.session_id, item.path)
        folder = item.path.parent.parent
        scans_table = scans_tables.get(folder)
        hit = (
            scans_rows[folder].get(item.path.relative_to(folder).as_posix())
            if scans_table
            else None
        )
        for spec in covariates:
            if hit is not None and spec.name in scans_table.columns:
                record.cells[spec.name] = scans_table.cell(hit[0], hit[1], spec.name)
            else:
                _attach_cell(
                    record, spec.name, participants, participant_rows, sessions, session_rows
                )
        records.append(record)
    log.info(
        "BIDS %s: %d T1w scans of %d subjects selected, %d files left out while listing",
        root,
        len(records),
        len({r.participant_id for r in records}),
        len(excluded),
    )
    return records, excluded


def _read_participants(root: Path) -> Table | None:
    path = root / "participants.tsv"
    if not path.is_file():
        log.warning("%s not found: covariates must come from sessions tables", path)
        return None
    return read_tsv(path, "participants.tsv", required=("participant_id",))


def _read_sessions(root: Path, participant_id: str) -> Table | None:
    path = root / participant_id / f"{participant_id}_sessions.tsv"
    if not path.is_file():
        return None
    return read_tsv(path, f"{participant_id}/{path.name}", required=("session_id",))


def _scans_table_path(t1w: Path, participant_id: str, session_id: str | None) -> Path:
    """The BIDS scans table that lists `t1w` (.../sub-<l>/[ses-<l>/]anat/<file>)."""
    stem = f"{participant_id}_{session_id}" if session_id else participant_id
    return t1w.parent.parent / f"{stem}_scans.tsv"


def _read_scans_tables(files: Sequence[T1wFile]) -> dict[Path, Table]:
    """{session (or subject) folder: its scans table} for the folders of `files` that have one."""
    tables: dict[Path, Table] = {}
    for item in files:
        path = _scans_table_path(item.path, item.participant_id, item.session_id)
        if path.parent not in tables and path.is_file():
            name = path.relative_to(path.parents[2 if item.session_id else 1]).as_posix()
            tables[path.parent] = read_tsv(path, name, required=("filename",))
    return tables


def _index_filenames(table: Table) -> dict[str, tuple[int, dict[str, str]]]:
    """Rows of a scans table by `filename` (relative to its folder, '/'-separated)."""
    rows: dict[str, tuple[int, dict[str, str]]] = {}
    for line, row in table.rows:
        key = row["filename"].strip().replace("\\", "/").removeprefix("./")
        if key in rows:
            raise InputDataError(
                table.path,
                f"lines {rows[key][0]} and {line}, column 'filename': duplicate value '{key}'; "
                "expected one row per file",
                "Merge or remove the duplicate rows",
            )
        rows[key] = (line, row)
    return rows


def _index(table: Table, column: str, prefix: str) -> dict[str, tuple[int, dict[str, str]]]:
    """Rows of `table` by normalised id in `column`; fails on duplicate or malformed ids."""
    rows: dict[str, tuple[int, dict[str, str]]] = {}
    for line, row in table.rows:
        key = parse_id(table.path, line, column, row[column], prefix)
        if key in rows:
            raise InputDataError(
                table.path,
                f"lines {rows[key][0]} and {line}, column '{column}': duplicate value '{key}'; "
                f"expected one row per {'participant' if prefix == 'sub' else 'session'}",
                "Merge or remove the duplicate rows",
            )
        rows[key] = (line, row)
    return rows


def _check_columns_exist(
    root: Path,
    covariates: Sequence[CovariateSpec],
    participants: Table | None,
    sessions: dict[str, Table],
    scans_tables: dict[Path, Table],
) -> None:
    """Fail when a configured covariate is a column of no table at all (dataset-level)."""
    columns: set[str] = set(participants.columns) if participants else set()
    for table in [*sessions.values(), *scans_tables.values()]:
        columns.update(table.columns)
    columns -= {"participant_id", "session_id", "filename"}
    for spec in covariates:
        if spec.name not in columns:
            tables = ["participants.tsv"] if participants else []
            if sessions:
                tables.append("sub-*/sub-*_sessions.tsv")
            if scans_tables:
                tables.append("*_scans.tsv")
            raise InputDataError(
                root / "participants.tsv",
                f"covariate '{spec.name}' (config key 'covariates') is a column of no table "
                f"({' or '.join(tables) or 'no participants.tsv or sessions.tsv found'}; "
                f"columns found: {sorted(columns)}).{did_you_mean(spec.name, columns)}",
                f"Add a '{spec.name}' column, or remove '{spec.name}' from the config's covariates",
            )


def _attach_cell(
    record: ScanRecord,
    name: str,
    participants: Table | None,
    participant_rows: dict[str, tuple[int, dict[str, str]]],
    sessions: dict[str, Table],
    session_rows: dict[str, dict[str, tuple[int, dict[str, str]]]],
) -> None:
    """Find the cell holding covariate `name` for `record`, or record why there is none."""
    pid, sid = record.participant_id, record.session_id
    ses_table = sessions.get(pid) if sid else None
    if ses_table is not None and name in ses_table.columns:
        hit = session_rows[pid].get(sid)
        if hit is None:
            record.problems.append(
                f"{ses_table.name}: no row for session_id '{sid}' (needed for column '{name}'); "
                f"expected a row for every session with a T1w scan"
            )
        else:
            record.cells[name] = ses_table.cell(hit[0], hit[1], name)
        return
    if participants is not None and name in participants.columns:
        hit = participant_rows.get(pid)
        if hit is None:
            record.problems.append(
                f"participants.tsv: no row for participant_id '{pid}' (needed for column '{name}'); "
                f"expected a row for every subject with a T1w scan"
            )
        else:
            record.cells[name] = participants.cell(hit[0], hit[1], name)
        return
    ses_name = f"{pid}/{pid}_sessions.tsv"
    part = "participants.tsv" if participants is not None else "participants.tsv (not found)"
    if sid and ses_table is None:
        where = f"{ses_name} (not found) and {part}"
    elif sid:
        where = f"{ses_name} and {part}"
    else:
        where = f"{part} (the scan has no session, so sessions tables are not used)"
    record.problems.append(
        f"no column '{name}' for this scan in {where}; expected a value for '{name}'"
    )
