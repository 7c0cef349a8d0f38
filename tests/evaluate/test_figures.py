"""Evaluation figures where there is nothing to plot: a cohort without ground truth, or a model
without counterfactuals, still gets its ground-truth figure (one panel saying why it is empty)."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pandas as pd

from latentcf.evaluate.figures import plot_ground_truth

COLUMNS = ["intervention", "structure", "scans", "true_pct", "tbm_pct"]


def test_ground_truth_figure_without_rows_says_why(tmp_path):
    path = plot_ground_truth(pd.DataFrame(columns=COLUMNS), tmp_path / "gt.png", "no truth here")
    image = matplotlib.image.imread(path)
    assert image.shape[0] < image.shape[1]  # the one-panel note, not a panel per intervention
    assert (image[..., :3] < 0.5).any()  # the note's text is drawn


def test_ground_truth_figure_has_a_panel_per_intervention(tmp_path):
    table = pd.DataFrame(
        [
            ["age10", "hippocampus", "held-out", -5.0, -4.0],
            ["dxAD", "hippocampus", "train", -10.0, -8.0],
        ],
        columns=COLUMNS,
    )
    one = matplotlib.image.imread(plot_ground_truth(table[:1], tmp_path / "one.png"))
    two = matplotlib.image.imread(plot_ground_truth(table, tmp_path / "two.png"))
    assert one.shape[0] == two.shape[0] and np.isclose(two.shape[1], 2 * one.shape[1], rtol=0.02)
