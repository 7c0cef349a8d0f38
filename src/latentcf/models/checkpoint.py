"""Model files: save atomically, load safely (weights_only=True) with architecture checks.

A model file is a dict of plain types and tensors:
``{"format": "latentcf-model", "format_version": 2, "family", "model_config", "fingerprint",
"image_shape", "state_dict", "meta"}`` (image_shape: the grid of families built for one, else
None). `model_config` is the model's validated config entry (family and every
setting); `fingerprint` hashes it with every parameter/buffer name and shape, so a file from
another architecture fails with a message naming the differing settings instead of a
shape-mismatch traceback.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from latentcf.errors import InputDataError
from latentcf.io import atomic_write
from latentcf.models.base import LatentAutoencoder, build_model, model_settings

FORMAT = "latentcf-model"
FORMAT_VERSION = 2


def config_hash(obj: Any) -> str:
    """Stable short hash (16 hex digits) of a JSON-serialisable object."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def architecture_fingerprint(model: LatentAutoencoder, model_config: dict[str, Any]) -> str:
    """Hash of family + config + (name, shape) of every state-dict entry."""
    shapes = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    return config_hash({"family": model.family, "config": model_config, "shapes": shapes})


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """torch.save to a temporary file in the same folder, then rename over `path`.

    Saved through a file object: given a path, torch names the archive's folder after the
    (random) temporary file name, and identical models would give different bytes.
    """

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)

    return atomic_write(path, write)


def safe_torch_load(path: str | Path) -> dict[str, Any]:
    """torch.load(weights_only=True) on CPU; InputDataError if the file is missing or not loadable."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError(path, "model/checkpoint file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated zip, disallowed globals
        raise InputDataError(
            path,
            f"not a loadable model file ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
            "Delete it and rerun training",
        ) from exc
    if not isinstance(obj, dict):
        raise InputDataError(path, f"expected a dict in the model file, got {type(obj).__name__}")
    return obj


def model_payload(
    model: LatentAutoencoder, model_config: dict[str, Any], meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The dict stored in a model file (state dict cloned to CPU; config with defaults filled)."""
    model_config = model_settings(model_config)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "family": model.family,
        "model_config": model_config,
        "fingerprint": architecture_fingerprint(model, model_config),
        "image_shape": list(getattr(model, "image_shape", None) or []) or None,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "meta": meta or {},
    }


def save_model(
    path: str | Path,
    model: LatentAutoencoder,
    model_config: dict[str, Any],
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write a model file atomically. `meta`: plain types only (e.g. grid shape, steps trained)."""
    return atomic_torch_save(model_payload(model, model_config, meta), path)


def _describe_config_difference(stored: dict[str, Any], expected: dict[str, Any]) -> str:
    keys = sorted(set(stored) | set(expected))
    diffs = [
        f"{k}: file has {stored.get(k, '<unset>')!r}, config has {expected.get(k, '<unset>')!r}"
        for k in keys
        if stored.get(k) != expected.get(k)
    ]
    return "; ".join(diffs)


def restore_model(
    payload: dict[str, Any], path: str | Path, model_config: dict[str, Any] | None = None
) -> LatentAutoencoder:
    """Rebuild a model from a loaded payload, checking it against the expected config entry."""
    if payload.get("format") != FORMAT or payload.get("format_version") != FORMAT_VERSION:
        raise InputDataError(
            path,
            f"not a latentcf model file (format {payload.get('format')!r} version "
            f"{payload.get('format_version')!r}; expected {FORMAT!r} version {FORMAT_VERSION})",
            "Delete it and rerun training",
        )
    stored_config = payload["model_config"]
    if model_config is not None:
        model_config = model_settings(model_config)
    if model_config is not None and model_config != stored_config:
        raise InputDataError(
            path,
            "the file was trained with a different model configuration ("
            + _describe_config_difference(stored_config, model_config)
            + ")",
            "Retrain the model (snakemake --forcerun train) or restore the config",
        )
    image_shape = payload.get("image_shape")
    model = build_model(
        stored_config,
        image_shape=tuple(image_shape) if image_shape else None,
        for_loading=True,
    )
    expected = architecture_fingerprint(model, stored_config)
    if payload.get("fingerprint") != expected:
        raise InputDataError(
            path,
            f"architecture fingerprint {payload.get('fingerprint')} does not match the code's "
            f"{expected} for the stored configuration (saved by another latentcf version?)",
            "Retrain the model",
        )
    state = payload["state_dict"]
    own = model.state_dict()
    bad = [k for k in own if k not in state or tuple(state[k].shape) != tuple(own[k].shape)] + [
        k for k in state if k not in own
    ]
    if bad:
        raise InputDataError(
            path, f"weights do not fit the architecture (first mismatching entries: {bad[:5]})"
        )
    model.load_state_dict(state, strict=True)
    return model


def load_model(
    path: str | Path,
    model_config: dict[str, Any] | None = None,
    device: str | torch.device = "cpu",
) -> tuple[LatentAutoencoder, dict[str, Any]]:
    """Load a model file (weights_only=True) and return (model in eval mode on `device`, meta).

    If `model_config` (a validated config entry, family included) is given, the file must have
    been trained with exactly it; otherwise raise :class:`InputDataError` naming the differing
    settings.
    """
    payload = safe_torch_load(path)
    model = restore_model(payload, path, model_config)
    return model.to(device).eval(), dict(payload.get("meta", {}))
