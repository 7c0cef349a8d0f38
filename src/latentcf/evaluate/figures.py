"""Figures of the evaluation: volumes against age with counterfactual points, effect sizes with
intervals, predicted against true changes (demo)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from latentcf.io import save_figure_atomic


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_volumes_vs_age(
    real: pd.DataFrame,
    counterfactual: pd.DataFrame,
    structures: Sequence[str],
    age: str,
    colour_by: str,
    path: str | Path,
) -> Path:
    """One panel per structure: real scans' volume against age (colour: `colour_by`), and each
    scan's age counterfactual (open markers) joined to its scan by a line.

    `real`: scan, age, colour_by and one column per structure; `counterfactual`: the same for
    the counterfactual points (covariates after the intervention).
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(structures), figsize=(4 * len(structures), 3.6), squeeze=False)
    levels = sorted(real[colour_by].astype(str).unique())
    colours = dict(zip(levels, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for ax, structure in zip(axes[0], structures, strict=True):
        for _, cf in counterfactual.iterrows():
            factual = real[real["scan"] == cf["scan"]]
            if len(factual):
                ax.plot(
                    [factual[age].iloc[0], cf[age]],
                    [factual[structure].iloc[0], cf[structure]],
                    color="0.7",
                    lw=0.8,
                    zorder=1,
                )
        for level in levels:
            part = real[real[colour_by].astype(str) == level]
            ax.scatter(
                part[age],
                part[structure],
                s=18,
                color=colours[level],
                label=f"{level} (real)",
                zorder=2,
            )
            cf = counterfactual[counterfactual["scan"].isin(part["scan"])]
            ax.scatter(
                cf[age],
                cf[structure],
                s=18,
                facecolors="none",
                edgecolors=colours[level],
                label=f"{level} (counterfactual)",
                zorder=3,
            )
        ax.set(title=structure.replace("_", " "), xlabel=age, ylabel="volume (ml, template space)")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return save_figure_atomic(fig, path, dpi=90)


def plot_effect_sizes(effects: pd.DataFrame, path: str | Path) -> Path:
    """Rows: effects; columns: structures; bars per source with bootstrap intervals and the
    configured value (demo) as a dashed line."""
    plt = _pyplot()
    kinds = list(dict.fromkeys(effects["effect"]))
    structures = list(dict.fromkeys(effects["structure"]))
    sources = list(dict.fromkeys(effects["source"]))
    fig, axes = plt.subplots(
        len(kinds),
        len(structures),
        figsize=(3.2 * len(structures), 2.8 * len(kinds)),
        squeeze=False,
    )
    for r, kind in enumerate(kinds):
        for c, structure in enumerate(structures):
            ax = axes[r, c]
            part = effects[(effects["effect"] == kind) & (effects["structure"] == structure)]
            part = part.set_index("source").reindex(sources)
            x = np.arange(len(sources))
            est = part["estimate"].to_numpy(float)
            err = np.vstack(
                [est - part["ci_low"].to_numpy(float), part["ci_high"].to_numpy(float) - est]
            )
            ax.bar(
                x,
                np.nan_to_num(est),
                yerr=np.nan_to_num(np.abs(err)),
                color="tab:blue",
                alpha=0.7,
                capsize=3,
            )
            configured = part["configured"].dropna()
            if len(configured):
                ax.axhline(float(configured.iloc[0]), color="k", ls="--", lw=1, label="configured")
                ax.legend(fontsize=6)
            ax.set_xticks(x, sources, rotation=35, ha="right", fontsize=7)
            ax.axhline(0, color="0.5", lw=0.5)
            ax.set_title(f"{structure.replace('_', ' ')}\n{kind}", fontsize=8)
    fig.tight_layout()
    return save_figure_atomic(fig, path, dpi=90)


def plot_ground_truth(table: pd.DataFrame, path: str | Path, note: str = "") -> Path:
    """Predicted (TBM) against true relative change, one panel per intervention; held-out scans
    filled, train scans open; the identity line. An empty `table` gives one panel saying `note`
    (no ground truth, or no counterfactuals)."""
    plt = _pyplot()
    interventions = list(dict.fromkeys(table["intervention"]))
    if not interventions:
        fig, ax = plt.subplots(figsize=(4, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, note or "nothing to compare", ha="center", va="center", wrap=True)
        return save_figure_atomic(fig, path, dpi=90)
    fig, axes = plt.subplots(
        1, len(interventions), figsize=(4 * len(interventions), 3.8), squeeze=False
    )
    structures = list(dict.fromkeys(table["structure"]))
    colours = dict(zip(structures, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for ax, intervention in zip(axes[0], interventions, strict=True):
        part = table[table["intervention"] == intervention]
        for structure in structures:
            rows = part[part["structure"] == structure]
            held = rows["scans"] != "train"
            ax.scatter(
                rows.loc[held, "true_pct"],
                rows.loc[held, "tbm_pct"],
                s=22,
                color=colours[structure],
                label=structure,
            )
            ax.scatter(
                rows.loc[~held, "true_pct"],
                rows.loc[~held, "tbm_pct"],
                s=14,
                facecolors="none",
                edgecolors=colours[structure],
            )
        lim = np.nanmax(np.abs(part[["true_pct", "tbm_pct"]].to_numpy())) * 1.1 or 1.0
        ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
        ax.set(
            xlim=(-lim, lim),
            ylim=(-lim, lim),
            title=intervention,
            xlabel="true change (%)",
            ylabel="counterfactual change (%)",
        )
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return save_figure_atomic(fig, path, dpi=90)
