"""Settings of the `preprocess` config section: defaults from the schema, cross-key checks.

Every default lives in workflow/schemas/preprocess.schema.yaml; :func:`merge_defaults` fills
a partial section from it (via :func:`latentcf.config.validate_section`), so the package keeps
no copy. :func:`settings_problems` holds the checks that the schema cannot express.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

SCHEMA = "preprocess.schema.yaml"
PYRAMID_KEYS = ("iterations", "shrink_factors", "smoothing_sigmas")


def merge_defaults(preprocess: Mapping[str, Any] | None) -> dict[str, Any]:
    """The `preprocess` section, validated, with missing keys (at any depth) from the schema.

    Raises :class:`latentcf.config.ConfigValidationError` naming every bad key
    (e.g. 'preprocess.registration.rigid').
    """
    # Imported here: latentcf.config imports this module.
    from latentcf.config import ConfigValidationError, validate_section

    section = validate_section(preprocess, SCHEMA, "preprocess")
    problems = list(settings_problems(section))
    if problems:
        raise ConfigValidationError(problems, source="config section 'preprocess'")
    return section


def settings_problems(section: Mapping[str, Any]) -> Iterator[str]:
    """One message per problem in a validated, defaulted `preprocess` section (none if fine)."""
    norm = section["normalisation"]
    lower, upper = norm["lower_percentile"], norm["upper_percentile"]
    if not lower < upper:
        yield (
            "'preprocess.normalisation': lower_percentile must be below upper_percentile, "
            f"got {lower} and {upper}"
        )
    for stage in ("rigid", "affine"):
        pyramid = section["registration"][stage]
        lengths = {k: len(pyramid[k]) for k in PYRAMID_KEYS}
        if len(set(lengths.values())) > 1:
            yield (
                f"'preprocess.registration.{stage}': iterations, shrink_factors and smoothing_sigmas "
                f"need one value per level (the same length), got lengths {lengths}"
            )
