"""Fixtures of the sample tests: ITK threads fixed before antspyx loads."""

from __future__ import annotations

import pytest

from latentcf.preprocess import set_threads


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    set_threads(1)
