"""Checks of a model's settings that its JSON schema cannot express (torch-free: run at parse time)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

#: Families whose latent has a N(0, I) prior to sample from (LatentAutoencoder.has_prior), known
#: without importing torch so the workflow can decide at parse time which models get a `sample` job.
FAMILIES_WITH_PRIOR = frozenset({"m3ae", "betavae"})


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


def per_level(value: float | list[float], levels: int) -> list[float]:
    """A per-level weight: a list as given, or one number repeated on every one of `levels`."""
    return [float(v) for v in value] if isinstance(value, list) else [float(value)] * levels


def vector_vae_problems(settings: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(key, problem) for a betavae/m3ae model: as many decoder levels as encoder levels (the
    decoder starts from the encoder's coarsest grid), channel counts multiples of
    norm_num_groups."""
    channels, decoder = list(settings["channels"]), list(settings["decoder_channels"])
    if len(decoder) != len(channels):
        yield (
            "decoder_channels",
            f"expected one entry per encoder level ({len(channels)}, as in channels {channels}), "
            f"got {len(decoder)} ({decoder})",
        )
    groups = settings["norm_num_groups"]
    for key, values in (("channels", channels), ("decoder_channels", decoder)):
        bad = [c for c in values if c % groups]
        if bad:
            yield (
                "norm_num_groups",
                f"every {key} entry must be a multiple of norm_num_groups ({groups}); "
                f"{bad} in {key} {values} are not",
            )


def m3ae_problems(settings: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(key, problem) for an m3ae model: the vector-VAE checks, both latent parts non-empty, per-level weight lists of the right length, an existing template file."""
    yield from vector_vae_problems(settings)
    levels = len(settings["decoder_channels"]) + 1  # the last, full-resolution one is additive
    dim, split = settings["latent_dim"], settings["deformation_latent_dim"]
    if not 0 < split < dim:
        yield (
            "deformation_latent_dim",
            f"expected between 1 and latent_dim - 1 ({dim - 1}) entries for z_phi, got {split}",
        )
    for i in range(1, 6):
        value = settings[f"gamma{i}"]
        expected = levels if i == 2 else levels - 1
        if isinstance(value, list) and len(value) != expected:
            what = "level" if i == 2 else "warped level (all but the last)"
            yield (
                f"gamma{i}",
                f"expected one entry per {what} ({expected}), got {len(value)} ({value})",
            )
    template = settings.get("template", "icbm")
    if template != "icbm" and not Path(template).is_file():
        yield "template", f"expected 'icbm' or an existing NIfTI file, got {template!r} (not found)"


def model_input_files(settings: Mapping[str, Any]) -> list[str]:
    """Files a model's settings name (perceptual network, template): inputs of its training."""
    files = [settings.get("perceptual_network"), settings.get("template")]
    return [f for f in files if f and f != "icbm"]


def model_problems(models: Mapping[str, Mapping[str, Any]]) -> Iterator[str]:
    """One message per cross-key problem in the validated `models` section."""
    checks = {"klae": klae_problems, "betavae": vector_vae_problems, "m3ae": m3ae_problems}
    for name, settings in models.items():
        if settings["family"] == "vqvae":
            problem = vqvae_problem(settings["channels"], settings["res_units"])
            if problem:
                yield f"'models.{name}.res_units': {problem}"
        elif settings["family"] in checks:
            for key, problem in checks[settings["family"]](settings):
                yield f"'models.{name}.{key}': {problem}"
