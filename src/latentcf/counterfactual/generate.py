"""Counterfactual images of a chunk of scans: abduction, action, prediction in latent space.

For every scan of the chunk (in the configured splits) and every intervention:
counterfactual covariates (latentcf.scm.mechanisms), design rows P and P', and
Z' = Z + (P' - P) B (which is U + P' B with the abducted U = Z - P B, and exactly Z for the null
intervention); Z' is decoded by the model (quantised first for quantised families). A scan's
null decode and all its counterfactuals are decoded in one batch, so differences compare like
with like and the null image is bit-identical to decoding the stored latent (it matches the
encode stage's reconstruction to ~1e-6: a different batch changes the floating-point order).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import torch

from latentcf import derivatives
from latentcf.cohort import read_cohort
from latentcf.config import validate_section
from latentcf.errors import InputDataError
from latentcf.grid import grid_affine
from latentcf.interventions import FACTUAL, NULL, Intervention, parse_interventions
from latentcf.io import atomic_directory, save_nifti_atomic, write_tsv_atomic
from latentcf.models.base import LatentAutoencoder, model_settings
from latentcf.models.checkpoint import load_model
from latentcf.scm.fitted import FittedSCM
from latentcf.scm.mechanisms import counterfactual_covariates
from latentcf.train.device import autocast, resolve_precision, select_device

log = logging.getLogger(__name__)


def latent_shifts(
    scm: FittedSCM, factual: pd.DataFrame, interventions: Sequence[Intervention]
) -> tuple[dict[str, pd.DataFrame], dict[str, np.ndarray]]:
    """Per intervention: the counterfactual covariates of every row of `factual` and the latent
    shift (P' - P) B, (n, K) float64."""
    design = scm.design.encode(factual)
    covariates, shifts = {}, {}
    for iv in interventions:
        cf = counterfactual_covariates(factual, iv, scm.graph, scm.mechanisms)
        covariates[iv.name] = cf
        shifts[iv.name] = (scm.design.encode(cf) - design) @ scm.coefficients
    return covariates, shifts


def extrapolations(scm: FittedSCM, covariates: pd.DataFrame) -> list[str]:
    """Per row, the numeric image parents outside the train range, as 'age=91.2 (train 55.1-84.9)'."""
    out = [[] for _ in range(len(covariates))]
    for enc in scm.design.covariates:
        if enc.type != "numeric":
            continue
        values = pd.to_numeric(covariates[enc.name]).to_numpy(float)
        for i, v in enumerate(values):
            if not enc.min <= v <= enc.max:
                out[i].append(f"{enc.name}={v:g} (train {enc.min:g}-{enc.max:g})")
    return ["; ".join(items) for items in out]


@torch.no_grad()
def decode_latents(
    model: LatentAutoencoder,
    name: str,
    latents: np.ndarray,
    device: torch.device,
    precision: str,
) -> np.ndarray:
    """Images (B, X, Y, Z) float32, clipped at 0, of latents (B, ...) float32."""
    model.eval()
    z = torch.from_numpy(np.ascontiguousarray(latents, dtype=np.float32)).to(device)
    with autocast(device, precision):
        images = model.decode({name: z})
    return np.clip(images[:, 0].float().cpu().numpy(), 0, None)


def counterfactual_chunk(
    model_path: str | Path,
    model_config: Mapping[str, Any],
    scm_files: tuple[str | Path, str | Path],
    encode_dir: str | Path,
    cohort_tsv: str | Path,
    covariates: Mapping[str, Mapping[str, Any]],
    interventions: Sequence[Mapping[str, Any]],
    out_dir: str | Path,
    resolution_mm: int,
    counterfactual_config: Mapping[str, Any] | None = None,
    native: Mapping[str, tuple[str | Path, str | Path]] | None = None,
    threads: int | None = None,
) -> pd.DataFrame:
    """Write the counterfactuals of one encode chunk folder into `out_dir` (latentcf.derivatives).

    `scm_files` are fit_scm's design.json and coefficients.npz; `native` maps a scan to its
    (affine transform .mat, native-grid reference image) when counterfactual.native_space is on.
    Returns counterfactuals.tsv.
    """
    cfg = validate_section(counterfactual_config, "counterfactual.schema.yaml", "counterfactual")
    torch.set_num_threads(max(1, int(threads or cfg["threads"])))
    device = select_device(cfg["device"])
    precision = resolve_precision(cfg["precision"], device, "counterfactual.precision")
    model_config = model_settings(model_config)
    family = model_config["family"]
    model, meta = load_model(model_path, model_config, device)
    scm = FittedSCM.load(*scm_files)
    name = meta["scm_latent"]
    if name != scm.latent_name or list(scm.latent_shape) != list(meta["latent_shapes"][name]):
        raise InputDataError(
            scm_files[0],
            f"fitted on latent {scm.latent_name} {list(scm.latent_shape)}, the model has "
            f"{name} {meta['latent_shapes'][name]}",
            "Rerun fit_scm",
        )
    ivs = parse_interventions(interventions, covariates)
    cohort = read_cohort(cohort_tsv, covariates).set_index("scan", drop=False)
    table = pd.read_csv(Path(encode_dir) / derivatives.SCANS_TABLE, sep="\t")
    table = table[table["scan"].map(cohort["split"]).isin(cfg["splits"])]
    factual = cohort.loc[table["scan"]]
    cf_covariates, shifts = latent_shifts(scm, factual, ivs)
    latents = np.load(Path(encode_dir) / derivatives.latent_file(name), mmap_mode="r")
    affine = grid_affine(resolution_mm)
    rows: list[dict[str, Any]] = []
    with atomic_directory(out_dir) as tmp:
        for i, (scan, row) in enumerate(zip(table["scan"], table["row"], strict=True)):
            z = np.asarray(latents[row], dtype=np.float32)
            batch = [z] + [
                (z.astype(np.float64) + shifts[iv.name][i].reshape(z.shape)).astype(np.float32)
                for iv in ivs
            ]
            images = decode_latents(model, name, np.stack(batch), device, precision)
            names = [NULL] + [iv.name for iv in ivs]
            for k, cf_name in enumerate(names):
                _save(
                    images[k],
                    affine,
                    tmp / derivatives.counterfactual_file(scan, resolution_mm, cf_name, family),
                )
                if k:
                    _save(
                        images[k] - images[0],
                        affine,
                        tmp / derivatives.difference_file(scan, resolution_mm, cf_name, family),
                    )
                if native:
                    xfm, reference = native[scan]
                    _save_native(
                        images[k], affine, xfm, reference,
                        tmp / derivatives.native_counterfactual_file(scan, cf_name, family),
                    )  # fmt: skip
            rows += _table_rows(scm, scan, factual.loc[[scan]], cf_covariates, ivs, i)
        result = pd.DataFrame(rows)
        write_tsv_atomic(result, tmp / derivatives.COUNTERFACTUALS_TABLE)
    for _, r in result[result["extrapolated"] != ""].iterrows():
        log.warning(
            "%s under %s: extrapolating beyond the train range: %s",
            r["scan"],
            r["intervention"],
            r["extrapolated"],
        )
    log.info("%d scans x %d interventions written to %s", len(table), len(ivs), out_dir)
    return result


def _table_rows(scm, scan, factual_row, cf_covariates, ivs, i) -> list[dict[str, Any]]:
    names = list(scm.graph.parents)
    base = {k: factual_row[k].iloc[0] for k in ("scan", "participant_id", "session_id", "split")}
    rows = [
        {
            **base,
            "intervention": FACTUAL,
            **{c: factual_row[c].iloc[0] for c in names},
            "extrapolated": "",
        }
    ]
    for iv in ivs:
        cf = cf_covariates[iv.name].iloc[[i]]
        rows.append(
            {
                **base,
                "intervention": iv.name,
                **{c: cf[c].iloc[0] for c in names},
                "extrapolated": extrapolations(scm, cf)[0],
            }
        )
    return rows


def _save(image: np.ndarray, affine: np.ndarray, path: Path) -> None:
    img = nib.Nifti1Image(image.astype(np.float32), affine)
    img.header.set_xyzt_units("mm")
    save_nifti_atomic(img, path)


def _save_native(
    image: np.ndarray, affine: np.ndarray, xfm: str | Path, reference: str | Path, path: Path
) -> None:
    """Resample a model-grid image onto the scan's grid through the inverse affine."""
    from latentcf.preprocess.antsimg import to_ants, to_nifti
    from latentcf.preprocess.register import load_transform, to_native

    native = to_native(
        to_ants(image, affine), load_transform(xfm), to_ants(nib.load(str(reference)))
    )
    save_nifti_atomic(to_nifti(native), path)
