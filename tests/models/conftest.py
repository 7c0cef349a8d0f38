"""Fixtures: a tiny synthetic 4 mm cohort (settings in the *_helpers module)."""

from __future__ import annotations

import pytest

from latentcf.train.synthetic import write_synthetic_dataset


@pytest.fixture(scope="session")
def synthetic_4mm(tmp_path_factory):
    """(images, masks): 6 synthetic model-grid volumes at 4 mm (40x48x40); 4 train + 2 val."""
    root = tmp_path_factory.mktemp("synthetic4mm")
    return write_synthetic_dataset(root, 6, 4, seed=3)
