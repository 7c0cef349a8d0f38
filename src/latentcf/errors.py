"""Exceptions that carry a message a user can act on.

Every error names the file or config key at fault, what is wrong (expected vs actual) and,
where possible, how to fix it. Scripts catch :class:`LatentCFError` and print the message
instead of a traceback (see :func:`latentcf.cli_errors.report_errors`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class LatentCFError(Exception):
    """Base class for errors caused by user input (data or config), not by a bug."""


class InputDataError(LatentCFError):
    """A data file (image, table) is unusable.

    Parameters
    ----------
    path : the offending file.
    problem : what is wrong, stating expected and actual values.
    fix : optional hint on how to fix it.
    """

    def __init__(self, path: str | Path, problem: str, fix: str | None = None):
        self.path = Path(path)
        self.problem = problem
        self.fix = fix
        message = f"{path}: {problem}"
        if fix:
            message += f". {fix}"
        super().__init__(message)


class ConfigError(LatentCFError):
    """A configuration key has a bad value (or is unknown)."""

    def __init__(self, key: str, problem: str, fix: str | None = None):
        self.key = key
        message = f"config key '{key}': {problem}"
        if fix:
            message += f". {fix}"
        super().__init__(message)


def did_you_mean(value: str, options: Iterable[str]) -> str:
    """Return " Did you mean 'x'?" for the closest option, or "" if none is close."""
    matches = difflib.get_close_matches(str(value), [str(o) for o in options], n=1, cutoff=0.6)
    return f" Did you mean '{matches[0]}'?" if matches else ""
