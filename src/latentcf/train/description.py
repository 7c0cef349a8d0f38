"""BIDS dataset_description.json of a model's derivatives root ({output_dir}/<model>/)."""

from __future__ import annotations

from pathlib import Path

import latentcf
from latentcf.io import write_json_atomic


def write_dataset_description(path: str | Path, model: str, family: str) -> Path:
    """Write the derivative description (DatasetType derivative, GeneratedBy latentcf) atomically."""
    return write_json_atomic(
        {
            "Name": f"latentcf model {model} ({family}): model, latents and reconstructions",
            "BIDSVersion": "1.9.0",
            "DatasetType": "derivative",
            "GeneratedBy": [
                {
                    "Name": "latentcf",
                    "Version": latentcf.__version__,
                    "Description": f"{family} autoencoder",
                }
            ],
        },
        path,
    )
