"""The realism of one model's samples against real scans (the sample_realism stage).

Writes into one folder (names in :data:`latentcf.derivatives.SAMPLE_REALISM_OUTPUTS`):

- ``realism.tsv``: per structure the Wasserstein-1 distance between the samples' and the real
  scans' volumes, in ml and in units of the real volumes' SD, with both groups' mean and SD, then
  one ``multivariate`` row (:func:`latentcf.evaluate.realism.volume_distances`); the column
  ``reference`` names the real scans (the held-out ones in the workflow).
- ``fid.json``: FID's formula on the features of ``sample.feature_network`` (a local TorchScript
  file; nothing is downloaded), or null with a note when none is set.
- ``samples.png``: a few samples next to real scans (:mod:`latentcf.sample.figures`).
- ``realism.html``: the tables, with the Jacobian statistics of the sample stage, for the report.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from latentcf import derivatives
from latentcf.config import validate_section
from latentcf.evaluate.realism import MULTIVARIATE, volume_distances
from latentcf.evaluate.tables import structure_volumes
from latentcf.interventions import FACTUAL
from latentcf.io import write_json_atomic, write_tsv_atomic
from latentcf.report_tables import write_html_tables
from latentcf.sample.figures import plot_samples
from latentcf.sample.segment import SAMPLE_IMAGE, VOLUMES_TABLE, read_samples_table
from latentcf.segment import STRUCTURES

log = logging.getLogger(__name__)

OUTPUTS = derivatives.SAMPLE_REALISM_OUTPUTS
FEATURE_NETWORK_KEY = "sample.feature_network"


def _read_volumes(folders: Sequence[str | Path]) -> pd.DataFrame:
    tables = [pd.read_csv(Path(f) / VOLUMES_TABLE, sep="\t") for f in folders]
    return pd.concat(tables, ignore_index=True)


def wide_volumes(
    volumes: pd.DataFrame, image: str, scans: Sequence[str] | None = None
) -> pd.DataFrame:
    """One row per scan (`scan` column, in the order of `scans` when given), one column per
    structure (ml), from long volume rows whose `image` is `image` (and whose scan is in `scans`)."""
    wide = structure_volumes(volumes[volumes["image"] == image], list(STRUCTURES))
    wide = wide.drop(columns="image").set_index("scan")
    if scans is not None:
        missing = [s for s in scans if s not in wide.index]
        if missing:
            raise ValueError(f"no '{image}' volumes for {len(missing)} scan(s), e.g. {missing[:3]}")
        wide = wide.loc[list(scans)]
    return wide.reset_index()


def realism_table(
    generated: pd.DataFrame, real: pd.DataFrame, structures: Sequence[str], reference: str
) -> pd.DataFrame:
    """:func:`volume_distances` of the wide volume tables with each group's mean and SD (ml,
    SD with ddof 1; NaN on the multivariate row) and the `reference` label."""
    table = volume_distances(generated, real, structures)
    stats = pd.DataFrame(
        {
            "structure": list(structures),
            "generated_mean_ml": [generated[s].mean() for s in structures],
            "generated_sd_ml": [generated[s].std(ddof=1) for s in structures],
            "real_mean_ml": [real[s].mean() for s in structures],
            "real_sd_ml": [real[s].std(ddof=1) for s in structures],
        }
    )
    table = table.merge(stats, on="structure", how="left")
    return table.assign(reference=reference)


def feature_frechet_distance(
    network_path: str | Path,
    generated: Sequence[str | Path],
    real: Sequence[str | Path],
    batch_size: int,
) -> float:
    """FID's formula between the features of the `generated` and `real` model-grid images
    (NIfTI paths; each group >= 2 images) under the local TorchScript network `network_path`."""
    import torch

    from latentcf.evaluate.realism import frechet_distance, network_features
    from latentcf.feature_network import load_feature_network

    net = load_feature_network(network_path, FEATURE_NETWORK_KEY)

    def stack(paths: Sequence[str | Path]) -> torch.Tensor:
        arrays = [np.asarray(nib.load(str(p)).dataobj, dtype=np.float32) for p in paths]
        return torch.from_numpy(np.stack(arrays))[:, None]

    features = [network_features(net, stack(paths), batch_size) for paths in (generated, real)]
    return frechet_distance(*features)


def run_sample_realism(
    *,
    sample_dir: str | Path,
    sample_segment_dir: str | Path,
    jacobians_tsv: str | Path,
    real_segment_dirs: Sequence[str | Path],
    real_images: Mapping[str, str | Path],
    out_dir: str | Path,
    reference: str = "held-out",
    real_labels: Mapping[str, str] | None = None,
    sample_config: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write every output of :data:`OUTPUTS` into `out_dir` (see the module docstring).

    `real_images` maps each real scan to compare with (in display order) to its model-grid image;
    its volumes are read from `real_segment_dirs` (segment/chunk-<NN>/ folders). `real_labels`
    optionally titles the real scans in the figure.
    """
    cfg = validate_section(sample_config, "sample.schema.yaml", "sample")
    out = Path(out_dir)
    paths = {name: out / file for name, file in OUTPUTS.items()}
    structures = list(STRUCTURES)
    samples = read_samples_table(sample_dir)
    sample_paths = [Path(sample_dir) / image for image in samples["image"]]
    real_scans = list(real_images)

    generated = wide_volumes(
        _read_volumes([sample_segment_dir]), SAMPLE_IMAGE, list(samples["sample"])
    )
    real = wide_volumes(_read_volumes(real_segment_dirs), FACTUAL, real_scans)
    table = realism_table(generated, real, structures, reference)
    write_tsv_atomic(table, paths["volumes"])
    multivariate = table.set_index("structure").at[MULTIVARIATE, "w1_per_sd"]
    log.info(
        "%d samples vs %d %s scans: multivariate W1 %.3f real SDs",
        len(generated),
        len(real),
        reference,
        multivariate,
    )

    network = cfg["feature_network"]
    fid: dict[str, Any] = {
        "fid": None,
        "feature_network": network,
        "n_generated": len(sample_paths),
        "n_real": len(real_scans),
        "reference": reference,
    }
    if network:
        fid["fid"] = feature_frechet_distance(
            network, sample_paths, [real_images[s] for s in real_scans], cfg["batch_size"]
        )
        log.info("FID (features of %s): %.4g", network, fid["fid"])
    else:
        fid["note"] = (
            "sample.feature_network is not set: no FID (nothing is downloaded; give a local "
            "TorchScript feature network to compute it)"
        )
    write_json_atomic(fid, paths["fid"])

    k = cfg["figure_images"]
    labels = real_labels or {}
    plot_samples(
        sample_paths[:k],
        [real_images[s] for s in real_scans[:k]],
        paths["figure"],
        sample_labels=list(samples["sample"][:k]),
        real_labels=[labels.get(s, Path(s).name) for s in real_scans[:k]],
    )

    jacobians = pd.read_csv(jacobians_tsv, sep="\t", keep_default_na=False, na_values=["n/a"])
    sections = {
        f"Regional volumes: {len(generated)} samples vs {len(real)} real {reference} scans "
        "(Wasserstein-1 distance, ml and real SDs)": table,
        "Jacobian determinants of the deformation fields on the samples (per level, coarse to "
        "fine, and composed)": jacobians if len(jacobians) else None,
        "FID's formula on a local feature network": pd.DataFrame([fid]),
    }
    write_html_tables(
        {k: v for k, v in sections.items() if v is not None},
        paths["tables_html"],
        title="Realism of samples from the prior",
    )
    return paths
