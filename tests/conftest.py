"""Shared fixtures: paths of the repository and of the third-party data beside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the checkout (third-party scans and models); skips the test when absent."""
    if not SHARED.is_dir():
        missing_asset(
            f"third-party data folder {SHARED} is absent (it sits beside the checkout in CI)"
        )
    return SHARED


def missing_asset(reason: str) -> None:
    """Skip the test with `reason`, except under CI (CI=true), where a missing asset fails it."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"missing real-data asset under CI: {reason}")
    pytest.skip(reason)
