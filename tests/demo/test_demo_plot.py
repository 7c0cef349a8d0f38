"""The ground-truth figure is drawn from volumes.tsv."""

from __future__ import annotations

import pytest
from image_checks import assert_figure_panels

from latentcf.demo.plot import plot_truth_volumes
from latentcf.errors import InputDataError


def test_plot_truth_volumes(tiny_bids, tmp_path):
    out = plot_truth_volumes(
        tiny_bids / "derivatives" / "truth" / "volumes.tsv", tmp_path / "fig" / "v.png"
    )
    # One panel per structure group, raw and ICV-adjusted.
    assert_figure_panels(out, rows=2, columns=4)


def test_plot_rejects_wrong_table(tmp_path):
    bad = tmp_path / "volumes.tsv"
    bad.write_text("participant_id\tage\nsub-001\t70\n")
    with pytest.raises(InputDataError, match="missing columns"):
        plot_truth_volumes(bad, tmp_path / "v.png")
