"""The training table (one row per step) and its plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from latentcf.io import save_figure_atomic, write_tsv_atomic

#: Columns of training.tsv, in order. val_* are NaN except at evaluation steps.
COLUMNS = [
    "step",
    "epoch",
    "lr",
    "loss",
    "l1",
    "commitment",
    "ssim_loss",
    "perplexity_l0",
    "perplexity_l1",
    "codes_used",
    "dead_codes",
    "seconds",
    "val_mae",
    "val_psnr",
    "val_ssim",
]


def write_table(rows: Sequence[dict], path: str | Path) -> Path:
    """Write rows as a TSV with :data:`COLUMNS` (missing values NaN), atomically."""
    df = pd.DataFrame(list(rows)).reindex(columns=COLUMNS)
    df["step"] = df["step"].astype("Int64")
    return write_tsv_atomic(df, path)


def plot_table(table: pd.DataFrame | str | Path, path: str | Path) -> Path:
    """Four panels: training losses, codebook usage, validation MAE, validation SSIM (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = table if isinstance(table, pd.DataFrame) else pd.read_csv(table, sep="\t", na_values="n/a")
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), constrained_layout=True)
    ax = axes[0, 0]
    for col in ("loss", "l1", "commitment"):
        ax.plot(df["step"], _smooth(df[col].to_numpy(float)), label=col)
    ax.set_yscale("log")
    ax.set(title="training losses (smoothed)", xlabel="step")
    ax.legend()
    ax = axes[0, 1]
    for col in ("perplexity_l0", "perplexity_l1", "codes_used", "dead_codes"):
        if col in df and df[col].notna().any():
            ax.plot(df["step"], df[col], label=col, lw=0.8)
    ax.set(title="codebook usage per batch (dead: EMA count < threshold)", xlabel="step")
    ax.legend()
    val = df[df["val_ssim"].notna()] if "val_ssim" in df else df.iloc[:0]
    axes[1, 0].plot(val["step"], val["val_mae"], "o-")
    axes[1, 0].set(title="validation MAE inside the brain", xlabel="step")
    axes[1, 1].plot(val["step"], val["val_ssim"], "o-")
    axes[1, 1].set(title="validation SSIM inside the brain", xlabel="step")
    return save_figure_atomic(fig, path, dpi=100)


def _smooth(values: np.ndarray, window: int = 25) -> np.ndarray:
    if len(values) < window:
        return values
    return pd.Series(values).rolling(window, min_periods=1).mean().to_numpy()
