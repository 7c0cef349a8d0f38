"""Fixtures of the demo-cohort tests: one tiny simulated BIDS dataset and its true
counterfactuals per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from demo_cases import TINY_DEMO, TINY_INTERVENTIONS, TINY_SEED


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_bids(tmp_path_factory) -> Path:
    """A 3-subject, 2-session demo dataset at 4 mm (factual scans and their ground truth)."""
    from latentcf.demo import simulate_demo

    out = tmp_path_factory.mktemp("demo") / "bids"
    return simulate_demo(out, TINY_DEMO, TINY_SEED)


@pytest.fixture(scope="session")
def tiny_cf(tmp_path_factory) -> Path:
    """The true counterfactuals of `tiny_bids` for five interventions."""
    from latentcf.demo import simulate_demo_counterfactuals

    out = tmp_path_factory.mktemp("demo") / "truth_counterfactuals"
    return simulate_demo_counterfactuals(out, TINY_DEMO, TINY_INTERVENTIONS, TINY_SEED)
