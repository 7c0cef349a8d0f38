"""Draw images from a trained model's prior and write them on the model grid (the sample stage).

One job per model whose family has a prior: ``sample.n`` images from ``model.sample(b, generator)``
in batches of ``sample.batch_size``, with one CPU torch.Generator seeded with the config's `seed`
(the families draw their latents on the CPU, so the latents do not depend on the device; the same
model, config, device and threads give byte-identical files). Each image is clipped at 0 like a
reconstruction and written as float32 NIfTI with the model grid's affine
(:func:`latentcf.grid.grid_affine`) into a folder built beside its final name and renamed when
complete, with ``samples.tsv`` (index, sample, image).

For families that warp (``deformation_fields``), the latent behind each batch is replayed from the
generator's state before the batch (z ~ N(0, I) of the model's latent shape), checked to decode to
the batch's images, and the Jacobian statistics of its deformation fields are written to
``jacobians.tsv`` (:mod:`latentcf.sample.deformations`; a header only for other families).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import torch

from latentcf import derivatives
from latentcf.config import validate_section
from latentcf.errors import ConfigError, InputDataError
from latentcf.grid import grid_affine, grid_shape
from latentcf.io import atomic_directory, save_nifti_atomic, write_tsv_atomic
from latentcf.models.base import LatentAutoencoder, model_settings
from latentcf.models.checkpoint import load_model
from latentcf.sample.deformations import has_deformation_fields, jacobian_rows, jacobian_table
from latentcf.train.device import select_device

log = logging.getLogger(__name__)

SAMPLES_COLUMNS = ["index", "sample", "image"]
#: Largest |replayed decode - sample| (intensity units) accepted as "the same images".
REPLAY_TOLERANCE = 1e-4


def sample_settings(sample_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``sample`` section validated, with every default filled in."""
    return validate_section(sample_config, "sample.schema.yaml", "sample")


def sample_device(requested: str) -> torch.device:
    """torch device for ``sample.device`` (auto, cpu, cuda); ConfigError naming the key when
    'cuda' is asked for and no GPU is visible."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "sample.device",
            "'cuda' was requested but no CUDA GPU is visible",
            "Use 'auto' or 'cpu'",
        )
    return select_device(requested)


@torch.no_grad()
def draw_batches(
    model: LatentAutoencoder,
    n: int,
    batch_size: int,
    generator: torch.Generator,
    image_shape: tuple[int, int, int],
) -> Iterator[tuple[range, np.ndarray, list[torch.Tensor] | None]]:
    """Per batch: (sample indices, images (b, X, Y, Z) float32 clipped at 0, the deformation
    fields of the batch's latents (coarse to fine, each (b, 3, X, Y, Z) voxels) or None when the
    family has none or the latents could not be replayed)."""
    model.eval()
    warps = has_deformation_fields(model)
    for start in range(0, n, batch_size):
        batch = range(start, min(start + batch_size, n))
        state = generator.get_state()
        images = model.sample(len(batch), generator)
        expected = (len(batch), 1, *image_shape)
        if tuple(images.shape) != expected:
            raise ValueError(
                f"model.sample({len(batch)}) of family {model.family!r} returned shape "
                f"{tuple(images.shape)}, expected {expected}"
            )
        fields = _replayed_fields(model, state, generator, images) if warps else None
        yield batch, np.clip(images[:, 0].float().cpu().numpy(), 0, None), fields


def _replayed_fields(
    model: LatentAutoencoder,
    state: torch.Tensor,
    generator: torch.Generator,
    images: torch.Tensor,
) -> list[torch.Tensor] | None:
    """Deformation fields of the latent z ~ N(0, I) replayed from the generator `state`, if it
    is the latent behind `images` (same generator use, same decode); None with a warning else."""
    name = model.scm_latent
    shape = model.latent_shapes(tuple(images.shape[2:]))[name]
    replay = torch.Generator().set_state(state)
    z = torch.randn(len(images), *shape, generator=replay)
    device = images.device
    latent = {name: z.to(device)}
    same = torch.equal(replay.get_state(), generator.get_state()) and (
        float((model.decode(latent) - images).abs().max()) <= REPLAY_TOLERANCE
    )
    if not same:
        log.warning(
            "family %r: the sampled images are not decode({%r: z ~ N(0, I)}) of a replayed "
            "latent; no Jacobian statistics",
            model.family,
            name,
        )
        return None
    return list(model.deformation_fields(latent))


def sample_model(
    model_path: str | Path,
    out_dir: str | Path,
    jacobians_tsv: str | Path,
    model_config: Mapping[str, Any],
    resolution_mm: int,
    seed: int,
    sample_config: Mapping[str, Any] | None = None,
    threads: int | None = None,
) -> pd.DataFrame:
    """Draw ``sample.n`` images from the model file's prior into the folder `out_dir` and write
    the Jacobian statistics to `jacobians_tsv` (see the module docstring); returns samples.tsv.

    The model file must have been trained with `model_config` (InputDataError naming the
    differing settings otherwise) on the model grid of `resolution_mm`, and its family must have
    a prior (ConfigError otherwise).
    """
    cfg = sample_settings(sample_config)
    torch.set_num_threads(max(1, int(threads or cfg["threads"])))
    device = sample_device(cfg["device"])
    model_config = model_settings(model_config)
    model, meta = load_model(model_path, model_config, device)
    family = model_config["family"]
    if not model.has_prior:
        raise ConfigError(
            "models.<name>.family",
            f"family {family!r} has no prior to sample from",
            "Only models of a family with a prior (m3ae, betavae) get a sample job",
        )
    shape = tuple(int(s) for s in meta["image_shape"])
    if shape != grid_shape(resolution_mm):
        raise InputDataError(
            model_path,
            f"the model was trained on images of shape {shape}, not on the {resolution_mm} mm "
            f"model grid {grid_shape(resolution_mm)}",
            "Retrain it at preprocess.resolution_mm or set preprocess.resolution_mm back",
        )
    generator = torch.Generator().manual_seed(int(seed))
    affine = grid_affine(resolution_mm)
    rows, jacobians = [], []
    with atomic_directory(out_dir) as tmp:
        for batch, images, fields in draw_batches(
            model, cfg["n"], cfg["batch_size"], generator, shape
        ):
            ids = [derivatives.sample_id(i) for i in batch]
            for i, sample, image in zip(batch, ids, images, strict=True):
                name = derivatives.sample_file(i, resolution_mm, family)
                img = nib.Nifti1Image(image.astype(np.float32), affine)
                img.header.set_xyzt_units("mm")
                save_nifti_atomic(img, tmp / name)
                rows.append({"index": i, "sample": sample, "image": name})
            if fields is not None:
                jacobians += jacobian_rows(fields, ids)
        samples = pd.DataFrame(rows, columns=SAMPLES_COLUMNS)
        write_tsv_atomic(samples, tmp / derivatives.SAMPLES_TABLE)
    table = jacobian_table(jacobians)
    write_tsv_atomic(table, jacobians_tsv)
    log.info(
        "%d samples of %s drawn (seed %d)%s",
        len(samples),
        family,
        seed,
        f"; Jacobian statistics of {table['level'].nunique()} level(s)" if len(table) else "",
    )
    return samples
