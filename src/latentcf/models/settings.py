"""Checks of a model's settings that its JSON schema cannot express (torch-free: run at parse time)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any


def vqvae_problem(channels: list[int], res_units: list[int]) -> str | None:
    """The vqvae family needs one `res_units` entry per `channels` entry."""
    if len(res_units) != len(channels):
        return (
            f"expected one res_units entry per level ({len(channels)}, as in channels {channels}), "
            f"got {len(res_units)} ({res_units})"
        )
    return None


def klae_problems(settings: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(key, problem) for each cross-key problem of a klae model's validated settings.

    One num_res_blocks / attention_levels entry per channels entry; every channel count a
    multiple of norm_num_groups; no level but the first (full-resolution) one without residual
    blocks (MONAI's AutoencoderKL changes the channel count inside them); an existing
    perceptual_network file.
    """
    channels = list(settings["channels"])
    n = len(channels)
    blocks = settings["num_res_blocks"]
    if isinstance(blocks, list):
        if len(blocks) != n:
            yield (
                "num_res_blocks",
                f"expected one entry per level ({n}, as in channels {channels}), "
                f"got {len(blocks)} ({blocks})",
            )
        elif any(b == 0 for b in blocks[1:]):
            yield (
                "num_res_blocks",
                f"only the first (full-resolution) level may have 0 residual blocks, got {blocks}",
            )
    elif n > 1 and blocks == 0:
        yield "num_res_blocks", "only the first level may have 0 residual blocks, got 0 for all"
    attention = settings.get("attention_levels")
    if attention is not None and len(attention) != n:
        yield (
            "attention_levels",
            f"expected one entry per level ({n}, as in channels {channels}), "
            f"got {len(attention)} ({attention})",
        )
    groups = settings["norm_num_groups"]
    bad = [c for c in channels if c % groups]
    if bad:
        yield (
            "norm_num_groups",
            f"every channels entry must be a multiple of norm_num_groups ({groups}); "
            f"{bad} in channels {channels} are not",
        )
    network = settings.get("perceptual_network")
    if network is not None and not Path(network).is_file():
        yield "perceptual_network", f"file {network!r} not found (a local TorchScript file)"


def model_problems(models: Mapping[str, Mapping[str, Any]]) -> Iterator[str]:
    """One message per cross-key problem in the validated `models` section."""
    for name, settings in models.items():
        if settings["family"] == "vqvae":
            problem = vqvae_problem(settings["channels"], settings["res_units"])
            if problem:
                yield f"'models.{name}.res_units': {problem}"
        elif settings["family"] == "klae":
            for key, problem in klae_problems(settings):
                yield f"'models.{name}.{key}': {problem}"
