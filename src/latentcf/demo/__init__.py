"""The embedded demo cohort: T1w scans simulated from the ICBM 2009c template with a known
causal model, written as BIDS with ground truth (labels, volumes), and the true
counterfactuals of the configured interventions in a folder of their own.

Entry points: :func:`simulate_demo` (write the factual dataset), :func:`simulate_demo_counterfactuals`
(write the true counterfactuals), :func:`simulate_volumes` (covariates and true volumes only, as a
table), :func:`latentcf.demo.plot.plot_truth_volumes`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from latentcf.demo.settings import demo_interventions, merge_defaults

__all__ = ["simulate_demo", "simulate_demo_counterfactuals", "simulate_volumes"]

log = logging.getLogger(__name__)


def simulate_demo(
    out_dir: str | Path,
    demo: Mapping[str, Any] | None,
    seed: int,
    overwrite: bool = False,
) -> Path:
    """Simulate the cohort's factual scans and write them as BIDS under `out_dir` (e.g.
    results/demo/bids), ground truth in derivatives/truth; no counterfactual (see
    :func:`simulate_demo_counterfactuals`), so the dataset does not depend on the interventions.

    `demo` is the config section `demo`, `seed` the top-level key. Returns `out_dir`. Raises
    ConfigValidationError for bad settings before any work is done.
    """
    from latentcf.demo.bids import write_bids
    from latentcf.demo.simulate import simulate

    cfg = merge_defaults(demo)
    start = time.perf_counter()
    settings = {"seed": int(seed), "demo": cfg}
    path = write_bids(simulate(cfg, [], seed), out_dir, settings, overwrite=overwrite)
    log.info("demo cohort written to %s in %.1f s", path, time.perf_counter() - start)
    return path


def simulate_demo_counterfactuals(
    out_dir: str | Path,
    demo: Mapping[str, Any] | None,
    interventions: list[Mapping[str, Any]] | None,
    seed: int,
    overwrite: bool = False,
) -> Path:
    """Write the true counterfactual image and label map of every scan of the cohort
    :func:`simulate_demo` writes with the same `demo` and `seed`, for every intervention, under
    `out_dir` (e.g. results/demo/truth_counterfactuals), with volumes.tsv (factual and
    counterfactual rows). The factual scans are not rendered. With no intervention only the
    tables and the description are written.

    Returns `out_dir`. Raises ConfigValidationError for bad settings or interventions before
    any work is done.
    """
    from latentcf.demo.bids import write_counterfactuals
    from latentcf.demo.simulate import simulate

    cfg = merge_defaults(demo)
    demo_interventions(interventions)
    start = time.perf_counter()
    items = list(interventions or [])
    settings = {"seed": int(seed), "demo": cfg, "interventions": items}
    scans = simulate(cfg, items, seed, render="counterfactual")
    path = write_counterfactuals(scans, out_dir, settings, overwrite=overwrite)
    log.info("true counterfactuals written to %s in %.1f s", path, time.perf_counter() - start)
    return path


def simulate_volumes(
    demo: Mapping[str, Any] | None, interventions: list[Mapping[str, Any]] | None, seed: int
) -> pd.DataFrame:
    """Covariates and true volumes (mm^3) of every factual and counterfactual scan, one row
    each (column `intervention` is "factual" for real scans); no images are rendered."""
    from latentcf.demo.simulate import simulate

    rows = []
    for t in simulate(demo, interventions, seed, render="none"):
        rows.append(
            {
                "participant_id": t.participant_id,
                "session_id": t.session_id,
                "intervention": t.intervention,
                **t.covariates,
                **t.volumes,
            }
        )
    return pd.DataFrame(rows)
