"""One forecast latent per task: the methods of latentcf.forecast.tasks applied to latents."""

from __future__ import annotations

import numpy as np

from latentcf.forecast.lines import Line, fit_line
from latentcf.forecast.prior import PopulationPrior
from latentcf.forecast.shrinkage import shrunk_line
from latentcf.forecast.tasks import PRIOR_METHODS, Task


def forecast_latent(
    task: Task,
    latents: np.ndarray | None,
    prior: PopulationPrior | None,
    population: Line | None,
) -> tuple[np.ndarray, float | None]:
    """(forecast latent (D,) float64 at the target age, shrinkage weight w or None).

    `latents` (k, D) are the task's scans in task.scans order (None for population); w is the
    mean over dimensions with ``shrinkage: per_dimension``.
    """
    target = task.history.target_age
    if task.method == "ols":
        return fit_line(np.asarray(task.ages), latents).at(target), None
    if task.method in PRIOR_METHODS:
        if prior is None:
            raise ValueError(f"method {task.method} needs a population prior")
        line, w = shrunk_line(prior, np.asarray(task.ages), latents)
        return line.at(target), float(np.mean(w))
    if task.method == "no_change":
        return np.asarray(latents[-1], dtype=np.float64).reshape(-1), None
    if task.method == "population":
        if population is None:
            raise ValueError("method population needs the cross-sectional population line")
        return population.at(target), None
    raise ValueError(f"unknown forecast method {task.method!r}")
