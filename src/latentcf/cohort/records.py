"""What ingest collects per scan before validation, and how scans and subjects are named."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from latentcf.cohort.tsv import Cell
from latentcf.errors import ConfigError, InputDataError, did_you_mean

LABEL = "[A-Za-z0-9]+"  # a BIDS label: letters and digits
LABEL_RE = re.compile(f"^{LABEL}$")
NO_SESSION = "n/a"


def normalise_label(value: str, prefix: str) -> str | None:
    """'001' or 'sub-001' -> 'sub-001' (for prefix 'sub'); None when the label is not alphanumeric."""
    value = str(value).strip()
    if value.startswith(f"{prefix}-"):
        value = value[len(prefix) + 1 :]
    return f"{prefix}-{value}" if LABEL_RE.match(value) else None


def parse_id(path: Path, line: int, column: str, value: str, prefix: str) -> str:
    """`value` of a table cell as '<prefix>-<label>' (see :func:`normalise_label`).

    Raises :class:`InputDataError` naming the file, line, column and bad value.
    """
    label = normalise_label(value, prefix)
    if label is None:
        raise InputDataError(
            path,
            f"line {line}, column '{column}': bad value '{value}'; expected '{prefix}-<label>' "
            "or '<label>' with a letters-and-digits label",
        )
    return label


def is_entity_name(name: str, prefix: str) -> bool:
    """True for a folder name '<prefix>-<label>' (letters and digits), e.g. sub-001, ses-01."""
    return normalise_label(name, prefix) == name


def bullets(header: str, items: Sequence[str], limit: int) -> str:
    """`header:` then one '  - item' line each for the first `limit` items, then how many more."""
    lines = [f"  - {item}" for item in items[:limit]]
    if len(items) > limit:
        lines.append(f"  ... and {len(items) - limit} more")
    return header + ":\n" + "\n".join(lines)


def scan_stem(participant_id: str, session_id: str | None) -> str:
    """The `{scan}` wildcard: 'sub-X/ses-Y/anat/sub-X_ses-Y' or 'sub-X/anat/sub-X'."""
    if session_id:
        return f"{participant_id}/{session_id}/anat/{participant_id}_{session_id}"
    return f"{participant_id}/anat/{participant_id}"


@dataclass
class ScanRecord:
    """One T1w scan found in the input, before validation.

    `cells` holds, per covariate name, the table cell its value comes from; `problems` holds
    per-scan problems already found (e.g. no row for this subject in participants.tsv).
    `path_where` names the table cell the path came from (plain-TSV input), for messages.
    """

    participant_id: str
    session_id: str | None
    path: Path
    cells: dict[str, Cell] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    path_where: str | None = None
    check_path: bool = True

    @property
    def scan(self) -> str:
        return scan_stem(self.participant_id, self.session_id)


@dataclass(frozen=True)
class Excluded:
    """A scan left out of the cohort and why (one row of excluded.tsv).

    `is_problem` is False for scans left out by design (an extra T1w run), which strict mode
    does not treat as errors.
    """

    participant_id: str
    session_id: str | None
    path: Path
    reason: str
    is_problem: bool = True


def select_participants(available: Iterable[str], labels: object, source: str) -> set[str] | None:
    """Resolve the config's `participant_label` against the subjects of the dataset.

    `labels` may be a list, a single label or a comma-separated string ('001', 'sub-001', or an
    int from `--config participant_label=1`, matched numerically against digit labels).
    Returns None when no filter is set (all subjects), else the set of participant_ids.
    Raises :class:`ConfigError` for a label that is not in the dataset, with did-you-mean.
    """
    if labels is None or labels == "" or labels == []:
        return None
    if isinstance(labels, str):
        labels = [part for part in re.split(r"[,\s]+", labels) if part]
    elif not isinstance(labels, list | tuple | set):
        labels = [labels]
    available = sorted(set(available))
    selected: set[str] = set()
    for label in labels:
        selected.add(_match_label(label, available, source))
    return selected


def _match_label(label: object, available: list[str], source: str) -> str:
    if isinstance(label, int) and not isinstance(label, bool):
        hits = [p for p in available if p[4:].isdigit() and int(p[4:]) == label]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise ConfigError(
                "participant_label",
                f"{label} matches several subjects of {source} ({hits}); expected one. "
                "Write the label as text, e.g. participant_label='[\"001\"]'",
            )
        wanted = f"sub-{label}"
    else:
        wanted = normalise_label(str(label), "sub") or str(label)
        if wanted in available:
            return wanted
    shown = ", ".join(available[:10]) + (" ..." if len(available) > 10 else "")
    raise ConfigError(
        "participant_label",
        f"'{label}' is not a subject of {source}; expected one of the {len(available)} "
        f"subjects with a T1w scan ({shown}).{did_you_mean(wanted, available)}",
    )
