"""The embedded demo cohort: T1w scans simulated from the ICBM 2009c template with a known
causal model, written as BIDS with ground truth (labels, volumes, true counterfactuals).

Entry points: :func:`simulate_demo` (write the dataset), :func:`simulate_volumes`
(covariates and true volumes only, as a table), :func:`latentcf.demo.plot.plot_truth_volumes`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from latentcf.demo.settings import demo_interventions, merge_defaults

__all__ = ["simulate_demo", "simulate_volumes"]


def simulate_demo(
    out_dir: str | Path,
    demo: Mapping[str, Any] | None,
    interventions: list[Mapping[str, Any]] | None,
    seed: int,
    overwrite: bool = False,
) -> Path:
    """Simulate the cohort and write it as BIDS under `out_dir` (e.g. results/demo/bids).

    `demo` is the config section `demo`, `interventions` and `seed` the top-level keys.
    Returns `out_dir`. Raises ConfigValidationError for bad settings before any work is done.
    """
    import logging

    from latentcf.demo.bids import write_bids
    from latentcf.demo.simulate import simulate

    cfg = merge_defaults(demo)
    demo_interventions(interventions)
    start = time.perf_counter()
    settings = {"seed": int(seed), "demo": cfg, "interventions": list(interventions or [])}
    scans = simulate(cfg, interventions, seed, render_images=True)
    path = write_bids(scans, out_dir, settings, overwrite=overwrite)
    logging.getLogger(__name__).info(
        "demo cohort written to %s in %.1f s", path, time.perf_counter() - start
    )
    return path


def simulate_volumes(
    demo: Mapping[str, Any] | None, interventions: list[Mapping[str, Any]] | None, seed: int
) -> pd.DataFrame:
    """Covariates and true volumes (mm^3) of every factual and counterfactual scan, one row
    each (column `intervention` is "factual" for real scans); no images are rendered."""
    from latentcf.demo.simulate import simulate

    rows = []
    for t in simulate(demo, interventions, seed, render_images=False):
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
