"""Atomic writers for the stage's small outputs, and the derivative's dataset_description.json."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import latentcf
from latentcf.templates import TEMPLATE_ID


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success rename it to `path`, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes) or ".tmp"
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json_atomic(data: dict[str, Any], path: str | Path) -> Path:
    """Write `data` as indented JSON to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return Path(path)


def dataset_description(name: str = "latentcf preprocessing") -> dict[str, Any]:
    """BIDS-derivative `dataset_description.json` content for the preprocessing root."""
    return {
        "Name": name,
        "BIDSVersion": "1.9.0",
        "DatasetType": "derivative",
        "GeneratedBy": [
            {
                "Name": "latentcf",
                "Version": latentcf.__version__,
                "Description": (
                    "N4 bias correction, skull stripping, affine registration to "
                    f"{TEMPLATE_ID}, brain-percentile intensity scaling, resampling to the model grid"
                ),
            }
        ],
    }


def write_dataset_description(path: str | Path) -> Path:
    """Write the preprocessing root's `dataset_description.json` atomically."""
    return write_json_atomic(dataset_description(), path)
