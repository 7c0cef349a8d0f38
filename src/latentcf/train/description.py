"""BIDS dataset_description.json of a model family's derivatives root ({output_dir}/<family>/)."""

from __future__ import annotations

import json
from pathlib import Path

import latentcf
from latentcf.io import write_text_atomic


def write_dataset_description(path: str | Path, family: str) -> Path:
    """Write the derivative description (DatasetType derivative, GeneratedBy latentcf) atomically."""
    path = Path(path)
    text = json.dumps(
        {
            "Name": f"latentcf {family} model, latents and reconstructions",
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
        indent=2,
    )
    return write_text_atomic(text + "\n", path)
