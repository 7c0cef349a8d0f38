"""The ground-truth figure is drawn from volumes.tsv."""

from __future__ import annotations

import matplotlib.image as mpimg
import pytest

from latentcf.demo.plot import plot_truth_volumes
from latentcf.errors import InputDataError


def test_plot_truth_volumes(tiny_bids, tmp_path):
    out = plot_truth_volumes(
        tiny_bids / "derivatives" / "truth" / "volumes.tsv", tmp_path / "fig" / "v.png"
    )
    img = mpimg.imread(out)
    assert img.shape[0] > 200 and img.shape[1] > 800
    assert img[..., :3].std() > 0.01  # not blank


def test_plot_rejects_wrong_table(tmp_path):
    bad = tmp_path / "volumes.tsv"
    bad.write_text("participant_id\tage\nsub-001\t70\n")
    with pytest.raises(InputDataError, match="missing columns"):
        plot_truth_volumes(bad, tmp_path / "v.png")
