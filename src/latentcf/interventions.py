"""Interventions do(...) on covariates, validated in one place.

An intervention is a named change of the covariates of a scan: `shift` adds a delta to numeric
covariates, `set` fixes covariates to a value, both together form a joint intervention. Config
validation (:mod:`latentcf.config`), the demo simulator and the counterfactual stages all check
interventions with :func:`intervention_problems` against a covariate spec in the config's
format: name -> {type: numeric|categorical, levels: [...], min, max}.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from latentcf.errors import did_you_mean

if TYPE_CHECKING:
    import pandas as pd

FACTUAL = "factual"  # the name of the unchanged scan; no intervention may use it
NULL = "null"  # the name of the null intervention's decode (the counterfactuals' reference)
_KEYS = ("name", "shift", "set")


@dataclass(frozen=True)
class Intervention:
    """do(): `shift` adds to numeric covariates, `set` fixes covariates; both = joint."""

    name: str
    shift: dict[str, float] = field(default_factory=dict)
    set: dict[str, Any] = field(default_factory=dict)

    @property
    def targets(self) -> frozenset[str]:
        """The covariates this intervention changes (set or shifted)."""
        return frozenset(self.shift) | frozenset(self.set)

    def apply(self, covariates: Mapping[str, Any]) -> dict[str, Any]:
        """Covariates after the intervention: `set` first, then `shift` (so a joint
        intervention on one numeric covariate sets it and then adds the delta)."""
        out = dict(covariates)
        out.update(self.set)
        for key, delta in self.shift.items():
            out[key] = out[key] + delta
        return out


def _is_number(value: Any) -> bool:
    """A finite int or float (booleans are not numbers here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _item_problems(
    where: str, item: Mapping[str, Any], covariates: Mapping[str, Mapping[str, Any]], what: str
) -> Iterator[str]:
    """Problems of the `shift` / `set` part of one intervention."""
    unknown = [k for k in item if k not in _KEYS]
    if unknown:
        hints = "".join(did_you_mean(k, _KEYS) for k in unknown)
        yield f"{where}: unknown key(s) {unknown}; allowed keys are {list(_KEYS)}.{hints}"
    if not item.get("shift") and not item.get("set"):
        yield f"{where}: give 'shift' and/or 'set', e.g. shift: {{age: 10}}"
    for kind in ("shift", "set"):
        values = item.get(kind) or {}
        if not isinstance(values, Mapping):
            yield f"{where}: '{kind}' must map covariates to values, got {values!r}"
            continue
        for cov, value in values.items():
            if cov not in covariates:
                yield (
                    f"{where}: unknown covariate '{cov}' in {kind}; {what} are "
                    f"{list(covariates)}.{did_you_mean(cov, covariates)}"
                )
                continue
            spec = covariates[cov]
            if spec.get("type") == "categorical":
                levels = list(spec.get("levels") or [])
                if kind == "shift":
                    yield f"{where}: cannot shift categorical covariate '{cov}'; use set: {{{cov}: <level>}}"
                elif str(value) not in levels:
                    yield (
                        f"{where}: unseen level {value!r} for '{cov}'; expected one of {levels}."
                        f"{did_you_mean(value, levels)}"
                    )
            elif not _is_number(value):
                yield f"{where}: '{cov}' is numeric, so {kind} needs a finite number, got {value!r}"
            elif kind == "set":
                lo, hi = spec.get("min", -math.inf), spec.get("max", math.inf)
                if not lo <= value <= hi:
                    yield f"{where}: set {cov}: {value!r} is outside the range of '{cov}' [{lo}, {hi}]"


def intervention_problems(
    items: Iterable[Mapping[str, Any]] | None,
    covariates: Mapping[str, Mapping[str, Any]],
    what: str = "configured covariates",
) -> Iterator[str]:
    """One message per problem of the `interventions` list, each naming the entry
    (`'interventions.0' (age10)`), the bad value and the allowed values.

    `covariates` is the config's `covariates` section (name -> {type, levels, min, max});
    `what` names them in messages (e.g. "covariates the demo simulator models").
    """
    seen: set[str] = set()
    for i, item in enumerate(items or []):
        if not isinstance(item, Mapping):
            yield f"'interventions.{i}': expected a mapping with 'name', 'shift', 'set', got {item!r}"
            continue
        name = item.get("name")
        where = f"'interventions.{i}' ({name})"
        if not isinstance(name, str) or not name.isascii() or not name.isalnum():
            yield f"{where}: name {name!r} must be letters and digits only (it is used in file names)"
        elif name in (FACTUAL, NULL):
            yield f"{where}: the name '{name}' is reserved ('{FACTUAL}': the unchanged scans, '{NULL}': the null intervention)"
        elif name in seen:
            yield f"{where}: duplicate name; names must be unique"
        if isinstance(name, str):
            seen.add(name)
        yield from _item_problems(where, item, covariates, what)


def parse_interventions(
    items: Iterable[Mapping[str, Any]] | None,
    covariates: Mapping[str, Mapping[str, Any]],
    what: str = "configured covariates",
) -> list[Intervention]:
    """Checked :class:`Intervention` objects for the `interventions` config list.

    Categorical `set` values become strings (levels are strings). Raises
    :class:`latentcf.config.ConfigValidationError` listing every problem, the error that config
    validation raises for the same mistakes.
    """
    items = list(items or [])
    problems = list(intervention_problems(items, covariates, what))
    if problems:
        from latentcf.config import ConfigValidationError  # config imports this module

        raise ConfigValidationError(problems, source="interventions")
    out = []
    for item in items:
        shift = {k: float(v) for k, v in (item.get("shift") or {}).items()}
        set_ = {
            k: str(v) if covariates[k].get("type") == "categorical" else float(v)
            for k, v in (item.get("set") or {}).items()
        }
        out.append(Intervention(name=item["name"], shift=shift, set=set_))
    return out


def apply_all(
    interventions: Iterable[Intervention], covariates: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """Counterfactual covariates of every row of `covariates` (one row per scan, one column
    per covariate) under each intervention, by name; same index and columns as the input.

    Raises KeyError naming the covariate when an intervention targets a missing column.
    """
    out = {}
    for iv in interventions:
        missing = sorted(iv.targets - set(covariates.columns))
        if missing:
            raise KeyError(
                f"intervention '{iv.name}' changes {missing}, which are not columns of the "
                f"covariate table {list(covariates.columns)}"
            )
        table = covariates.copy()
        for key, value in iv.set.items():
            table[key] = value
        for key, delta in iv.shift.items():
            table[key] = table[key] + delta
        out[iv.name] = table
    return out
