"""The files and folders of a BIDS dataset that the ingest checkpoint depends on (for Snakemake).

Snakemake reruns ingest when an input is newer than its outputs, or when the set of inputs
differs from the one recorded when ingest last ran. The tracked set is: the BIDS root folder,
participants.tsv (if present) and, for every T1w file ingest lists (kept or excluded) of the
selected subjects: the file, its folders up to the root (a plain folder's mtime changes when an
entry is added or removed: a new subject, session or run), its subject's sessions.tsv and its
session's scans.tsv (if present).

Building that set by walking the tree would cost a walk on every dry run, --lint or --report.
Once ingest has written cohort.tsv and excluded.tsv, their `path` columns already list every
T1w it found, so the set is rebuilt from them with stat calls only (and one listing of the
root, to notice a subject folder added or left out). When the tables are stale (a tracked path
is missing or newer than them, or the subjects differ) it falls back to the walk, so that
the set recorded when ingest reruns is already the new one (else ingest would rerun twice).

Not noticed without a walk: a T1w added to a subject's session or anat folder that held no T1w
before (that folder is not tracked); a subject folder with no T1w at all makes every call walk.
"""

from __future__ import annotations

import csv
import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from latentcf.cohort.bids import list_t1w
from latentcf.cohort.records import is_entity_name, select_participants
from latentcf.errors import LatentCFError

log = logging.getLogger(__name__)


def ingest_inputs(
    bids_dir: str | Path,
    cohort_tsv: str | Path | None,
    excluded_tsv: str | Path | None,
    participant_label: object = None,
) -> list[str]:
    """The paths the ingest checkpoint depends on (see the module docstring), sorted.

    From cohort_tsv + excluded_tsv (ingest's outputs, None when not known) while they are up
    to date, else from a walk of `bids_dir`; both give the same set for the same dataset.
    Paths are `bids_dir` as given joined with the relative path. [] when `bids_dir` is not a
    folder (ingest reports it). Never raises for a bad table or label: that falls back to the
    walk, and ingest reports the problem.
    """
    root = Path(bids_dir)
    if not root.is_dir():
        return []
    if cohort_tsv is not None and excluded_tsv is not None:
        tracked = _from_tables(root, Path(cohort_tsv), Path(excluded_tsv), participant_label)
        if tracked is not None:
            return tracked
    return _from_walk(root, participant_label)


def _from_walk(root: Path, participant_label: object) -> list[str]:
    """The tracked set from listing the tree (what ingest itself lists)."""
    absolute = root.absolute()
    files = list_t1w(absolute)
    selected = _selected(sorted({f.participant_id for f in files}), participant_label, root)
    folders, t1w, tables = _candidates(
        str(root),
        (
            f.path.relative_to(absolute).as_posix()
            for f in files
            if selected is None or f.participant_id in selected
        ),
    )
    t1w = {path for path in t1w if os.path.exists(path)}
    return sorted(folders | t1w | {path for path in tables if os.path.isfile(path)})


def _from_tables(
    root: Path, cohort_tsv: Path, excluded_tsv: Path, participant_label: object
) -> list[str] | None:
    """The tracked set from ingest's tables with stat calls only; None when missing or stale."""
    try:
        built = min(cohort_tsv.stat().st_mtime, excluded_tsv.stat().st_mtime)
        rows = _table_rows(cohort_tsv) + _table_rows(excluded_tsv)
    except (OSError, KeyError, TypeError, ValueError, csv.Error):  # missing or unreadable
        return None
    prefix = str(root.absolute()) + os.sep  # as ingest wrote the paths (Path.absolute)
    scans: set[str] = set()
    for participant_id, path in rows:
        rel = path[len(prefix) :]
        parts = rel.split("/")
        if not path.startswith(prefix) or parts[0] != participant_id or len(parts) not in (3, 4):
            return _stale(f"{path} is not {prefix}{participant_id}/[ses-*/]anat/<file>")
        if parts[-2] != "anat":
            return _stale(f"{path} is not in an anat folder")
        scans.add(rel)
    try:
        on_disk = sorted(
            e.name for e in os.scandir(root) if is_entity_name(e.name, "sub") and e.is_dir()
        )
    except OSError:
        return None
    selected = _selected(on_disk, participant_label, root)
    if (set(on_disk) if selected is None else selected) != {s.split("/")[0] for s in scans}:
        return _stale("the subjects differ from the tables' (added, removed or relabelled)")
    folders, t1w, tables = _candidates(str(root), scans)
    tracked: list[str] = []
    for path in sorted(folders | t1w | tables):
        try:
            mtime, resolves = _mtime(path)
        except OSError:
            if path in tables:
                continue  # absent table: its folder's mtime tells when one is added
            return _stale(f"{path} is gone")
        if mtime > built:
            return _stale(f"{path} is newer than {cohort_tsv}")
        if resolves:  # a broken link is left out, as the walk does
            tracked.append(path)
    return tracked


def _table_rows(path: Path) -> list[tuple[str, str]]:
    """(participant_id, path) of every row of a cohort.tsv or excluded.tsv."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(row["participant_id"], row["path"]) for row in reader]


def _candidates(root: str, scans: Iterable[str]) -> tuple[set[str], set[str], set[str]]:
    """(folders, T1w files, tables that count when present) for T1w files at `scans`.

    `scans` are '/'-separated paths relative to `root`; results are `root` joined with them.
    Folders: `root` and each scan's folders up to it. Tables: participants.tsv, each scan's
    subject's sessions.tsv and its session's (or, without sessions, subject's) scans.tsv. A T1w that is a broken link (git-annex content not fetched) is
    for the caller to leave out: Snakemake would stop on a missing input, and ingest lists it
    in excluded.tsv; its folders stay tracked.
    """
    folders, files, tables = {root}, set(), {os.path.join(root, "participants.tsv")}
    for rel in scans:
        parts = rel.split("/")
        files.add(os.path.join(root, *parts))
        folders.update(os.path.join(root, *parts[:k]) for k in range(1, len(parts)))
        tables.add(os.path.join(root, parts[0], f"{parts[0]}_sessions.tsv"))
        stem = "_".join(parts[:-2])  # sub-<l>[_ses-<l>]
        tables.add(os.path.join(root, *parts[:-2], f"{stem}_scans.tsv"))
    return folders, files, tables


def _mtime(path: str) -> tuple[float, bool]:
    """(the later of the path's and its link target's mtime, whether it resolves).

    Raises OSError when the path itself is missing.
    """
    info = os.lstat(path)
    if not stat.S_ISLNK(info.st_mode):
        return info.st_mtime, True
    try:
        return max(info.st_mtime, os.stat(path).st_mtime), True
    except OSError:  # broken link
        return info.st_mtime, False


def _selected(subjects: list[str], participant_label: object, root: Path) -> set[str] | None:
    """The subjects participant_label selects (None: all); all on an unknown label."""
    try:
        return select_participants(subjects, participant_label, str(root))
    except LatentCFError:  # ingest fails with the message; track everything until then
        return None


def _stale(why: str) -> None:
    log.debug("ingest inputs: tables are stale (%s); listing the BIDS folder", why)
    return None
