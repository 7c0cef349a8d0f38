"""Checks of a model's settings that its JSON schema cannot express (torch-free: run at parse time)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def vqvae_problem(channels: list[int], res_units: list[int]) -> str | None:
    """The vqvae family needs one `res_units` entry per `channels` entry."""
    if len(res_units) != len(channels):
        return (
            f"expected one res_units entry per level ({len(channels)}, as in channels {channels}), "
            f"got {len(res_units)} ({res_units})"
        )
    return None


def model_problems(models: Mapping[str, Mapping[str, Any]]) -> Iterator[str]:
    """One message per cross-key problem in the validated `models` section."""
    for name, settings in models.items():
        if settings["family"] == "vqvae":
            problem = vqvae_problem(settings["channels"], settings["res_units"])
            if problem:
                yield f"'models.{name}.res_units': {problem}"
