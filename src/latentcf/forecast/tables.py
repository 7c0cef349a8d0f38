"""The forecast stage's tables: one row per forecast, and latent-space errors by method.

forecasts.tsv columns (join on ``target_scan`` with the cohort, or on ``image`` with a
segmentation of the forecast images): subject, split, method, main (the method's comparison
row: all earlier scans), n_scans_used, scans_used and ages_used (';'-joined, oldest first),
target_scan, target_session, target_age, horizon_years (target age - last age used; n/a for
population), shrinkage_weight (prior methods: w, its mean over dimensions per dimension),
latent_rel_l2 (||z_forecast - z_target|| / ||z_target||, the target's encoded latent) and image
(the decoded forecast, relative to the forecast folder; n/a for no_change, whose image is the
preprocessed last earlier scan itself, and for curve rows without an image).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from latentcf.forecast.tasks import Task

COLUMNS = [
    "subject", "split", "method", "main", "n_scans_used", "scans_used", "ages_used", "target_scan",
    "target_session", "target_age", "horizon_years", "shrinkage_weight", "latent_rel_l2", "image",
]  # fmt: skip
ERROR_COLUMNS = [
    "rows", "method", "n_scans_used", "n_subjects", "rel_l2_mean", "rel_l2_sd", "rel_l2_median",
]  # fmt: skip


def relative_l2(forecast: np.ndarray, target: np.ndarray) -> float:
    """||forecast - target|| / ||target|| over every latent value (float64)."""
    f, t = np.asarray(forecast, np.float64).ravel(), np.asarray(target, np.float64).ravel()
    norm = float(np.linalg.norm(t))
    return float(np.linalg.norm(f - t)) / norm if norm > 0 else float("nan")


def forecast_row(
    task: Task, error: float, weight: float | None, image: str | None
) -> dict[str, Any]:
    """One row of forecasts.tsv (see the module docstring)."""
    h = task.history
    return {
        "subject": h.subject,
        "split": h.split,
        "method": task.method,
        "main": task.main,
        "n_scans_used": task.n_scans,
        "scans_used": ";".join(task.scans),
        "ages_used": ";".join(f"{a:g}" for a in task.ages),
        "target_scan": h.target_scan,
        "target_session": h.target_session,
        "target_age": h.target_age,
        "horizon_years": h.target_age - task.ages[-1] if task.ages else None,
        "shrinkage_weight": weight,
        "latent_rel_l2": error,
        "image": image,
    }


def forecasts_table(rows: list[Mapping[str, Any]]) -> pd.DataFrame:
    """forecasts.tsv, columns in order (zero rows for a cohort without forecast subjects)."""
    return pd.DataFrame(rows, columns=COLUMNS)


def error_table(forecasts: pd.DataFrame) -> pd.DataFrame:
    """Latent relative L2 by method: the main rows (rows "main", n_scans_used n/a: it varies) and
    by number of scans used (rows 'n_scans': the curve, over the subjects with that many)."""

    def stats(group: pd.DataFrame) -> dict[str, Any]:
        e = group["latent_rel_l2"].to_numpy(float)
        return {
            "n_subjects": int(group["subject"].nunique()),
            "rel_l2_mean": float(e.mean()),
            "rel_l2_sd": float(e.std(ddof=1)) if len(e) > 1 else None,
            "rel_l2_median": float(np.median(e)),
        }

    out = []
    methods = list(dict.fromkeys(forecasts["method"]))
    main = forecasts[forecasts["main"].astype(bool)]
    for method in methods:
        group = main[main["method"] == method]
        if len(group):
            out.append({"rows": "main", "method": method, "n_scans_used": None, **stats(group)})
    for method in methods:
        rows = forecasts[forecasts["method"] == method]
        for k in sorted(set(rows["n_scans_used"].astype(int))):
            group = rows[rows["n_scans_used"].astype(int) == k]
            out.append({"rows": "n_scans", "method": method, "n_scans_used": k, **stats(group)})
    return pd.DataFrame(out, columns=ERROR_COLUMNS)
