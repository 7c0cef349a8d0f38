"""The covariates' own structural equations, and their counterfactual values under an intervention.

A numeric covariate with parents has a linear mechanism x = [1, enc(parents)] b + u, fitted by
least squares on the train split (parents encoded like the design matrix: standardised
numerics, one-hot categoricals). Under an intervention, covariates are visited in topological
order: a covariate the intervention sets or shifts takes that value (do() cuts its incoming
arrows); a numeric covariate whose parents changed is recomputed through its mechanism with its
abducted noise u (the scan's own deviation is kept); a categorical descendant keeps its factual
value unless set (its noise cannot be recovered from a scan; the demo's true counterfactuals
follow the same convention); everything else keeps its factual value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from latentcf.interventions import Intervention
from latentcf.scm.design import DesignSpec
from latentcf.scm.glm import check_design
from latentcf.scm.graph import CausalGraph


@dataclass(frozen=True)
class Mechanism:
    """x = P_parents b + u for one numeric covariate with parents."""

    covariate: str
    design: DesignSpec
    coefficients: tuple[float, ...]

    @classmethod
    def fit(
        cls, train: pd.DataFrame, covariates: Mapping[str, Mapping[str, Any]], name: str, parents
    ) -> Mechanism:
        design = DesignSpec.fit(
            train, covariates, parents, where=f"the train split ('{name}' model)"
        )
        p = design.encode(train)
        check_design(p, design.columns(), 0.0, 1e6, f"the train split (mechanism of '{name}')")
        y = pd.to_numeric(train[name]).to_numpy(dtype=np.float64)
        b, *_ = np.linalg.lstsq(p, y, rcond=None)
        return cls(name, design, tuple(float(v) for v in b))

    def predict(self, values: pd.DataFrame) -> np.ndarray:
        """The mechanism's value without noise, one per row (n,)."""
        return self.design.encode(values) @ np.asarray(self.coefficients)

    def to_dict(self) -> dict[str, Any]:
        return {
            "covariate": self.covariate,
            "design": self.design.to_dict(),
            "coefficients": list(self.coefficients),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Mechanism:
        return cls(
            data["covariate"], DesignSpec.from_dict(data["design"]), tuple(data["coefficients"])
        )


def fit_mechanisms(
    train: pd.DataFrame, covariates: Mapping[str, Mapping[str, Any]], graph: CausalGraph
) -> dict[str, Mechanism]:
    """A mechanism per numeric covariate that has parents (train rows only)."""
    return {
        name: Mechanism.fit(train, covariates, name, parents)
        for name, parents in graph.parents.items()
        if parents and covariates[name]["type"] == "numeric"
    }


def counterfactual_covariates(
    factual: pd.DataFrame,
    intervention: Intervention,
    graph: CausalGraph,
    mechanisms: Mapping[str, Mechanism],
) -> pd.DataFrame:
    """Covariates of every row of `factual` under `intervention` (see the module docstring)."""
    noise = {
        name: factual[name].to_numpy(float) - m.predict(factual) for name, m in mechanisms.items()
    }
    out = factual.copy()
    changed: set[str] = set()
    for name in graph.order():
        if name in intervention.targets:
            value = intervention.set.get(name, None)
            column = factual[name] if value is None else pd.Series(value, index=factual.index)
            if name in intervention.shift:
                column = pd.to_numeric(column) + intervention.shift[name]
            out[name] = column
            changed.add(name)
        elif name in mechanisms and changed.intersection(graph.parents[name]):
            out[name] = mechanisms[name].predict(out) + noise[name]
            changed.add(name)
    return out
