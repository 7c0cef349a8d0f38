"""One complete run of the tiny config, shared by every workflow test module (it takes minutes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .snakemake_runner import OFFLINE_MARK, network_can_be_cut, run_snakemake

TINY = Path(__file__).with_name("config_tiny.yaml")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """Working folder of one complete run of the default target on the tiny config. Its path has
    a space and non-ASCII characters, as users' folders do ("MRI data/Übung"): every stage must
    work there. Where `unshare -n` works, it runs with no network at all (OFFLINE_MARK says so)."""
    workdir = tmp_path_factory.mktemp("tiny run Übung-é")
    offline = network_can_be_cut()
    run_snakemake(workdir, TINY, offline=offline)
    if offline:
        (workdir / OFFLINE_MARK).touch()
    return workdir
