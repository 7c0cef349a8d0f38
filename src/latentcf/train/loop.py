"""Training loop of a latent autoencoder: seeded, checkpointed, resumable, bit-identical on CPU.

The objective is the model family's (:meth:`LatentAutoencoder.training_loss`); the loop only
schedules the learning rate (linear warm-up for `warmup_steps`, then a cosine to 10 % of
`learning_rate` at `max_steps`, or constant; torch's LambdaLR), clips gradients, evaluates on
the validation scans, checkpoints and writes the training table (one column per loss term and
statistic the family reports) and its plot.

Families with an adversary (:meth:`LatentAutoencoder.adversary`, e.g. klae's patch
discriminator): the generator's AdamW leaves the adversary's parameters out; a second AdamW
(same learning rate, following the generator's schedule, same weight decay and gradient
clipping) minimises :meth:`LatentAutoencoder.adversary_loss` after each generator step, on the
step's detached reconstruction; its loss is the column ``adversary_loss``, and its weights and
optimiser state are in every checkpoint, so a resumed run stays bit-identical on CPU.

With `train.distributed` nodes x processes P > 1 the same loop runs in P processes under torchrun
(latentcf.train.distributed; several nodes: latentcf.train.slurm_nodes): each takes its slice of
every global batch, gradients are averaged by DistributedDataParallel, the table's values are
averaged over the processes, and rank 0 alone evaluates, checkpoints and writes.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from latentcf.config import validate_section
from latentcf.errors import ConfigError
from latentcf.hardware import gpu_request
from latentcf.metrics import masked_metrics
from latentcf.models.base import LatentAutoencoder, TrainingLoss, build_model, model_settings
from latentcf.models.checkpoint import config_hash, model_payload, restore_model, save_model
from latentcf.models.settings import model_input_files
from latentcf.train import checkpoints as ckpt
from latentcf.train.data import VolumeSet, batch_indices, flip_mask, load_mask, load_volume
from latentcf.train.device import (
    autocast,
    resolve_channels_last,
    resolve_precision,
    select_device,
    to_memory_format,
)
from latentcf.train.distributed import (
    Ranks,
    any_rank,
    check_batch,
    launch,
    mean_across_ranks,
    objectives,
    start_process_group,
    stop_process_group,
    under_torchrun,
    world_size,
)
from latentcf.train.table import plot_table, write_table

log = logging.getLogger(__name__)

# Settings that do not change the weights: not part of the resume fingerprint.
_NOT_IN_FINGERPRINT = {
    "max_minutes",
    "eval_every",
    "val_max_scans",
    "checkpoint_every",
    "keep_checkpoints",
}


@dataclass
class TrainOutputs:
    """Where training writes: the final model, the table, its plot and the checkpoint folder."""

    model: Path
    table: Path
    plot: Path
    checkpoint_dir: Path


def merged_train_config(train_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The `train` section with every default filled in (ConfigValidationError if invalid)."""
    return validate_section(train_config, "train.schema.yaml", "train")


def lr_factor(step: int, cfg: Mapping[str, Any]) -> float:
    """Learning-rate multiplier of optimiser step `step` (1-based): warm-up, then cosine to 0.1."""
    warmup = cfg["warmup_steps"]
    if warmup and step <= warmup:
        return step / warmup
    if cfg["lr_schedule"] == "constant":
        return 1.0
    span = max(1, cfg["max_steps"] - warmup)
    t = min(1.0, (step - warmup) / span)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t))


def lr_scheduler(
    optimiser: torch.optim.Optimizer, cfg: Mapping[str, Any]
) -> torch.optim.lr_scheduler.LambdaLR:
    """LambdaLR stepped once after each optimiser step: step k uses lr_factor(k)."""
    return torch.optim.lr_scheduler.LambdaLR(optimiser, lambda done: lr_factor(done + 1, cfg))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train_model(
    train_images: Sequence[str | Path],
    val_images: Sequence[str | Path],
    val_masks: Sequence[str | Path],
    model_config: Mapping[str, Any],
    train_config: Mapping[str, Any] | None,
    seed: int,
    outputs: TrainOutputs,
    threads: int | None = None,
) -> Path:
    """Train (or resume training) and write the final model, the table and its plot.

    Parameters
    ----------
    train_images : model-grid T1w NIfTIs of the train split (all of one shape X, Y, Z).
    val_images, val_masks : the val split's images and brain masks (for the table's val_* columns).
    model_config : the model's config entry ({family, settings...}; missing settings take the
        schema defaults).
    train_config : config["train"] (missing keys take the schema defaults).
    seed : config["seed"].
    outputs : where to write; checkpoints go to outputs.checkpoint_dir.
    threads : CPU threads for torch (default: train.threads), shared by the processes of a
        distributed run.

    Returns the path of the final model file.
    """
    cfg = merged_train_config(train_config)
    model_config = model_settings(model_config)
    threads = max(1, int(threads or cfg["threads"]))
    processes = world_size(cfg["distributed"])
    check_batch(cfg["batch_size"], cfg["distributed"])
    if processes > 1 and not under_torchrun():
        spec = {
            "train_images": [str(p) for p in train_images],
            "val_images": [str(p) for p in val_images],
            "val_masks": [str(p) for p in val_masks],
            "model_config": dict(model_config),
            "train_config": dict(cfg),
            "seed": seed,
            "outputs": {k: str(v) for k, v in vars(outputs).items()},
            "threads": threads,
        }
        spec_path = outputs.checkpoint_dir / "distributed-spec.json"
        launch(cfg["distributed"], spec, spec_path, gpus=gpu_request(cfg["device"]) > 0)
        return outputs.model
    device = select_device(cfg["device"])
    ranks = start_process_group(cfg["distributed"]["backend"], device) if processes > 1 else Ranks()
    if ranks.size > 1:
        threads = max(1, threads // ranks.local_size)
        if device.type == "cuda":
            device = torch.device("cuda", ranks.local_rank)
    torch.set_num_threads(threads)
    precision = resolve_precision(cfg["precision"], device)
    channels_last = resolve_channels_last(cfg["channels_last"], device)
    log.info(
        "training a %s model on %s, precision %s, channels_last %s, %d thread(s)",
        model_config["family"],
        device,
        precision,
        channels_last,
        threads,
    )
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    data = VolumeSet(train_images)
    val_items = list(zip(val_images, val_masks, strict=True))[: cfg["val_max_scans"]]
    fingerprint = config_hash(
        {
            "model": model_config,
            "train": {k: v for k, v in cfg.items() if k not in _NOT_IN_FINGERPRINT},
            "seed": seed,
            "train_images": [str(p) for p in train_images],
            "input_files": [_file_sha256(f) for f in model_input_files(model_config)],
            "device": device.type,
            "threads": threads,
            **({"processes": ranks.size} if ranks.size > 1 else {}),
        }
    )

    seed_everything(seed)
    model = build_model(model_config, image_shape=data.shape)
    model.check_input_shape(data.shape, f"{data.paths[0]}")
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last_3d)
    generator_params, adversary_params = split_parameters(model)
    # fused: one kernel per step for all parameters (CPU and CUDA); the demo betavae, whose linear
    # layers hold most of its weights, trained 20-30 % faster on a CPU.
    adamw = {"lr": cfg["learning_rate"], "weight_decay": cfg["weight_decay"], "fused": True}
    optimiser = torch.optim.AdamW(generator_params, **adamw)
    scheduler = lr_scheduler(optimiser, cfg)
    adversary_optimiser = torch.optim.AdamW(adversary_params, **adamw) if adversary_params else None

    rows: list[dict[str, Any]] = []
    step, elapsed_before = 0, 0.0
    resumed = ckpt.find_resumable(outputs.checkpoint_dir, fingerprint)
    if resumed is not None:
        restored = restore_model(resumed["model"], outputs.checkpoint_dir, model_config)
        model.load_state_dict(restored.state_dict())
        optimiser.load_state_dict(resumed["optimizer"])
        scheduler.load_state_dict(resumed["scheduler"])
        if adversary_optimiser is not None:
            adversary_optimiser.load_state_dict(resumed["adversary_optimizer"])
        ckpt.restore_rng(resumed["rng"])
        step, elapsed_before = int(resumed["step"]), float(resumed["elapsed_s"])
        rows = list(resumed["table"])

    training_loss, adversary_loss = objectives(model, ranks, device)
    if not ranks.main:
        val_items = []
    val_cache = [(load_volume(i, data.shape), load_mask(m, data.shape)) for i, m in val_items]
    start_time = time.monotonic()
    budget_s = cfg["max_minutes"] * 60 if cfg["max_minutes"] else math.inf
    bar = tqdm(
        total=cfg["max_steps"],
        initial=step,
        file=sys.stderr,
        mininterval=10,
        ascii=True,
        ncols=100,
        desc="train",
        disable=not ranks.main,
    )

    def seconds() -> float:
        return elapsed_before + time.monotonic() - start_time

    model.train()
    while step < cfg["max_steps"]:
        if any_rank(seconds() > budget_s):
            log.info("time budget of %s min reached at step %d", cfg["max_minutes"], step)
            break
        x = _batch(data, step, cfg, seed, device, channels_last, ranks)
        step += 1
        lr = optimiser.param_groups[0]["lr"]
        with autocast(device, precision):
            objective = training_loss(x, step)
        loss = objective.total
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        if cfg["grad_clip_norm"]:
            torch.nn.utils.clip_grad_norm_(generator_params, cfg["grad_clip_norm"])
        optimiser.step()
        scheduler.step()
        adversary_row = {}
        if adversary_optimiser is not None and objective.reconstruction is not None:
            adversary_row = adversary_step(
                adversary_loss, x, objective.reconstruction, step, adversary_optimiser, lr, cfg,
                precision,
            )  # fmt: skip
        row = {
            "step": step,
            "epoch": (step * cfg["batch_size"] - 1) // len(data),
            "lr": lr,
            **mean_across_ranks(
                {
                    "loss": float(loss.detach()),
                    **{f"loss_{k}": float(v.detach()) for k, v in objective.terms.items()},
                    **{k: float(v) for k, v in objective.stats.items()},
                    **adversary_row,
                }
            ),
            "seconds": seconds(),
        }
        del objective
        bad = [k for k in ("loss", "adversary_loss") if not math.isfinite(row.get(k, 0.0))]
        if bad:
            raise ConfigError(
                "train.learning_rate",
                f"the {bad[0].replace('_', ' ')} became {row[bad[0]]} at step {step}",
                "Lower train.learning_rate",
            )
        if val_cache and (step % cfg["eval_every"] == 0 or step == cfg["max_steps"]):
            row.update(evaluate(model, val_cache, device, precision, channels_last))
            log.info(
                "step %d: loss %.4f, val MAE %.4f, val SSIM %.4f",
                step,
                row["loss"],
                row["val_mae"],
                row["val_ssim"],
            )
            model.train()
        rows.append(row)
        bar.update(1)
        bar.set_postfix(loss=f"{row['loss']:.4f}", refresh=False)
        if ranks.main and step % cfg["checkpoint_every"] == 0 and step < cfg["max_steps"]:
            payload = {
                "model": model_payload(model, model_config),
                "optimizer": optimiser.state_dict(),
                "scheduler": scheduler.state_dict(),
                **(
                    {"adversary_optimizer": adversary_optimiser.state_dict()}
                    if adversary_optimiser is not None
                    else {}
                ),
                "rng": ckpt.capture_rng(),
                "elapsed_s": seconds(),
                "table": rows,
            }
            ckpt.save_checkpoint(
                outputs.checkpoint_dir, step, fingerprint, payload, cfg["keep_checkpoints"]
            )
    bar.close()
    if not ranks.main:
        stop_process_group()
        return outputs.model
    if rows and "val_ssim" not in rows[-1] and val_cache:
        rows[-1].update(evaluate(model, val_cache, device, precision, channels_last))

    meta = {
        "steps": step,
        "image_shape": list(data.shape),
        "latent_shapes": {k: list(v) for k, v in model.latent_shapes(data.shape).items()},
        "scm_latent": model.scm_latent,
        "train_fingerprint": fingerprint,
        "n_train_scans": len(data),
        "seed": seed,
        "precision": precision,
    }
    save_model(outputs.model, model.cpu(), model_config, meta)
    write_table(rows, outputs.table)
    plot_table(outputs.table, outputs.plot)
    log.info("wrote %s after %d steps", outputs.model, step)
    stop_process_group()
    return outputs.model


def _file_sha256(path: str | Path | None) -> str | None:
    """SHA-256 of a file's bytes (None for no file): a replaced file at the same path is a new run."""
    if not path:
        return None
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def split_parameters(
    model: LatentAutoencoder,
) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
    """(generator parameters, adversary parameters), each in model.parameters() order."""
    adversary = model.adversary()
    adversary_params = list(adversary.parameters()) if adversary is not None else []
    ids = {id(p) for p in adversary_params}
    return [p for p in model.parameters() if id(p) not in ids], adversary_params


def adversary_step(
    adversary_loss: Callable[..., TrainingLoss | None],
    x: torch.Tensor,
    reconstruction: torch.Tensor,
    step: int,
    optimiser: torch.optim.Optimizer,
    lr: float,
    cfg: Mapping[str, Any],
    precision: str,
) -> dict[str, float]:
    """One update of the model's adversary at learning rate `lr` (the generator's of this step).

    adversary_loss: the model's adversary_loss (or its DDP wrapper in a distributed run).

    Returns the table columns: ``adversary_loss`` and the adversary's statistics; {} while the
    family does not train its adversary yet (adversary_loss returned None).
    """
    with autocast(x.device, precision):
        objective = adversary_loss(x, reconstruction, step)
    if objective is None:
        return {}
    for group in optimiser.param_groups:
        group["lr"] = lr
    loss = objective.total
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for group in optimiser.param_groups for p in group["params"]]
    if cfg["grad_clip_norm"]:
        torch.nn.utils.clip_grad_norm_(params, cfg["grad_clip_norm"])
    optimiser.step()
    return {
        "adversary_loss": float(loss.detach()),
        **{k: float(v) for k, v in objective.stats.items()},
    }


def _batch(
    data: VolumeSet,
    step: int,
    cfg: Mapping[str, Any],
    seed: int,
    device: torch.device,
    channels_last: bool,
    ranks: Ranks,
) -> torch.Tensor:
    """This process's share of batch `step` (0-based) of the seeded data order (all of it in a
    single-process run), flipped where flip_augment says."""
    idx = batch_indices(step, len(data), cfg["batch_size"], seed)
    share = len(idx) // ranks.size
    mine = slice(ranks.rank * share, (ranks.rank + 1) * share)
    batch = data.batch(idx[mine])
    if cfg["flip_augment"]:
        flips = flip_mask(step, len(idx), seed)[mine]
        batch[flips] = batch[flips, :, ::-1]
    x = torch.from_numpy(np.ascontiguousarray(batch)).to(device, non_blocking=True)
    return to_memory_format(x, channels_last)


@torch.no_grad()
def reconstruct(
    model: LatentAutoencoder,
    x: torch.Tensor,
    device: torch.device,
    precision: str,
    channels_last: bool,
) -> torch.Tensor:
    """model.reconstruct(x) in eval mode, float32 (B, 1, X, Y, Z) on CPU."""
    model.eval()
    x = to_memory_format(x.to(device, non_blocking=True), channels_last)
    with autocast(device, precision):
        recon = model.reconstruct(x)
    return recon.float().cpu()


def evaluate(
    model: LatentAutoencoder,
    val_cache: Sequence[tuple[np.ndarray, np.ndarray]],
    device: torch.device,
    precision: str,
    channels_last: bool,
) -> dict[str, float]:
    """Mean MAE/PSNR/SSIM inside the brain over the cached validation scans."""
    scores = []
    for image, mask in val_cache:
        x = torch.from_numpy(image)[None, None]
        recon = reconstruct(model, x, device, precision, channels_last)
        scores.append(masked_metrics(recon[0, 0], image, mask))
    return {f"val_{k}": float(np.mean([s[k] for s in scores])) for k in ("mae", "psnr", "ssim")}
