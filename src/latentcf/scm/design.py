"""The design matrix P of the latent SCM: how covariates become columns, fixed on the train split.

Columns, in order: ``intercept``; per covariate (config order) a numeric one standardised with
the train mean and SD (``age``), a categorical one as indicators of each non-reference level
(``diagnosis[AD]``); then the extra terms, ``age^2`` (power of the standardised column) and
``age:diagnosis`` (products of the two covariates' columns, ``age:diagnosis[AD]``). The
:class:`DesignSpec` is plain data (saved as JSON beside the coefficients) so every later scan,
held-out or counterfactual, is encoded with the train statistics.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from latentcf.errors import ConfigError, InputDataError

INTERCEPT = "intercept"
_POWER = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\^([2-9])$")
_INTERACTION = re.compile(r"^([A-Za-z][A-Za-z0-9_]*):([A-Za-z][A-Za-z0-9_]*)$")


@dataclass(frozen=True)
class CovariateEncoding:
    """How one covariate is encoded: numeric (train mean/SD/min/max) or categorical (levels)."""

    name: str
    type: str
    mean: float = 0.0
    sd: float = 1.0
    min: float = 0.0
    max: float = 0.0
    levels: tuple[str, ...] = ()
    reference: str = ""

    def columns(self) -> list[str]:
        if self.type == "numeric":
            return [self.name]
        return [f"{self.name}[{level}]" for level in self.levels if level != self.reference]

    def encode(self, values: pd.Series) -> np.ndarray:
        """(n, n_columns) float64."""
        if self.type == "numeric":
            x = pd.to_numeric(values).to_numpy(dtype=np.float64)
            return ((x - self.mean) / self.sd)[:, None]
        x = values.astype(str).to_numpy()
        unknown = sorted(set(x) - set(self.levels))
        if unknown:
            raise ConfigError(
                f"covariates.{self.name}.levels",
                f"values {unknown} are not among the levels {list(self.levels)}",
            )
        return np.stack(
            [(x == level).astype(np.float64) for level in self.levels if level != self.reference],
            axis=1,
        )


@dataclass(frozen=True)
class DesignSpec:
    """Encoding of covariates into design-matrix columns (see the module docstring)."""

    covariates: tuple[CovariateEncoding, ...]
    extra_terms: tuple[str, ...] = field(default=())

    @classmethod
    def fit(
        cls,
        train: pd.DataFrame,
        covariates: Mapping[str, Mapping[str, Any]],
        names: Sequence[str],
        extra_terms: Sequence[str] = (),
        where: str = "the train split",
    ) -> DesignSpec:
        """Encodings of covariates `names` (config order) from the rows of `train`.

        Raises InputDataError for a numeric covariate that is constant in `train`, and
        ConfigError for a malformed extra term.
        """
        encodings = []
        for name in [n for n in covariates if n in names]:
            spec = covariates[name]
            if spec["type"] == "numeric":
                x = pd.to_numeric(train[name]).to_numpy(dtype=np.float64)
                sd = float(np.std(x))
                if not sd > 0:
                    raise InputDataError(
                        "<cohort>",
                        f"covariate '{name}' is constant in {where} (every value is {x[0]:g}), so "
                        "its effect cannot be estimated",
                        f"Remove '{name}' from image_parents (or its child's parents), or add scans",
                    )
                encodings.append(
                    CovariateEncoding(
                        name, "numeric", float(np.mean(x)), sd, float(x.min()), float(x.max())
                    )
                )
            else:
                levels = tuple(spec["levels"])
                reference = spec.get("reference") or levels[0]
                encodings.append(
                    CovariateEncoding(name, "categorical", levels=levels, reference=reference)
                )
        design = cls(tuple(encodings), tuple(extra_terms))
        for term in design.extra_terms:
            design._term_parts(term)  # validates
        return design

    def encoding(self, name: str) -> CovariateEncoding:
        for enc in self.covariates:
            if enc.name == name:
                return enc
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [enc.name for enc in self.covariates]

    def _term_parts(self, term: str) -> tuple[str, str | None, int]:
        """(covariate a, covariate b or None, power) of an extra term; ConfigError if malformed."""
        power, interaction = _POWER.match(term), _INTERACTION.match(term)
        parts = (
            [power.group(1)]
            if power
            else [interaction.group(1), interaction.group(2)]
            if interaction
            else []
        )
        if not parts:
            raise ConfigError("scm.extra_terms", f"got {term!r}; expected 'a^2' or 'a:b'")
        for part in parts:
            if part not in self.names:
                raise ConfigError(
                    "scm.extra_terms",
                    f"term {term!r} uses '{part}', which is not an image parent ({self.names})",
                )
        if power:
            if self.encoding(parts[0]).type != "numeric":
                raise ConfigError(
                    "scm.extra_terms", f"term {term!r}: only numeric covariates have powers"
                )
            return parts[0], None, int(power.group(2))
        if parts[0] == parts[1]:
            raise ConfigError("scm.extra_terms", f"term {term!r}: use '{parts[0]}^2' instead")
        return parts[0], parts[1], 1

    def columns(self) -> list[str]:
        """Column names of P, in order."""
        cols = [INTERCEPT] + [c for enc in self.covariates for c in enc.columns()]
        for term in self.extra_terms:
            a, b, power = self._term_parts(term)
            if b is None:
                cols.append(term)
            else:
                cols += [
                    f"{ca}:{cb}"
                    for ca in self.encoding(a).columns()
                    for cb in self.encoding(b).columns()
                ]
        return cols

    def encode(self, values: pd.DataFrame) -> np.ndarray:
        """Design matrix P (n, p) float64 of the covariate columns of `values` (one row per scan)."""
        n = len(values)
        blocks = {enc.name: enc.encode(values[enc.name]) for enc in self.covariates}
        parts = [np.ones((n, 1))] + [blocks[name] for name in self.names]
        for term in self.extra_terms:
            a, b, power = self._term_parts(term)
            if b is None:
                parts.append(blocks[a] ** power)
            else:
                parts.append(np.einsum("ni,nj->nij", blocks[a], blocks[b]).reshape(n, -1))
        return np.concatenate(parts, axis=1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "covariates": [asdict(enc) for enc in self.covariates],
            "extra_terms": list(self.extra_terms),
            "columns": self.columns(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DesignSpec:
        encodings = tuple(
            CovariateEncoding(**{**enc, "levels": tuple(enc["levels"])})
            for enc in data["covariates"]
        )
        return cls(encodings, tuple(data["extra_terms"]))
