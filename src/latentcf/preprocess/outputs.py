"""The preprocessing derivative's dataset_description.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import latentcf
from latentcf.io import write_json_atomic
from latentcf.templates import TEMPLATE_ID


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
