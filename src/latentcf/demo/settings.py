"""Settings of the demo simulator (config section `demo`) and the interventions it accepts.

`DEFAULTS` mirrors workflow/schemas/demo.schema.yaml (a test keeps the two equal), so that the
package can be used without the workflow's config loader.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from latentcf.errors import ConfigError, did_you_mean

DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "n_subjects": 24,
    "sessions_per_subject": 1,
    "years_between_sessions": 2.0,
    "resolution_mm": 2,
    "field_spacing_mm": 3,
    "age_range": [55.0, 85.0],
    "reference_age": 70.0,
    "male_fraction": 0.5,
    "head_scale": {"F": 0.98, "M": 1.02, "sd": 0.02},
    "diagnosis": {"logit_intercept": -1.0, "logit_age_slope": 0.12},
    "atrophy": {
        "hippocampus": {"age_rate": -0.005, "ad_effect": -0.10},
        "amygdala": {"age_rate": -0.004, "ad_effect": -0.12},
        "lateral_ventricles": {"age_rate": 0.02, "ad_effect": 0.15},
        "cortex": {"age_rate": -0.003, "ad_effect": -0.04},
    },
    "rate_multiplier_sd": 0.2,
    "anatomy": {"displacement_rms_mm": 1.0, "smoothness_mm": 24.0},
    "scanner": {
        "bias_field_sd": 0.12,
        "noise_fraction": [0.01, 0.03],
        "gamma_range": [0.85, 1.15],
        "intensity_scale_range": [400.0, 1200.0],
    },
    "pose": {"max_rotation_deg": 10.0, "max_translation_mm": 10.0, "fov_margin_mm": [8.0, 30.0]},
}

COVARIATES: dict[str, tuple[str, ...] | None] = {
    "age": None,
    "sex": ("F", "M"),
    "diagnosis": ("CN", "AD"),
}


def merge_defaults(demo: Mapping[str, Any] | None) -> dict[str, Any]:
    """`demo` config section with missing keys (at any depth) taken from `DEFAULTS`."""

    def merge(base: dict[str, Any], over: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        out = copy.deepcopy(base)
        for key, value in over.items():
            if key not in base:
                raise ConfigError(
                    f"{prefix}{key}",
                    f"unknown key; expected one of {sorted(base)}",
                    did_you_mean(key, base).strip() or None,
                )
            if isinstance(base[key], dict) and isinstance(value, Mapping):
                out[key] = merge(base[key], value, f"{prefix}{key}.")
            else:
                out[key] = copy.deepcopy(value)
        return out

    cfg = merge(DEFAULTS, demo or {}, "demo.")
    if cfg["resolution_mm"] not in (1, 2, 4):
        raise ConfigError("demo.resolution_mm", f"expected 1, 2 or 4, got {cfg['resolution_mm']!r}")
    lo, hi = cfg["age_range"]
    if not lo < hi:
        raise ConfigError(
            "demo.age_range", f"expected [min, max] with min < max, got {cfg['age_range']!r}"
        )
    return cfg


@dataclass(frozen=True)
class Intervention:
    """do(): `shift` adds to numeric covariates, `set` fixes covariates; both = joint."""

    name: str
    shift: dict[str, float] = field(default_factory=dict)
    set: dict[str, Any] = field(default_factory=dict)

    def apply(self, covariates: Mapping[str, Any]) -> dict[str, Any]:
        """Covariates after the intervention (set first, then shift)."""
        out = dict(covariates)
        out.update(self.set)
        for key, delta in self.shift.items():
            out[key] = out[key] + delta
        return out


def parse_interventions(items: list[Mapping[str, Any]] | None) -> list[Intervention]:
    """Check the `interventions` config list against the covariates the simulator models.

    Raises :class:`ConfigError` naming the entry for an unknown covariate, an unknown level,
    a shift of a categorical covariate, a bad name or a duplicate name.
    """
    out: list[Intervention] = []
    seen: set[str] = set()
    for i, item in enumerate(items or []):
        where = f"interventions[{i}]"
        name = str(item.get("name", ""))
        if not name.isalnum() or not name.isascii():
            raise ConfigError(f"{where}.name", f"expected letters and digits only, got {name!r}")
        if name == "factual" or name in seen:
            raise ConfigError(f"{where}.name", f"'{name}' is reserved or used twice")
        seen.add(name)
        shift = dict(item.get("shift") or {})
        setv = dict(item.get("set") or {})
        if not shift and not setv:
            raise ConfigError(where, f"intervention '{name}' has neither 'shift' nor 'set'")
        for kind, values in (("shift", shift), ("set", setv)):
            for cov, value in values.items():
                key = f"{where}.{kind}.{cov}"
                if cov not in COVARIATES:
                    raise ConfigError(
                        key,
                        f"the demo simulator models only the covariates {list(COVARIATES)}, not '{cov}'",
                        did_you_mean(cov, COVARIATES).strip() or None,
                    )
                levels = COVARIATES[cov]
                if levels is None:
                    if (
                        isinstance(value, bool)
                        or not isinstance(value, int | float)
                        or not math.isfinite(value)
                    ):
                        raise ConfigError(key, f"expected a number (years), got {value!r}")
                elif kind == "shift":
                    raise ConfigError(
                        key, f"'{cov}' is categorical ({list(levels)}): use 'set', not 'shift'"
                    )
                elif value not in levels:
                    raise ConfigError(
                        key,
                        f"unknown level {value!r}; expected one of {list(levels)}",
                        did_you_mean(value, levels).strip() or None,
                    )
        out.append(Intervention(name=name, shift=shift, set=setv))
    return out
