"""Checks of the `preprocess` config section that its JSON schema cannot express."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def settings_problems(section: Mapping[str, Any]) -> Iterator[str]:
    """One message per problem in a validated, defaulted `preprocess` section (none if fine)."""
    norm = section.get("normalisation", {})
    lower, upper = norm.get("lower_percentile", 0.5), norm.get("upper_percentile", 99.5)
    if not lower < upper:
        yield (
            "'preprocess.normalisation': lower_percentile must be below upper_percentile, "
            f"got {lower} and {upper}"
        )
    for stage in ("rigid", "affine"):
        pyramid = section.get("registration", {}).get(stage, {})
        lengths = {
            k: len(pyramid[k])
            for k in ("iterations", "shrink_factors", "smoothing_sigmas")
            if k in pyramid
        }
        if len(set(lengths.values())) > 1:
            yield (
                f"'preprocess.registration.{stage}': iterations, shrink_factors and smoothing_sigmas "
                f"need one value per level (the same length), got lengths {lengths}"
            )
