"""Checking covariate values against the config's `covariates` section, and scan images.

Checks return a problem message (str) or the parsed value instead of raising, so that ingest
can collect every per-scan problem, exclude those scans and keep the healthy ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latentcf.cohort.tsv import Cell, is_missing
from latentcf.errors import ConfigError, LatentCFError, did_you_mean
from latentcf.io import read_header_checked


@dataclass(frozen=True)
class CovariateSpec:
    """One configured covariate: `kind` is "numeric" or "categorical".

    `levels` (categorical) are the allowed categories as strings; `minimum`/`maximum`
    (numeric) bound plausible values, inclusive, None when unbounded.
    """

    name: str
    kind: str
    levels: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    def expected(self) -> str:
        """What a valid value looks like, for messages."""
        if self.kind == "categorical":
            return f"one of {list(self.levels)}"
        low = "-inf" if self.minimum is None else f"{self.minimum:g}"
        high = "inf" if self.maximum is None else f"{self.maximum:g}"
        return f"a number in [{low}, {high}]"


def parse_covariates(config: Mapping[str, Mapping[str, Any]]) -> list[CovariateSpec]:
    """Turn the config's `covariates` mapping into specs, in config order.

    Raises :class:`ConfigError` for an unknown type or a categorical without levels.
    """
    if not config:
        raise ConfigError("covariates", "no covariates configured; expected at least one")
    specs = []
    for name, entry in config.items():
        kind = entry.get("type")
        if kind == "categorical":
            levels = tuple(str(level) for level in entry.get("levels") or ())
            if len(levels) < 2:
                raise ConfigError(
                    f"covariates.{name}.levels",
                    f"expected at least 2 categories for a categorical covariate, got {list(levels)}",
                )
            specs.append(CovariateSpec(str(name), kind, levels=levels))
        elif kind == "numeric":
            low, high = entry.get("min"), entry.get("max")
            specs.append(
                CovariateSpec(
                    str(name),
                    kind,
                    minimum=None if low is None else float(low),
                    maximum=None if high is None else float(high),
                )
            )
        else:
            raise ConfigError(
                f"covariates.{name}.type",
                f"got {kind!r}; expected 'numeric' or 'categorical'",
            )
    return specs


def check_value(spec: CovariateSpec, cell: Cell) -> tuple[str | float | None, str | None]:
    """Parse `cell` as a value of `spec`: returns (value, None) or (None, problem message).

    Numeric values become floats; categorical values stay strings (exact match, case-sensitive).
    """
    raw = cell.value.strip()
    if is_missing(raw):
        shown = f"'{raw}'" if raw else "(empty cell)"
        return None, f"{cell.where}: missing value {shown}; expected {spec.expected()}"
    if spec.kind == "categorical":
        if raw in spec.levels:
            return raw, None
        hint = did_you_mean(raw, spec.levels)
        if not hint:
            folded = [level for level in spec.levels if level.lower() == raw.lower()]
            hint = f" Did you mean '{folded[0]}'?" if folded else ""
        return None, f"{cell.where}: unseen category '{raw}'; expected {spec.expected()}.{hint}"
    try:
        number = float(raw)
    except ValueError:
        return None, f"{cell.where}: value '{raw}' is not a number; expected {spec.expected()}"
    if not math.isfinite(number):
        return None, f"{cell.where}: value '{raw}' is not finite; expected {spec.expected()}"
    too_low = spec.minimum is not None and number < spec.minimum
    too_high = spec.maximum is not None and number > spec.maximum
    if too_low or too_high:
        return None, f"{cell.where}: value {raw} is out of range; expected {spec.expected()}"
    return number, None


def check_image(path: Path, where: str | None = None) -> str | None:
    """Header-only NIfTI check of a T1w scan: None when fine, else the problem message.

    `where` (e.g. "table.tsv line 3, column 'path'") prefixes the message when given.
    """
    try:
        read_header_checked(path)
    except LatentCFError as exc:
        return f"{where}: {exc}" if where else str(exc)
    return None
