"""The training table (one row per step) and its plot.

Columns: step, epoch, lr, loss, then one ``loss_<term>`` column per term of the family's
objective (their sum is `loss`), the family's statistics (e.g. ``perplexity_l0``...), seconds
(wall time since the start, provenance: it differs between runs), and val_mae, val_psnr,
val_ssim (n/a except at evaluation steps). The columns follow whatever the family reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from latentcf.io import save_figure_atomic, write_tsv_atomic

LEADING = ["step", "epoch", "lr", "loss"]
TRAILING = ["seconds", "val_mae", "val_psnr", "val_ssim"]


def table_columns(rows: Sequence[dict]) -> list[str]:
    """Column order: LEADING, loss terms, statistics (first-seen order), TRAILING."""
    seen = list(dict.fromkeys(k for row in rows for k in row))
    middle = [k for k in seen if k not in LEADING + TRAILING]
    terms = [k for k in middle if k.startswith("loss_")]
    return LEADING + terms + [k for k in middle if k not in terms] + TRAILING


def write_table(rows: Sequence[dict], path: str | Path) -> Path:
    """Write rows as a TSV with :func:`table_columns` (missing values n/a), atomically."""
    df = pd.DataFrame(list(rows)).reindex(columns=table_columns(rows))
    df["step"] = df["step"].astype("Int64")
    df["epoch"] = df["epoch"].astype("Int64")
    return write_tsv_atomic(df, path)


def plot_table(table: pd.DataFrame | str | Path, path: str | Path) -> Path:
    """Four panels: loss terms, the family's statistics, validation MAE, validation SSIM (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = table if isinstance(table, pd.DataFrame) else pd.read_csv(table, sep="\t", na_values="n/a")
    terms = ["loss"] + [c for c in df.columns if c.startswith("loss_")]
    stats = [c for c in df.columns if c not in LEADING + TRAILING + terms]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), constrained_layout=True)
    ax = axes[0, 0]
    for col in terms:
        values = _smooth(df[col].to_numpy(float))
        if np.all(values > 0):
            ax.plot(df["step"], values, label=col)
    ax.set_yscale("log")
    ax.set(title="training loss and its terms (smoothed)", xlabel="step")
    ax.legend()
    ax = axes[0, 1]
    for col in stats:
        if df[col].notna().any():
            ax.plot(df["step"], df[col], label=col, lw=0.8)
    ax.set(title="model statistics per batch", xlabel="step")
    if stats:
        ax.legend(fontsize=7)
    val = df[df["val_ssim"].notna()]
    axes[1, 0].plot(val["step"], val["val_mae"], "o-")
    axes[1, 0].set(title="validation MAE inside the brain", xlabel="step")
    axes[1, 1].plot(val["step"], val["val_ssim"], "o-")
    axes[1, 1].set(title="validation SSIM inside the brain", xlabel="step")
    return save_figure_atomic(fig, path, dpi=100)


def _smooth(values: np.ndarray, window: int = 25) -> np.ndarray:
    if len(values) < window:
        return values
    return pd.Series(values).rolling(window, min_periods=1).mean().to_numpy()
