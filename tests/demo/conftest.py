"""Fixtures of the demo-cohort tests: one tiny simulated BIDS dataset per test session."""

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
    """A 3-subject, 2-session demo dataset at 4 mm with five interventions."""
    from latentcf.demo import simulate_demo

    out = tmp_path_factory.mktemp("demo") / "bids"
    return simulate_demo(out, TINY_DEMO, TINY_INTERVENTIONS, TINY_SEED)
