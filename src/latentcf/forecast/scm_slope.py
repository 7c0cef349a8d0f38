"""The population slope from the fitted latent SCM: d(P B)/d age, in latent units per year.

The design standardises a numeric covariate with the train mean and SD (column (age - mean) / sd),
so its coefficient row is per train SD of age: per year it is B[age] / sd. With extra terms the
slope depends on the scan (``age^2``: 2 s / sd B[age^2], s the standardised age;
``age:diagnosis``: the interaction row for the scan's level), so the derivative of each design row
is taken analytically (product rule over the design's blocks) and the population slope is its mean
over the given scans (the train split's: the average slope in the population the SCM was fitted on).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from latentcf.errors import ConfigError
from latentcf.scm.design import DesignSpec
from latentcf.scm.fitted import FittedSCM


def design_derivative(design: DesignSpec, values: pd.DataFrame, name: str) -> np.ndarray:
    """dP/d`name` (n, p) per unit of the covariate (per year for age), column order of P."""
    enc = design.encoding(name)
    n = len(values)
    blocks = {e.name: e.encode(values[e.name]) for e in design.covariates}
    slopes = {e.name: np.zeros_like(blocks[e.name]) for e in design.covariates}
    slopes[name] = np.full((n, 1), 1.0 / enc.sd)
    parts = [np.zeros((n, 1))] + [slopes[c] for c in design.names]
    for term in design.extra_terms:
        a, b, power = design._term_parts(term)  # the design's own parser of its extra terms
        if b is None:
            parts.append(power * blocks[a] ** (power - 1) * slopes[a])
        else:
            d = np.einsum("ni,nj->nij", slopes[a], blocks[b]) + np.einsum(
                "ni,nj->nij", blocks[a], slopes[b]
            )
            parts.append(d.reshape(n, -1))
    return np.concatenate(parts, axis=1)


def scm_slope(scm: FittedSCM, values: pd.DataFrame, name: str = "age") -> np.ndarray:
    """Mean over the rows of `values` of d latent / d `name` (K,) float64, per year for age.

    ConfigError when `name` is not a numeric image parent of the SCM (then it has no slope).
    """
    if name not in scm.design.names or scm.design.encoding(name).type != "numeric":
        raise ConfigError(
            "forecast.population_slope",
            f"'scm' needs '{name}' (forecast.age_covariate) as a numeric image parent of the latent "
            f"SCM; its design has {scm.design.names}",
            f"Add '{name}' to image_parents, or give the train split subjects with two or more scans",
        )
    if len(values) == 0:
        raise ValueError("no rows to average the SCM slope over")
    return (design_derivative(scm.design, values, name) @ scm.coefficients).mean(axis=0)
