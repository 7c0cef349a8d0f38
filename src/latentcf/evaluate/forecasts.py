"""How well a model's forecasts predict a subject's later scan: volume changes and image error.

For each held-out subject's main forecasts (latentcf.forecast: every method from all earlier
scans, target = the subject's last scan), with "prev" the last earlier scan:

- **observed change**: tensor-based morphometry (latentcf.evaluate.tbm) from the real prev scan
  to the real target scan, averaged inside prev's partial-volume segmentation: what a user can
  measure on their own data (:func:`measure_observed_changes`, once for all models);
- **predicted change** of a method: the same measurement from prev's reconstruction (the decoded
  latent, so the autoencoder's own blur cancels) to the method's decoded forecast; ``no_change``
  predicts 0 by definition;
- **image error**: MAE, PSNR and SSIM of the forecast image against the real target inside the
  target's brain mask (``no_change``: the real prev scan itself).

On the demo the simulator's true change between the two sessions is the reference as well
(:func:`forecast_summary`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from latentcf import derivatives
from latentcf.errors import InputDataError
from latentcf.evaluate.chunks import structure_weights
from latentcf.evaluate.tbm import jacobian, relative_changes, tbm_settings
from latentcf.forecast.tasks import History
from latentcf.io import atomic_directory, write_tsv_atomic
from latentcf.metrics import masked_metrics
from latentcf.segment import STRUCTURES, build_segmenter

log = logging.getLogger(__name__)

NO_CHANGE = "no_change"
OBSERVED_COLUMNS = ["subject", "prev_scan", "target_scan", "structure", "observed_pct"]
CHANGE_COLUMNS = [
    "subject", "split", "method", "prev_scan", "target_scan", "horizon_years", "structure",
    "predicted_pct", "observed_pct", "mae", "psnr", "ssim",
]  # fmt: skip


def _data(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    img = nib.load(str(path))
    return np.asarray(img.dataobj, dtype=np.float32), img.affine


def measure_observed_changes(
    subjects: Sequence[History],
    image_of: Mapping[str, str | Path],
    out_dir: str | Path,
    segment_config: Mapping[str, Any] | None,
    evaluate_config: Mapping[str, Any] | None,
    resolution_mm: int,
) -> pd.DataFrame:
    """What every model's forecasts are measured against, once for all models: for each forecast
    subject (latentcf.forecast.tasks.histories), the partial-volume segmentation of its prev scan
    (the last earlier one; an .npz of structure weights) and the observed change prev -> target.

    image_of : {scan: preprocessed image on the model grid}. Writes the folder `out_dir` (the
    weights and OBSERVED_CHANGES_TABLE: one row per subject and structure); returns the table.
    """
    settings = tbm_settings(evaluate_config)
    segmenter = build_segmenter(segment_config, resolution_mm) if subjects else None
    rows: list[dict[str, Any]] = []
    with atomic_directory(out_dir) as tmp:
        for history in subjects:
            prev_scan, target_scan = history.scans[-1], history.target_scan
            prev_img = nib.load(str(image_of[prev_scan]))
            prev = np.asarray(prev_img.dataobj, dtype=np.float32)
            target, _ = _data(image_of[target_scan])
            weights = structure_weights(segmenter.segment(prev_img))
            weights_path = tmp / derivatives.structure_weights_file(prev_scan, resolution_mm)
            weights_path.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(weights_path, **weights)
            observed = relative_changes(jacobian(prev, target, prev_img.affine, settings), weights)
            rows += [
                {
                    "subject": history.subject,
                    "prev_scan": prev_scan,
                    "target_scan": target_scan,
                    "structure": structure,
                    "observed_pct": 100.0 * observed[structure],
                }
                for structure in STRUCTURES
            ]
            log.info("observed change %s -> %s measured", prev_scan, target_scan)
        table = pd.DataFrame(rows, columns=OBSERVED_COLUMNS)
        write_tsv_atomic(table, tmp / derivatives.OBSERVED_CHANGES_TABLE)
    return table


def _observed(
    table: pd.DataFrame, path: Path, target_scan: str, prev_scan: str
) -> dict[str, float]:
    """{structure: observed change (fraction)} of one pair of measure_observed_changes' `table`
    (read from `path`)."""
    pair = table[(table["target_scan"] == target_scan) & (table["prev_scan"] == prev_scan)]
    if pair.empty:
        raise InputDataError(
            path,
            f"no observed change {prev_scan} -> {target_scan}; expected one row per structure "
            "for every forecast subject",
            "It was measured for other forecast settings or another cohort: rerun the workflow",
        )
    return {r.structure: r.observed_pct / 100.0 for r in pair.itertuples()}


def measure_forecasts(
    forecasts: pd.DataFrame,
    forecast_dir: str | Path,
    observed_dir: str | Path,
    recon_of: Mapping[str, str | Path],
    image_of: Mapping[str, str | Path],
    mask_of: Mapping[str, str | Path],
    out_path: str | Path,
    evaluate_config: Mapping[str, Any] | None,
    resolution_mm: int,
) -> pd.DataFrame:
    """Measure every main forecast of `forecasts` (forecasts.tsv); writes and returns the long
    table of CHANGE_COLUMNS (one row per forecast and structure).

    observed_dir : measure_observed_changes' folder (prev's structure weights, observed changes).
    recon_of, image_of, mask_of : {scan: reconstruction / preprocessed image / brain mask} on the
        model grid, for every prev and target scan.
    """
    settings = tbm_settings(evaluate_config)
    observed_dir = Path(observed_dir)
    observed_path = observed_dir / derivatives.OBSERVED_CHANGES_TABLE
    observed_table = pd.read_csv(observed_path, sep="\t") if len(forecasts) else None
    main = forecasts[forecasts["main"].astype(bool)] if len(forecasts) else forecasts
    rows: list[dict[str, Any]] = []
    for target_scan, group in main.groupby("target_scan", sort=False):
        # "prev": the last earlier scan (a method using scans names it; population uses none).
        using = group[group["scans_used"].astype(str) != ""]
        prev_scan = str(using["scans_used"].iloc[0]).split(";")[-1]
        horizon = float(group["target_age"].iloc[0]) - float(
            str(using["ages_used"].iloc[0]).split(";")[-1]
        )
        observed = _observed(observed_table, observed_path, target_scan, prev_scan)
        with np.load(
            observed_dir / derivatives.structure_weights_file(prev_scan, resolution_mm)
        ) as f:
            weights = {structure: f[structure] for structure in STRUCTURES}
        prev, affine = _data(image_of[prev_scan])
        target, _ = _data(image_of[target_scan])
        target_mask, _ = _data(mask_of[target_scan])
        prev_recon, _ = _data(recon_of[prev_scan])
        for _, row in group.iterrows():
            method = row["method"]
            if method == NO_CHANGE:
                image, predicted = prev, dict.fromkeys(STRUCTURES, 0.0)
            else:
                image, _ = _data(Path(forecast_dir) / row["image"])
                predicted = relative_changes(jacobian(prev_recon, image, affine, settings), weights)
            metrics = masked_metrics(image, target, target_mask)
            for structure in STRUCTURES:
                rows.append(
                    {
                        "subject": row["subject"],
                        "split": row["split"],
                        "method": method,
                        "prev_scan": prev_scan,
                        "target_scan": target_scan,
                        "horizon_years": horizon,
                        "structure": structure,
                        "predicted_pct": 100.0 * predicted[structure],
                        "observed_pct": 100.0 * observed[structure],
                        "mae": metrics["mae"],
                        "psnr": metrics["psnr"],
                        "ssim": metrics["ssim"],
                    }
                )
        log.info("measured %d forecasts of %s", len(group), target_scan)
    table = pd.DataFrame(rows, columns=CHANGE_COLUMNS)
    write_tsv_atomic(table, out_path)
    return table


def true_session_changes(truth_volumes: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """(target_scan, structure, true_pct): the simulator's change from prev to target session."""
    factual = truth_volumes[truth_volumes["intervention"] == "factual"].set_index("scan")
    pairs = changes[["prev_scan", "target_scan", "structure"]].drop_duplicates()
    pairs = pairs[pairs["structure"].isin(factual.columns)]
    true = [
        100.0 * (factual.at[t, s] / factual.at[p, s] - 1.0)
        for p, t, s in pairs.itertuples(index=False)
    ]
    return pairs.assign(true_pct=true)[["target_scan", "structure", "true_pct"]]


def forecast_summary(changes: pd.DataFrame, truth_volumes: pd.DataFrame | None) -> pd.DataFrame:
    """Per method and structure over the forecast subjects: mean predicted and observed change,
    mean absolute error against the observed change (pp) and, on the demo, against the true
    change; mean image MAE/SSIM against the target."""
    if changes.empty:
        return pd.DataFrame({"note": ["no held-out subject with two or more sessions"]})
    table = changes.copy()
    table["error_vs_observed_pp"] = table["predicted_pct"] - table["observed_pct"]
    if truth_volumes is not None:
        table = table.merge(
            true_session_changes(truth_volumes, table), on=["target_scan", "structure"], how="left"
        )
        table["error_vs_truth_pp"] = table["predicted_pct"] - table["true_pct"]
    rows = []
    for (method, structure), part in table.groupby(["method", "structure"], sort=False):
        row = {
            "method": method,
            "structure": structure,
            "n_subjects": int(part["subject"].nunique()),
            "horizon_years": float(part["horizon_years"].mean()),
            "predicted_mean_pct": float(part["predicted_pct"].mean()),
            "observed_mean_pct": float(part["observed_pct"].mean()),
            "abs_error_vs_observed_pp": float(part["error_vs_observed_pp"].abs().mean()),
        }
        if "true_pct" in part:
            row["true_mean_pct"] = float(part["true_pct"].mean())
            row["abs_error_vs_truth_pp"] = float(part["error_vs_truth_pp"].abs().mean())
        row["image_mae"] = float(part["mae"].mean())
        row["image_ssim"] = float(part["ssim"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def forecast_headline(
    summary: pd.DataFrame, structures: tuple[str, ...] = ("hippocampus", "lateral_ventricles")
) -> list[str]:
    """Markdown lines of the headline: per structure, each method's mean absolute error."""
    if "method" not in summary:
        return []
    against = "truth" if "abs_error_vs_truth_pp" in summary else "observed"
    lines = [f"- Forecast of the last scan (held-out subjects), |predicted - {against} change|:"]
    for structure in structures:
        part = summary[summary["structure"] == structure]
        if part.empty:
            continue
        errors = ", ".join(
            f"{r['method']} {r[f'abs_error_vs_{against}_pp']:.1f} pp" for _, r in part.iterrows()
        )
        lines.append(f"  - {structure} (n = {part['n_subjects'].max()}): {errors}")
    return lines
