"""Training checkpoints: everything needed to resume bit-identically, written atomically.

File: ``<dir>/step-<step:07d>-<fingerprint>.pt`` holding model payload, optimizer state, RNG
states (torch CPU/CUDA, numpy, python), the step, elapsed seconds and the training table so far.
The fingerprint hashes everything that changes the training trajectory (model + train config,
seed, training images); a checkpoint with another fingerprint is never resumed from.
"""

from __future__ import annotations

import logging
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentcf.errors import InputDataError
from latentcf.models.checkpoint import atomic_torch_save, safe_torch_load

log = logging.getLogger(__name__)

FORMAT = "latentcf-train-checkpoint"
_NAME = re.compile(r"^step-(\d{7})-([0-9a-f]{16})\.pt$")


def capture_rng() -> dict[str, Any]:
    """RNG states as tensors/plain types (loadable with weights_only=True)."""
    np_state = np.random.get_state(legacy=False)
    py_version, py_state, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy_key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
        "numpy_pos": int(np_state["state"]["pos"]),
        "numpy_has_gauss": int(np_state["has_gauss"]),
        "numpy_gauss": float(np_state["gauss"]),
        "python_version": py_version,
        "python_state": torch.tensor(py_state, dtype=torch.int64),
        "python_gauss": py_gauss,
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {
                "key": state["numpy_key"].numpy().astype(np.uint32),
                "pos": state["numpy_pos"],
            },
            "has_gauss": state["numpy_has_gauss"],
            "gauss": state["numpy_gauss"],
        }
    )
    random.setstate(
        (
            state["python_version"],
            tuple(int(v) for v in state["python_state"]),
            state["python_gauss"],
        )
    )


def checkpoint_path(folder: str | Path, step: int, fingerprint: str) -> Path:
    return Path(folder) / f"step-{step:07d}-{fingerprint}.pt"


def save_checkpoint(
    folder: str | Path, step: int, fingerprint: str, payload: dict[str, Any], keep: int
) -> Path:
    """Write a checkpoint atomically and delete older ones of this fingerprint beyond `keep`."""
    payload = {"format": FORMAT, "fingerprint": fingerprint, "step": step, **payload}
    path = atomic_torch_save(payload, checkpoint_path(folder, step, fingerprint))
    mine = sorted(p for p in Path(folder).glob(f"step-*-{fingerprint}.pt") if _NAME.match(p.name))
    for old in mine[: max(0, len(mine) - max(1, keep))]:
        old.unlink(missing_ok=True)
    return path


def find_resumable(folder: str | Path, fingerprint: str) -> dict[str, Any] | None:
    """The newest loadable checkpoint with `fingerprint`, or None; logs why others are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    files = sorted((p for p in folder.iterdir() if _NAME.match(p.name)), reverse=True)
    others = [p.name for p in files if _NAME.match(p.name).group(2) != fingerprint]
    if others:
        log.info(
            "ignoring %d checkpoint(s) from another configuration or training set (fingerprint differs "
            "from %s): %s",
            len(others),
            fingerprint,
            ", ".join(others[:3]),
        )
    for path in files:
        if _NAME.match(path.name).group(2) != fingerprint:
            continue
        try:
            payload = safe_torch_load(path)
        except InputDataError as exc:
            log.warning("skipping unreadable checkpoint (%s)", exc)
            continue
        if payload.get("format") != FORMAT or payload.get("fingerprint") != fingerprint:
            log.warning("skipping %s: not a checkpoint of this run", path.name)
            continue
        log.info("resuming from %s (step %d)", path.name, payload["step"])
        return payload
    if files:
        log.info("no checkpoint matches fingerprint %s: starting from scratch", fingerprint)
    return None
