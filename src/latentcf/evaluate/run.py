"""The evaluate stage of one model: every table and figure, and the headline numbers.

Writes into one folder (names in :data:`OUTPUTS`): reconstruction metrics of held-out scans;
volumes of reconstructions against real scans; effectiveness and minimality of each
intervention; group effects (age slope, level effect, Cohen's d with bootstrap intervals) on
real scans, reconstructions and counterfactual cohorts (and the truth and the configured effects
on the demo); the ground-truth comparison (demo: predicted vs true change, image error against
the true counterfactual); composition and reversibility; figures; ``evaluation.md`` with the
headline numbers for summary.md; and an HTML page per table for the report.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from latentcf import derivatives
from latentcf.cohort import read_cohort
from latentcf.config import validate_section
from latentcf.evaluate import cycles, figures, tables
from latentcf.evaluate.chunks import CHANGES_TABLE, VOLUMES_TABLE
from latentcf.evaluate.forecasts import forecast_headline, forecast_summary
from latentcf.evaluate.measurement import _on_grid
from latentcf.evaluate.stats import bootstrap
from latentcf.interventions import FACTUAL, NULL, parse_interventions
from latentcf.io import write_text_atomic, write_tsv_atomic
from latentcf.metrics import masked_metrics
from latentcf.preprocess.register import load_transform
from latentcf.report_tables import write_html_tables
from latentcf.scm.fitted import FittedSCM
from latentcf.segment import STRUCTURES

log = logging.getLogger(__name__)

OUTPUTS = derivatives.EVALUATE_OUTPUTS
#: The note of the counterfactual tables of a model outside `counterfactual.models`.
NO_COUNTERFACTUALS = "no counterfactuals for this model (it is not in counterfactual.models)"
#: The note of the forecast table of a model outside `forecast.models`.
NO_FORECASTS = "no forecasts for this model (it is not in forecast.models)"


@dataclass(frozen=True)
class CounterfactualInputs:
    """A model's counterfactual stage outputs, as the evaluation reads them.

    scm_files : (design.json, coefficients.npz) of fit_scm.
    segment_dirs : segment_counterfactuals chunk folders (volumes.tsv, changes.tsv).
    counterfactual_dirs : counterfactual chunk folders (counterfactuals.tsv and the images).
    """

    scm_files: tuple[str | Path, str | Path]
    segment_dirs: Sequence[str | Path]
    counterfactual_dirs: Sequence[str | Path]


def _concat(folders: Sequence[str | Path], name: str) -> pd.DataFrame:
    return pd.concat(
        [
            pd.read_csv(Path(f) / name, sep="\t", keep_default_na=False, na_values=["n/a"])
            for f in folders
        ],
        ignore_index=True,
    )


def _design_covariates(
    covariates: Mapping[str, Mapping[str, Any]], image_parents, interventions
) -> tuple[str | None, tuple[str, str, str] | None]:
    """The age-like covariate (the first numeric image parent) and the group of the group
    effects, (covariate, level, reference): the first categorical image parent that an
    intervention sets (the demo: diagnosis AD vs CN), else the first categorical image parent."""
    names = image_parents or list(covariates)
    age = next((n for n in names if covariates[n]["type"] == "numeric"), None)
    categorical = [n for n in names if covariates[n]["type"] == "categorical"]
    set_by_interventions = [n for n in categorical if any(n in iv.set for iv in interventions)]
    chosen = (set_by_interventions or categorical or [None])[0]
    if chosen is None:
        return age, None
    spec = covariates[chosen]
    reference = spec.get("reference") or spec["levels"][0]
    return age, (chosen, next(lv for lv in spec["levels"] if lv != reference), reference)


def run_evaluate(
    *,
    cohort_tsv: str | Path,
    covariates: Mapping[str, Mapping[str, Any]],
    image_parents: Sequence[str] | None,
    interventions: Sequence[Mapping[str, Any]],
    model_path: str | Path,
    model_config: Mapping[str, Any],
    reconstruction_tsv: str | Path,
    real_segment_dirs: Sequence[str | Path],
    counterfactuals: CounterfactualInputs | None,
    images: Mapping[str, str | Path],
    masks: Mapping[str, str | Path],
    out_dir: str | Path,
    resolution_mm: int,
    seed: int,
    evaluate_config: Mapping[str, Any] | None = None,
    truth: Mapping[str, Any] | None = None,
    forecast: tuple[str | Path, str | Path] | None = None,
    threads: int = 1,
) -> dict[str, Path]:
    """Write every output of :data:`OUTPUTS` into `out_dir`.

    `counterfactuals`: None for a model outside counterfactual.models: the reconstruction-volume,
    effectiveness and ground-truth tables then hold a note, the group effects cover the real
    scans (and the truth) only, and the soundness checks composition only.
    `truth` (demo only): {"volumes": truth_counterfactuals/volumes.tsv, "folder": that folder,
    "atrophy": the demo config's atrophy section, and with `counterfactuals` "raw": {scan: raw
    T1w}, "transforms": {scan: .mat}, "measurement": measurement_check.tsv}; None for real cohorts
    (the ground-truth outputs then hold a one-line note).
    `forecast`: (forecast_changes.tsv of measure_forecasts, the forecast stage's
    forecast_errors.tsv); None (a model outside forecast.models): the forecast table holds a
    one-line note.
    """
    import torch

    from latentcf.models.checkpoint import load_model

    torch.set_num_threads(max(1, int(threads)))
    cfg = validate_section(evaluate_config, "evaluate.schema.yaml", "evaluate")
    out = Path(out_dir)
    paths = {k: out / v for k, v in OUTPUTS.items()}
    structures = list(STRUCTURES)
    cohort = read_cohort(cohort_tsv, covariates)
    ivs = parse_interventions(interventions, covariates)
    age, group = _design_covariates(covariates, image_parents, ivs)

    # -- reconstruction and what the autoencoder distorts
    reconstruction = pd.read_csv(reconstruction_tsv, sep="\t")
    write_tsv_atomic(reconstruction, paths["reconstruction"])
    real_volumes = _concat(real_segment_dirs, VOLUMES_TABLE)
    with_cf = counterfactuals is not None
    no_counterfactuals = pd.DataFrame({"note": [NO_COUNTERFACTUALS]})  # a table's whole content
    model_volumes = changes = cf_covariates = None
    if with_cf:
        model_volumes = _concat(counterfactuals.segment_dirs, VOLUMES_TABLE)
        changes = _concat(counterfactuals.segment_dirs, CHANGES_TABLE)
        cf_covariates = _concat(
            counterfactuals.counterfactual_dirs, derivatives.COUNTERFACTUALS_TABLE
        )
        recon_volumes = tables.recon_vs_real(real_volumes, model_volumes, cohort, structures)
    else:
        recon_volumes = no_counterfactuals
    write_tsv_atomic(recon_volumes, paths["recon_volumes"])

    # -- ground truth (demo)
    true = targets = None
    if truth is not None:
        true_volumes = pd.read_csv(truth["volumes"], sep="\t")
        true = tables.true_changes(true_volumes, structures)
        targets = tables.targets_from_truth(true)
    effectiveness = (
        tables.effectiveness(changes, cohort, targets) if with_cf else no_counterfactuals
    )
    write_tsv_atomic(effectiveness, paths["effectiveness"])
    if true is not None and with_cf:
        pairs = pd.read_csv(truth["measurement"], sep="\t") if truth.get("measurement") else None
        gt = tables.ground_truth(changes, true, cohort, pairs)
        gt = gt.merge(
            _image_errors(
                truth,
                cohort,
                counterfactuals.counterfactual_dirs,
                cf_covariates,
                images,
                masks,
                resolution_mm,
                model_config["family"],
            ),
            on=["scan", "intervention"],
            how="left",
        )
        summary = tables.ground_truth_summary(gt)
        figures.plot_ground_truth(gt, paths["ground_truth_figure"])
    else:
        note = (
            "no ground truth for this cohort (the demo cohort ships it)"
            if with_cf
            else NO_COUNTERFACTUALS
        )
        gt = summary = pd.DataFrame({"note": [note]})
        figures.plot_ground_truth(
            pd.DataFrame(columns=["intervention", "structure", "scans", "true_pct", "tbm_pct"]),
            paths["ground_truth_figure"],
            note,
        )
    write_tsv_atomic(gt, paths["ground_truth"])
    write_tsv_atomic(summary, paths["ground_truth_summary"])

    # -- group effects
    effects = _group_effects(
        cohort,
        real_volumes,
        model_volumes,
        changes,
        cf_covariates,
        ivs,
        structures,
        age,
        group,
        cfg,
        seed,
        truth,
    )
    write_tsv_atomic(effects, paths["group_effects"])
    figures.plot_effect_sizes(effects, paths["effect_sizes"])
    _plot_volumes(
        cohort,
        real_volumes,
        model_volumes,
        changes,
        cf_covariates,
        ivs,
        structures,
        age,
        group,
        paths["volumes_vs_age"],
    )

    # -- composition and reversibility (the latter through the SCM: models with counterfactuals)
    model, meta = load_model(model_path, dict(model_config))
    scm = FittedSCM.load(*counterfactuals.scm_files) if with_cf else None
    held_out = [s for s in reconstruction["scan"] if s in images][: cfg["cycle_scans"]]
    soundness_rows = []
    factual = cohort.set_index("scan", drop=False)
    for scan in held_out:
        image = np.asarray(nib.load(str(images[scan])).dataobj, dtype=np.float32)
        mask = np.asarray(nib.load(str(masks[scan])).dataobj) > 0
        for row in cycles.composition(model, meta["scm_latent"], image, mask, cfg["null_cycles"]):
            soundness_rows.append(
                {
                    "scan": scan,
                    "check": "composition (null cycles)",
                    "detail": f"cycle {row['cycle']} vs {row['compared_to']}",
                    "l1": row["l1"],
                    "ssim": row["ssim"],
                }
            )
        reversibility = (
            cycles.reversibility(model, scm, image, mask, factual.loc[[scan]], ivs) if scm else []
        )
        for row in reversibility:
            soundness_rows.append(
                {
                    "scan": scan,
                    "check": "reversibility (A -> back -> A)",
                    "detail": row["intervention"],
                    "l1": row["l1"],
                    "ssim": row["ssim"],
                }
            )
    soundness = pd.DataFrame(soundness_rows, columns=["scan", "check", "detail", "l1", "ssim"])
    write_tsv_atomic(soundness, paths["soundness"])

    measurement = None
    if truth is not None and truth.get("measurement") and with_cf:
        check = pd.read_csv(truth["measurement"], sep="\t")
        measurement = (
            check.groupby(["intervention", "structure"])
            .agg(n=("error_pp", "size"), measured_pct=("measured_pct", "mean"), true_pct=("true_pct", "mean"),
                 mean_error_pp=("error_pp", "mean"), sd_error_pp=("error_pp", "std"))
            .reset_index()
        )  # fmt: skip
    forecast_table = forecast_errors = None
    if forecast is not None:
        truth_volumes = pd.read_csv(truth["volumes"], sep="\t") if truth is not None else None
        forecast_table = forecast_summary(pd.read_csv(forecast[0], sep="\t"), truth_volumes)
        forecast_errors = pd.read_csv(forecast[1], sep="\t")
    else:
        forecast_table = pd.DataFrame({"note": [NO_FORECASTS]})
    write_tsv_atomic(forecast_table, paths["forecast"])
    write_text_atomic(
        _headline(
            reconstruction,
            summary if true is not None and with_cf else None,
            effects,
            soundness,
            measurement,
            with_cf,
        )
        + "".join(line + "\n" for line in forecast_headline(forecast_table)),
        paths["headline"],
    )
    sections = {
        "Ground truth, held-out and train scans: counterfactual vs true volume change": summary,
        "The measurement itself on the true pairs (its own error)": measurement,
        "Group effects (bootstrap 95 % intervals)": effects,
        "Effectiveness and minimality (change against the null image, %)": effectiveness,
        "Reconstruction volumes against real scans": recon_volumes,
        "Composition and reversibility (through the encoder)": soundness,
        "Forecasts of the last scan: predicted vs observed (and true) change, image error": (
            forecast_table
        ),
        "Forecasts in latent space: relative L2 error by method and number of scans": (
            forecast_errors
        ),
    }
    write_html_tables(
        {k: v for k, v in sections.items() if v is not None},
        paths["tables_html"],
        title="Evaluation tables",
    )
    return paths


def _image_errors(
    truth, cohort, counterfactual_dirs, cf_covariates, images, masks, resolution_mm, family
) -> pd.DataFrame:
    """Per scan and intervention: MAE/SSIM of the counterfactual against the true counterfactual
    brought onto the model grid like preprocessing (the factual preprocessed image plus the true
    change measured on the raw scans, scaled with the factual scan's brain percentiles)."""
    rows = []
    folder_of = {}
    for folder in counterfactual_dirs:
        for scan in pd.read_csv(Path(folder) / derivatives.COUNTERFACTUALS_TABLE, sep="\t")["scan"]:
            folder_of[scan] = Path(folder)
    for scan, folder in folder_of.items():
        if scan not in truth["raw"]:
            continue
        mask_img = nib.load(str(masks[scan]))
        mask = np.asarray(mask_img.dataobj) > 0
        xfm = load_transform(truth["transforms"][scan])
        factual_raw = _on_grid(truth["raw"][scan], xfm, mask_img)
        lo, hi = np.percentile(factual_raw[mask], [0.5, 99.5])
        preprocessed = np.asarray(nib.load(str(images[scan])).dataobj, dtype=np.float32)
        names = [
            n
            for n in cf_covariates.loc[cf_covariates["scan"] == scan, "intervention"]
            if n != FACTUAL
        ]
        for name in names:
            true_raw = _on_grid(
                Path(truth["folder"]) / f"{scan}_cf-{name}_T1w.nii.gz", xfm, mask_img
            )
            true_cf = np.clip(preprocessed + (true_raw - factual_raw) / (hi - lo) * mask, 0, None)
            cf = np.asarray(
                nib.load(
                    str(folder / derivatives.counterfactual_file(scan, resolution_mm, name, family))
                ).dataobj,
                np.float32,
            )
            metrics = masked_metrics(cf, true_cf, mask)
            rows.append(
                {
                    "scan": scan,
                    "intervention": name,
                    "image_mae": metrics["mae"],
                    "image_ssim": metrics["ssim"],
                }
            )
    return pd.DataFrame(rows, columns=["scan", "intervention", "image_mae", "image_ssim"])


def _group_effects(
    cohort,
    real_volumes,
    model_volumes,
    changes,
    cf_covariates,
    ivs,
    structures,
    age,
    group,
    cfg,
    seed,
    truth,
) -> pd.DataFrame:
    covariate_columns = [
        "scan",
        "participant_id",
        *[
            c
            for c in cohort.columns
            if c not in ("scan", "participant_id", "session_id", "path", "split")
        ],
    ]
    base = cohort[covariate_columns]

    def with_volumes(volumes: pd.DataFrame, image: str) -> pd.DataFrame:
        wide = (
            tables.structure_volumes(volumes, structures)
            .query("image == @image")
            .drop(columns="image")
        )
        return base.merge(wide, on="scan")

    sources = {}
    configured: dict[str, dict[str, float]] = {}
    if truth is not None and age and group:
        true_volumes = pd.read_csv(truth["volumes"], sep="\t").query("intervention == 'factual'")
        icv = true_volumes["intracranial"]
        adjusted = true_volumes[["scan", *[s for s in structures if s in true_volumes]]].copy()
        for s in adjusted.columns[1:]:
            adjusted[s] = (
                true_volumes[s] * icv.mean() / icv
            )  # head size out, as template space does
        sources["truth"] = base.merge(adjusted, on="scan")
        for s, spec in (truth.get("atrophy") or {}).items():
            configured[s] = {
                f"{age} slope (%/year)": 100 * math.log1p(spec["age_rate"]),
                f"{group[0]} {group[1]} vs {group[2]} (%)": 100 * spec["ad_effect"],
            }
    sources["real scans"] = with_volumes(real_volumes, FACTUAL)
    if model_volumes is not None:
        sources["reconstructions"] = with_volumes(model_volumes, NULL)
    if group and changes is not None:
        setting = [
            iv.name for iv in ivs if iv.set.get(group[0]) in (group[1], group[2]) and not iv.shift
        ]
        if len({iv.set[group[0]] for iv in ivs if iv.name in setting}) == 2:
            cohorts = tables.counterfactual_cohorts(
                model_volumes, changes, cf_covariates, structures, setting
            )
            sources[f"counterfactual cohorts ({' vs '.join(setting)})"] = cohorts
    if not (age and group):
        return pd.DataFrame(
            columns=["structure", "source", "effect", "estimate", "ci_low", "ci_high", "configured"]
        )
    effects = tables.group_effects(
        sources, structures, age, group, cfg["bootstrap_draws"], seed, configured
    )
    # within-subject age effect of each age-shift intervention: 100 log(1 + change) / shift
    for iv in ivs if changes is not None else []:
        if set(iv.targets) != {age} or not iv.shift:
            continue
        rows = changes[changes["intervention"] == iv.name].merge(
            base[["scan", "participant_id"]], on="scan"
        )
        for s in structures:
            part = rows[rows["structure"] == s].copy()
            part["slope"] = 100 * np.log1p(part["tbm_pct"] / 100) / iv.shift[age]
            slopes = part["slope"].to_numpy()
            estimate, low, high = bootstrap(
                part["participant_id"],
                lambda r, v=slopes: float(v[r].mean()),
                draws=cfg["bootstrap_draws"],
                seed=seed,
            )
            effects.loc[len(effects)] = {
                "structure": s, "source": f"counterfactual {iv.name} (within subject)", "effect": f"{age} slope (%/year)",
                "estimate": estimate, "ci_low": low, "ci_high": high,
                "configured": configured.get(s, {}).get(f"{age} slope (%/year)", np.nan),
            }  # fmt: skip
    return effects


def _plot_volumes(
    cohort, real_volumes, model_volumes, changes, cf_covariates, ivs, structures, age, group, path
) -> None:
    colour = group[0] if group else "split"
    real = cohort.merge(
        tables.structure_volumes(real_volumes, structures).query("image == 'factual'"), on="scan"
    )
    shifts = [iv.name for iv in ivs if age in iv.shift]
    cf = (
        tables.counterfactual_cohorts(model_volumes, changes, cf_covariates, structures, shifts[:1])
        if changes is not None
        else real.iloc[:0]
    )
    if not len(cf):
        cf = real.iloc[:0]
    figures.plot_volumes_vs_age(
        real, cf, [s for s in structures if s in real.columns], age or "age", colour, path
    )


def _headline(
    reconstruction, gt_summary, effects, soundness, measurement, with_counterfactuals
) -> str:
    lines = ["## Evaluation", ""]
    lines.append(
        f"- Held-out reconstruction: SSIM {reconstruction['ssim'].mean():.3f}, "
        f"PSNR {reconstruction['psnr'].mean():.1f} dB, MAE {reconstruction['mae'].mean():.3f}, "
        f"MSE {reconstruction['mse'].mean():.4f} "
        f"(n = {len(reconstruction)})."
    )
    if not with_counterfactuals:
        lines.append(f"- Counterfactuals: {NO_COUNTERFACTUALS}.")
    if gt_summary is not None:
        held = gt_summary[gt_summary["scans"] == tables.HELD_OUT]
        lines.append("- Ground truth, held-out scans: counterfactual vs true volume change:")
        for _, r in held.iterrows():
            against_pairs = ""
            if r["n_true_pairs"]:
                against_pairs = f"; {r['mean_error_vs_true_pair_pp']:+.1f} pp against the measurement of the true pairs"
            lines.append(
                f"  - {r['intervention']}, {r['structure']}: {r['predicted_pct']:+.1f} % vs "
                f"{r['true_pct']:+.1f} % (error {r['mean_error_pp']:+.1f} pp{against_pairs}, n = {r['n']})"
            )
    if measurement is not None:
        lines.append("- The measurement on the true pairs (its own error, mean +- SD, pp):")
        for _, r in measurement.iterrows():
            lines.append(
                f"  - {r['intervention']}, {r['structure']}: {r['mean_error_pp']:+.1f} +- {r['sd_error_pp']:.1f}"
            )
    composition = soundness[soundness["check"].str.startswith("composition")]
    for detail, part in composition.groupby("detail", sort=False):
        lines.append(
            f"- Composition, {detail}: SSIM {part['ssim'].mean():.3f}, L1 {part['l1'].mean():.4f}."
        )
    reversibility = soundness[soundness["check"].str.startswith("reversibility")]
    for detail, part in reversibility.groupby("detail", sort=False):
        lines.append(
            f"- Reversibility, {detail} and back: SSIM {part['ssim'].mean():.3f} to the reconstruction."
        )
    return "\n".join(lines) + "\n"
