"""Training loop of a latent autoencoder: seeded, checkpointed, resumable, bit-identical on CPU.

Objective per step: L1(recon, x) + quantiser loss (commitment) + ssim_weight * (1 - SSIM).
The learning rate warms up linearly for `warmup_steps`, then follows a cosine to 10 % of
`learning_rate` at `max_steps` (or stays constant with lr_schedule: constant).
"""

from __future__ import annotations

import logging
import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from latentcf.errors import ConfigError
from latentcf.metrics import masked_metrics
from latentcf.models import build_model
from latentcf.models.checkpoint import config_hash, model_payload, restore_model, save_model
from latentcf.train import checkpoints as ckpt
from latentcf.train.data import VolumeSet, batch_indices, flip_mask, load_mask
from latentcf.train.device import (
    autocast,
    resolve_channels_last,
    resolve_precision,
    select_device,
    to_memory_format,
)
from latentcf.train.table import plot_table, write_table

log = logging.getLogger(__name__)

#: Defaults of config["train"] (the schema holds the same values).
DEFAULTS: dict[str, Any] = {
    "max_steps": 2000,
    "max_minutes": 0,
    "batch_size": 2,
    "learning_rate": 3e-4,
    "lr_schedule": "cosine",
    "warmup_steps": 50,
    "weight_decay": 0.0,
    "grad_clip_norm": 1.0,
    "ssim_weight": 0.0,
    "flip_augment": False,
    "eval_every": 250,
    "val_max_scans": 4,
    "checkpoint_every": 250,
    "keep_checkpoints": 2,
    "device": "auto",
    "precision": "auto",
    "channels_last": "auto",
}
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


def merged_train_config(train_config: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(train_config) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"train.{unknown[0]}", f"unknown key; allowed: {sorted(DEFAULTS)}")
    return {**DEFAULTS, **train_config}


def learning_rate(step: int, cfg: dict[str, Any]) -> float:
    """Learning rate of step `step` (1-based)."""
    base = cfg["learning_rate"]
    if cfg["warmup_steps"] and step <= cfg["warmup_steps"]:
        return base * step / cfg["warmup_steps"]
    if cfg["lr_schedule"] == "constant":
        return base
    span = max(1, cfg["max_steps"] - cfg["warmup_steps"])
    t = min(1.0, (step - cfg["warmup_steps"]) / span)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train_model(
    train_images: Sequence[str | Path],
    val_images: Sequence[str | Path],
    val_masks: Sequence[str | Path],
    family: str,
    model_config: dict[str, Any],
    train_config: dict[str, Any],
    seed: int,
    outputs: TrainOutputs,
    threads: int = 1,
) -> Path:
    """Train (or resume training) and write the final model, the table and its plot.

    Parameters
    ----------
    train_images : model-grid T1w NIfTIs of the train split (all of one shape X, Y, Z).
    val_images, val_masks : the val split's images and brain masks (for the table's val_* columns).
    family, model_config : config["model"]["family"] and config["model"][family].
    train_config : config["train"] (missing keys take :data:`DEFAULTS`).
    seed : config["seed"].
    outputs : where to write; checkpoints go to outputs.checkpoint_dir.
    threads : CPU threads for torch.

    Returns the path of the final model file.
    """
    cfg = merged_train_config(train_config)
    torch.set_num_threads(max(1, int(threads)))
    device = select_device(cfg["device"])
    precision = resolve_precision(cfg["precision"], device)
    channels_last = resolve_channels_last(cfg["channels_last"], device)
    log.info(
        "training on %s, precision %s, channels_last %s, %d thread(s)",
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
            "family": family,
            "model": model_config,
            "train": {k: v for k, v in cfg.items() if k not in _NOT_IN_FINGERPRINT},
            "seed": seed,
            "train_images": [str(p) for p in train_images],
            "device": device.type,
        }
    )

    seed_everything(seed)
    model = build_model(family, model_config)
    model.check_input_shape(data.shape, f"{data.paths[0]}")
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last_3d)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=cfg["learning_rate"], weight_decay=cfg["weight_decay"]
    )
    ssim_loss = _ssim_loss() if cfg["ssim_weight"] > 0 else None

    rows: list[dict[str, Any]] = []
    step, elapsed_before = 0, 0.0
    resumed = ckpt.find_resumable(outputs.checkpoint_dir, fingerprint)
    if resumed is not None:
        restored = restore_model(resumed["model"], outputs.checkpoint_dir, family, model_config)
        model.load_state_dict(restored.state_dict())
        optimiser.load_state_dict(resumed["optimizer"])
        ckpt.restore_rng(resumed["rng"])
        step, elapsed_before, rows = (
            int(resumed["step"]),
            float(resumed["elapsed_s"]),
            list(resumed["table"]),
        )

    val_cache = _load_val(val_items, data.shape)
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
    )
    model.train()
    while step < cfg["max_steps"]:
        if elapsed_before + time.monotonic() - start_time > budget_s:
            log.info("time budget of %s min reached at step %d", cfg["max_minutes"], step)
            break
        idx = batch_indices(step, len(data), cfg["batch_size"], seed)
        batch = data.batch(idx)
        if cfg["flip_augment"]:
            flips = flip_mask(step, len(idx), seed)
            batch[flips] = batch[flips, :, ::-1]
        step += 1
        lr = learning_rate(step, cfg)
        for group in optimiser.param_groups:
            group["lr"] = lr
        x = to_memory_format(
            torch.from_numpy(np.ascontiguousarray(batch)).to(device), channels_last
        )
        with autocast(device, precision):
            out = model(x)
        recon = out.recon.float()
        l1 = (recon - x).abs().mean()
        loss = l1 + out.quant.loss
        s_loss = ssim_loss(recon, x) if ssim_loss is not None else torch.zeros((), device=device)
        loss = loss + cfg["ssim_weight"] * s_loss
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        if cfg["grad_clip_norm"]:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip_norm"])
        optimiser.step()
        stats = {k: float(v) for k, v in out.quant.stats.items()}
        row = {
            "step": step,
            "epoch": (step * cfg["batch_size"] - 1) // len(data),
            "lr": lr,
            "loss": float(loss.detach()),
            "l1": float(l1.detach()),
            "commitment": float(out.quant.loss.detach()),
            "ssim_loss": float(s_loss.detach()),
            **stats,
            "seconds": elapsed_before + time.monotonic() - start_time,
        }
        if not math.isfinite(row["loss"]):
            raise ConfigError(
                "train.learning_rate",
                f"the loss became {row['loss']} at step {step}",
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
        if step % cfg["checkpoint_every"] == 0 and step < cfg["max_steps"]:
            elapsed = elapsed_before + time.monotonic() - start_time
            payload = {
                "model": model_payload(model, model_config),
                "optimizer": optimiser.state_dict(),
                "rng": ckpt.capture_rng(),
                "elapsed_s": elapsed,
                "table": rows,
            }
            ckpt.save_checkpoint(
                outputs.checkpoint_dir, step, fingerprint, payload, cfg["keep_checkpoints"]
            )
    bar.close()
    if rows and "val_ssim" not in rows[-1] and val_cache:
        rows[-1].update(evaluate(model, val_cache, device, precision, channels_last))

    meta = {
        "steps": step,
        "image_shape": list(data.shape),
        "train_fingerprint": fingerprint,
        "n_train_scans": len(data),
        "seed": seed,
        "precision": precision,
    }
    save_model(outputs.model, model.cpu(), model_config, meta)
    write_table(rows, outputs.table)
    plot_table(outputs.table, outputs.plot)
    log.info("wrote %s after %d steps", outputs.model, step)
    return outputs.model


def _ssim_loss():
    from monai.losses import SSIMLoss

    return SSIMLoss(spatial_dims=3, data_range=1.0)


def _load_val(items, shape) -> list[tuple[np.ndarray, np.ndarray]]:
    from latentcf.train.data import load_volume

    return [(load_volume(img, shape), load_mask(mask, shape)) for img, mask in items]


@torch.no_grad()
def reconstruct(
    model, x: torch.Tensor, device: torch.device, precision: str, channels_last: bool
) -> torch.Tensor:
    """decode(quantise(encode(x))) in eval mode, float32 (B, 1, X, Y, Z) on CPU."""
    model.eval()
    x = to_memory_format(x.to(device), channels_last)
    with autocast(device, precision):
        z = model.encode(x)
        recon = model.decode(model.quantise(z).z_q)
    return recon.float().cpu()


def evaluate(model, val_cache, device, precision, channels_last) -> dict[str, float]:
    """Mean MAE/PSNR/SSIM inside the brain over the cached validation scans."""
    scores = []
    for image, mask in val_cache:
        recon = reconstruct(
            model, torch.from_numpy(image)[None, None], device, precision, channels_last
        )
        scores.append(masked_metrics(recon[0, 0], image, mask))
    return {f"val_{k}": float(np.mean([s[k] for s in scores])) for k in ("mae", "psnr", "ssim")}
