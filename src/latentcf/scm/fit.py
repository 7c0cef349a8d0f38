"""The fit_scm stage: the latent GLM over the train split, streamed from the encode chunks.

Reads the design covariates from the cohort table, checks the design matrix (check_design)
before touching a latent, then streams the train scans' latents ``latent_<scm_latent>.npy`` of
every chunk folder in batches of about `scm.batch_mb` MB (memory-mapped, float64 per batch),
accumulating the normal equations; solves for B and writes the fitted SCM (latentcf.scm.fitted).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from latentcf import derivatives
from latentcf.cohort import read_cohort
from latentcf.config import validate_section
from latentcf.errors import InputDataError
from latentcf.scm.design import DesignSpec
from latentcf.scm.fitted import FittedSCM
from latentcf.scm.glm import NormalEquations, check_design, r_squared
from latentcf.scm.graph import CausalGraph
from latentcf.scm.mechanisms import fit_mechanisms

log = logging.getLogger(__name__)


def latent_batches(
    chunk_dirs: Sequence[str | Path], scans: set[str], latent_name: str, batch_mb: int
) -> Iterator[tuple[list[str], np.ndarray]]:
    """(scan stems, latents (b, K) float64) of the chunk folders' rows whose scan is in `scans`,
    at most `batch_mb` MB at a time. The .npy files are memory-mapped and copied row by row into
    one reused float64 buffer (no float32 copy of the batch beside it): use each batch before
    asking for the next."""
    buffer: np.ndarray | None = None
    for chunk in chunk_dirs:
        table = pd.read_csv(Path(chunk) / derivatives.SCANS_TABLE, sep="\t")
        rows = table[table["scan"].isin(scans)]
        if rows.empty:
            continue
        latents = np.load(Path(chunk) / derivatives.latent_file(latent_name), mmap_mode="r")
        k = int(np.prod(latents.shape[1:]))
        step = max(1, (batch_mb * 2**20) // (8 * k))
        if buffer is None or buffer.shape != (step, k):
            buffer = np.empty((step, k), dtype=np.float64)
        for start in range(0, len(rows), step):
            part = rows.iloc[start : start + step]
            for i, row in enumerate(part["row"]):
                buffer[i] = latents[row].reshape(-1)
            yield list(part["scan"]), buffer[: len(part)]


def fit_latent_scm(
    cohort: pd.DataFrame,
    chunk_dirs: Sequence[str | Path],
    latent_name: str,
    latent_shape: Sequence[int],
    covariates: Mapping[str, Mapping[str, Any]],
    image_parents: Sequence[str] | None,
    scm_config: Mapping[str, Any] | None = None,
) -> FittedSCM:
    """Fit the SCM on the cohort's train scans (see the module docstring)."""
    cfg = validate_section(scm_config, "scm.schema.yaml", "scm")
    graph = CausalGraph.from_config(covariates, image_parents)
    train = cohort[cohort["split"] == "train"].set_index("scan", drop=False)
    design = DesignSpec.fit(train, covariates, graph.image_parents, cfg["extra_terms"])
    columns = design.columns()
    cond = check_design(design.encode(train), columns, cfg["ridge"], cfg["max_condition_number"])
    mechanisms = fit_mechanisms(train, covariates, graph)
    k = int(np.prod(latent_shape))
    sums = NormalEquations.empty(len(columns), k)
    for scans, z in latent_batches(chunk_dirs, set(train.index), latent_name, cfg["batch_mb"]):
        if z.shape[1] != k:
            raise InputDataError(
                chunk_dirs[0],
                f"latents have {z.shape[1]} values per scan, the model's {latent_name} has {k}",
                "Re-encode with the current model",
            )
        sums.add(design.encode(train.loc[scans]), z)
    if sums.n != len(train):
        raise InputDataError(
            "<encode chunks>",
            f"found latents of {sums.n} of the {len(train)} train scans in {len(chunk_dirs)} chunk folders",
            "Rerun the encode rule for every chunk",
        )
    coefficients = sums.solve(cfg["ridge"])
    rss, tss = sums.residual_sum_of_squares(coefficients), sums.total_sum_of_squares()
    dof = max(1, sums.n - len(columns))
    r2 = r_squared(rss, tss)
    log.info(
        "fitted B %s on %d train scans (columns %s, condition number %.3g): mean R^2 %.4f",
        coefficients.shape,
        sums.n,
        columns,
        cond,
        float(r2.mean()),
    )
    return FittedSCM(
        graph=graph,
        design=design,
        mechanisms=mechanisms,
        latent_name=latent_name,
        latent_shape=tuple(int(s) for s in latent_shape),
        coefficients=coefficients,
        residual_variance=rss / dof,
        r2=r2,
        mean_latent=sums.mean_latent(),
        info={"n_train": sums.n, "condition_number": cond, "ridge": cfg["ridge"]},
    )


def run_fit_scm(
    cohort_tsv: str | Path,
    chunk_dirs: Sequence[str | Path],
    model_path: str | Path,
    model_config: Mapping[str, Any],
    covariates: Mapping[str, Mapping[str, Any]],
    image_parents: Sequence[str] | None,
    scm_config: Mapping[str, Any] | None,
    outputs: Mapping[str, str | Path],
    resolution_mm: int,
    threads: int = 1,
) -> FittedSCM:
    """The rule: fit, save design.json and coefficients.npz, and draw the R^2 map and the
    population effect maps (`outputs` keys: design, coefficients, r2, effects, effects_nifti)."""
    import torch

    from latentcf.models.checkpoint import load_model
    from latentcf.scm.effects import plot_r2, write_effect_maps

    torch.set_num_threads(max(1, int(threads)))
    model, meta = load_model(model_path, dict(model_config))
    name = meta["scm_latent"]
    scm = fit_latent_scm(
        read_cohort(cohort_tsv, covariates),
        chunk_dirs,
        name,
        meta["latent_shapes"][name],
        covariates,
        image_parents,
        scm_config,
    )
    scm.save(outputs["design"], outputs["coefficients"])
    plot_r2(scm, outputs["r2"])
    cfg = validate_section(scm_config, "scm.schema.yaml", "scm")
    write_effect_maps(
        scm,
        model,
        outputs["effects"],
        outputs["effects_nifti"],
        resolution_mm,
        cfg["effect_map_scale"],
    )
    return scm
