"""Figure of the true regional volumes versus age, by diagnosis (factual scans only)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from latentcf.demo.anatomy import STRUCTURE_GROUPS
from latentcf.errors import InputDataError
from latentcf.io import save_figure_atomic

_COLOURS = {"CN": "tab:blue", "AD": "tab:red"}


def plot_truth_volumes(volumes_tsv: str | Path, out_png: str | Path) -> Path:
    """Plot each structure group's true volume (cm^3) against age, coloured by diagnosis,
    sessions of a subject joined by a line; top row raw, bottom row adjusted for intracranial
    volume (ICV). Reads derivatives/truth/volumes.tsv (factual rows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    volumes_tsv = Path(volumes_tsv)
    table = pd.read_csv(volumes_tsv, sep="\t")
    needed = {
        "participant_id",
        "intervention",
        "age",
        "diagnosis",
        "intracranial",
        *STRUCTURE_GROUPS,
    }
    missing = sorted(needed - set(table.columns))
    if missing:
        raise InputDataError(volumes_tsv, f"missing columns {missing}")
    table = table[table["intervention"] == "factual"].sort_values(["participant_id", "age"])
    n = len(STRUCTURE_GROUPS)
    fig, axes = plt.subplots(2, n, figsize=(4 * n, 7), squeeze=False)
    icv = table["intracranial"] / table["intracranial"].mean()
    rows = [("true volume (cm$^3$)", 1.0), ("ICV-adjusted volume (cm$^3$)", icv)]
    for (ylabel, divisor), row_axes in zip(rows, axes, strict=True):
        for ax, group in zip(row_axes, STRUCTURE_GROUPS, strict=True):
            values = table[group] / divisor / 1000
            for _, subj in table.assign(v=values).groupby("participant_id"):
                if len(subj) > 1:
                    ax.plot(subj["age"], subj["v"], color="0.75", lw=0.8, zorder=1)
            for dx, sel in table.groupby("diagnosis").groups.items():
                ax.scatter(
                    table.loc[sel, "age"],
                    values[sel],
                    s=18,
                    label=dx,
                    color=_COLOURS.get(dx),
                    zorder=2,
                )
            ax.set_title(group.replace("_", " "))
            ax.set_xlabel("age (years)")
            ax.set_ylabel(ylabel)
    axes[0, 0].legend(title="diagnosis")
    n_subj, n_scans = table["participant_id"].nunique(), len(table)
    fig.suptitle(
        f"Demo cohort ground truth: {n_subj} subjects, {n_scans} scans "
        "(bottom: volume x mean ICV / ICV, removes head size)"
    )
    fig.tight_layout()
    return save_figure_atomic(fig, out_png, dpi=100)
