"""One complete run of the tiny config, shared by every workflow test module (it takes minutes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .snakemake_runner import run_snakemake

TINY = Path(__file__).with_name("config_tiny.yaml")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """Working folder of one complete run of the default target on the tiny config."""
    workdir = tmp_path_factory.mktemp("tiny")
    run_snakemake(workdir, TINY)
    return workdir
