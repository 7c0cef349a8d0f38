"""The evaluation tables of one model, from the measurement stages' tables (pure pandas).

Inputs are long tables: ``volumes`` (scan, image, name, ml; image 'factual' for real scans, 'null'
or an intervention for the model's images), ``changes`` (scan, intervention, structure, tbm_pct,
segmentation_pct), the cohort (scan, participant_id, split, covariates) and, on the demo, the
truth volumes (scan, intervention, one column per structure). Percent changes of counterfactuals
are against the scan's null image (the model's own reconstruction), so what the autoencoder
already distorts does not count as an effect.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from latentcf.evaluate.stats import bootstrap_many, cohens_d, ols_effects

HELD_OUT = "held-out"
TRAIN = "train"


def split_group(split: pd.Series) -> pd.Series:
    """'train' or 'held-out' (val and test)."""
    return np.where(split == "train", TRAIN, HELD_OUT)


def structure_volumes(volumes: pd.DataFrame, structures: Sequence[str]) -> pd.DataFrame:
    """Wide table: one row per (scan, image), one column per structure (ml)."""
    rows = volumes[volumes["name"].isin(structures)]
    return rows.pivot_table(index=["scan", "image"], columns="name", values="ml").reset_index()


def recon_vs_real(
    real: pd.DataFrame, model: pd.DataFrame, cohort: pd.DataFrame, structures: Sequence[str]
) -> pd.DataFrame:
    """Per structure and split group: mean and SD of the reconstruction's volume error (%) and the
    correlation of real and reconstructed volumes: what the autoencoder already distorts."""
    real = structure_volumes(real, structures).query("image == 'factual'").set_index("scan")
    recon = structure_volumes(model, structures).query("image == 'null'").set_index("scan")
    group = pd.Series(split_group(cohort.set_index("scan")["split"]), index=cohort["scan"])
    rows = []
    for structure in structures:
        both = pd.DataFrame({"real": real[structure], "recon": recon[structure]}).dropna()
        both["group"] = group.reindex(both.index).to_numpy()
        for name, part in [("all", both), *both.groupby("group")]:
            error = 100 * (part["recon"] / part["real"] - 1)
            rows.append(
                {
                    "structure": structure,
                    "scans": name,
                    "n": len(part),
                    "bias_pct": error.mean(),
                    "sd_pct": error.std(ddof=1) if len(part) > 1 else np.nan,
                    "correlation": part["real"].corr(part["recon"]) if len(part) > 2 else np.nan,
                }
            )
    return pd.DataFrame(rows)


def effectiveness(
    changes: pd.DataFrame, cohort: pd.DataFrame, targets: Mapping[str, set[str]] | None = None
) -> pd.DataFrame:
    """Per intervention, structure and split group: mean and SD of the counterfactual's change (%)
    against the null image, by TBM and by segmentation; `target` says whether the structure is
    meant to change (from the truth where known; empty otherwise)."""
    table = changes.merge(cohort[["scan", "split"]], on="scan")
    table["scans"] = split_group(table["split"])
    out = (
        table.groupby(["intervention", "structure", "scans"])
        .agg(
            n=("tbm_pct", "size"),
            tbm_mean_pct=("tbm_pct", "mean"),
            tbm_sd_pct=("tbm_pct", "std"),
            segmentation_mean_pct=("segmentation_pct", "mean"),
        )
        .reset_index()
    )
    if targets is not None:
        out["target"] = [
            s in targets.get(i, set())
            for i, s in zip(out["intervention"], out["structure"], strict=True)
        ]
    return out


def true_changes(truth: pd.DataFrame, structures: Sequence[str]) -> pd.DataFrame:
    """Long table (scan, intervention, structure, true_pct) of the simulator's true changes."""
    factual = truth[truth["intervention"] == "factual"].set_index("scan")
    rows = []
    for _, row in truth[truth["intervention"] != "factual"].iterrows():
        for s in structures:
            if s in truth.columns:
                rows.append(
                    {
                        "scan": row["scan"],
                        "intervention": row["intervention"],
                        "structure": s,
                        "true_pct": 100 * (row[s] / factual.loc[row["scan"], s] - 1),
                    }
                )
    return pd.DataFrame(rows)


def targets_from_truth(true: pd.DataFrame, threshold_pct: float = 0.5) -> dict[str, set[str]]:
    """{intervention: structures whose true mean |change| is at least `threshold_pct`}."""
    means = true.groupby(["intervention", "structure"])["true_pct"].apply(lambda v: v.abs().mean())
    out: dict[str, set[str]] = {}
    for (intervention, structure), value in means.items():
        if value >= threshold_pct:
            out.setdefault(intervention, set()).add(structure)
    return out


def ground_truth(
    changes: pd.DataFrame,
    true: pd.DataFrame,
    cohort: pd.DataFrame,
    true_pairs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per scan, intervention and structure: predicted change (TBM) vs true change, error (pp).

    `true_pairs` (scan, intervention, structure, measured_pct): what the same measurement reads
    on the true pair, where it was checked; the error against it (`error_vs_true_pair_pp`)
    leaves the measurement's own error out.
    """
    keys = ["scan", "intervention", "structure"]
    table = changes.merge(true, on=keys).merge(
        cohort[["scan", "participant_id", "split"]], on="scan"
    )
    table["error_pp"] = table["tbm_pct"] - table["true_pct"]
    pairs = true_pairs if true_pairs is not None else pd.DataFrame(columns=[*keys, "measured_pct"])
    pairs = pairs[[*keys, "measured_pct"]].rename(columns={"measured_pct": "true_pair_pct"})
    table = table.merge(pairs, on=keys, how="left")
    table["error_vs_true_pair_pp"] = table["tbm_pct"] - table["true_pair_pct"]
    table["scans"] = split_group(table["split"])
    return table


def ground_truth_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per intervention, structure and split group: mean predicted, mean true, mean and mean
    absolute error (pp)."""
    return (
        table.groupby(["intervention", "structure", "scans"])
        .agg(
            n=("error_pp", "size"),
            predicted_pct=("tbm_pct", "mean"),
            true_pct=("true_pct", "mean"),
            mean_error_pp=("error_pp", "mean"),
            mean_abs_error_pp=("error_pp", lambda e: e.abs().mean()),
            n_true_pairs=("true_pair_pct", "count"),
            mean_error_vs_true_pair_pp=("error_vs_true_pair_pp", "mean"),
        )
        .reset_index()
    )


def group_effects(
    sources: Mapping[str, pd.DataFrame],
    structures: Sequence[str],
    age: str,
    group: tuple[str, str, str],
    draws: int,
    seed: int,
    configured: Mapping[str, Mapping[str, float]] | None = None,
) -> pd.DataFrame:
    """Age slope (%/year of log volume), level effect (%) and Cohen's d per structure and source.

    `sources`: name -> table with participant_id, the covariates and one volume column per
    structure (one row per scan; for counterfactual cohorts the covariates are the
    counterfactual ones). `group` = (covariate, level, reference), e.g. (diagnosis, AD, CN); rows
    at other levels are left out. Intervals: bootstrap over subjects. `configured`:
    {structure: {effect: value}} shown beside.
    """
    covariate, level, reference = group
    names = (
        f"{age} slope (%/year)",
        f"{covariate} {level} vs {reference} (%)",
        f"Cohen's d {level} vs {reference}",
    )
    rows = []
    for source, table in sources.items():
        table = table[table[covariate].isin([level, reference])]
        ages = pd.to_numeric(table[age]).to_numpy(float)
        is_level = (table[covariate] == level).to_numpy()
        for structure in [s for s in structures if s in table.columns]:
            statistics = _group_statistics(table[structure].to_numpy(float), ages, is_level)
            intervals = bootstrap_many(table["participant_id"], statistics, draws=draws, seed=seed)
            for name, estimate, low, high in zip(names, *intervals, strict=True):
                rows.append(
                    {
                        "structure": structure,
                        "source": source,
                        "effect": name,
                        "estimate": float(estimate),
                        "ci_low": float(low),
                        "ci_high": float(high),
                        "configured": (configured or {}).get(structure, {}).get(name, np.nan),
                    }
                )
    return pd.DataFrame(rows)


def _group_statistics(
    volume: np.ndarray, ages: np.ndarray, is_level: np.ndarray
) -> Callable[[np.ndarray], list[float]]:
    """Function of row indices: [age slope (%/unit of log volume), level effect (%), Cohen's d],
    the first two from one OLS fit."""
    log_v = np.log(volume)

    def statistics(r: np.ndarray) -> list[float]:
        slope, effect = ols_effects(log_v[r], np.column_stack([ages[r], is_level[r]]))
        d = cohens_d(volume[r][is_level[r]], volume[r][~is_level[r]])
        return [100.0 * slope, 100.0 * float(np.expm1(effect)), d]

    return statistics


def counterfactual_cohorts(
    volumes: pd.DataFrame,
    changes: pd.DataFrame,
    covariates: pd.DataFrame,
    structures: Sequence[str],
    interventions: Sequence[str],
    base: str = "null",
) -> pd.DataFrame:
    """One row per scan and intervention: the counterfactual covariates and each structure's
    volume = the `base` image's volume (the null image; 'factual' for the real scan) x (1 + TBM
    change): a counterfactual cohort per intervention.

    `covariates`: counterfactuals.tsv rows (scan, intervention, participant_id, covariates).
    """
    null = structure_volumes(volumes, structures).query("image == @base").set_index("scan")
    tbm = changes.pivot_table(index=["scan", "intervention"], columns="structure", values="tbm_pct")
    rows = []
    for _, row in covariates[covariates["intervention"].isin(interventions)].iterrows():
        out = row.to_dict()
        for s in structures:
            out[s] = null.loc[row["scan"], s] * (
                1 + tbm.loc[(row["scan"], row["intervention"]), s] / 100
            )
        rows.append(out)
    return pd.DataFrame(rows)
