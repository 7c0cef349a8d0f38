"""Settings of the demo simulator (config section `demo`) and the covariates it models.

Defaults come from workflow/schemas/demo.schema.yaml (via :func:`latentcf.config.validate_section`),
so the package can be used without the workflow's config loader and keeps no copy of them.
Interventions are checked by :mod:`latentcf.interventions` against :data:`COVARIATES`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from latentcf.config import ConfigValidationError, validate_section
from latentcf.interventions import Intervention, parse_interventions

SCHEMA = "demo.schema.yaml"

# The covariates the simulator models, in the config's `covariates` format.
COVARIATES: dict[str, dict[str, Any]] = {
    "age": {"type": "numeric", "min": 0, "max": 120},
    "sex": {"type": "categorical", "levels": ["F", "M"]},
    "diagnosis": {"type": "categorical", "levels": ["CN", "AD"]},
}

# [min, max] settings drawn uniformly; the schema checks each bound, not their order.
_RANGES = (
    ("age_range",),
    ("scanner", "noise_fraction"),
    ("scanner", "gamma_range"),
    ("scanner", "intensity_scale_range"),
    ("pose", "fov_margin_mm"),
)


def merge_defaults(demo: Mapping[str, Any] | None) -> dict[str, Any]:
    """The `demo` config section, validated, with missing keys (at any depth) from the schema.

    Raises :class:`ConfigValidationError` naming every bad key (unknown keys with the closest
    valid one, wrong types, out-of-range values, [min, max] pairs in the wrong order).
    """
    cfg = validate_section(demo, SCHEMA, "demo")
    problems = list(_range_problems(cfg))
    if problems:
        raise ConfigValidationError(problems, source="config section 'demo'")
    return cfg


def _range_problems(cfg: Mapping[str, Any]) -> Iterator[str]:
    """[min, max] pairs must be ordered (age_range strictly: a cohort needs distinct ages)."""
    for path in _RANGES:
        value: Any = cfg
        for key in path:
            value = value[key]
        lo, hi = value
        if lo > hi or (path == ("age_range",) and lo == hi):
            relation = "min < max" if path == ("age_range",) else "min <= max"
            yield f"'demo.{'.'.join(path)}': expected [min, max] with {relation}, got {value!r}"


def demo_interventions(items: Iterable[Mapping[str, Any]] | None) -> list[Intervention]:
    """The `interventions` config list, checked against the covariates the simulator models.

    Raises :class:`ConfigValidationError` naming each bad entry, e.g. an intervention on a
    covariate the simulator does not model ('bmi') even when the workflow config declares it.
    """
    return parse_interventions(items, COVARIATES, what="the covariates the demo simulator models")
