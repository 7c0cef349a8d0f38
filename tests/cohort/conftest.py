"""Fixtures for ingest tests (helpers live in ingest_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_helpers import make_bids


@pytest.fixture
def bids(tmp_path: Path) -> Path:
    """6 subjects x 2 sessions, with files to ignore."""
    return make_bids(tmp_path / "bids")


@pytest.fixture
def bids_nosession(tmp_path: Path) -> Path:
    """6 subjects, no sessions: every covariate in participants.tsv."""
    return make_bids(tmp_path / "bids", sessions=())
