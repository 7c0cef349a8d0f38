"""Deterministic train/val/test split by subject.

Each subject gets a number u in [0, 1) from a hash of (seed, participant_id), independent of
the other subjects. Subjects are ranked by u; the lowest `n_test` go to test, the next `n_val`
to val, the rest to train, where n_test = #{u < test_fraction} and
n_val = #{test_fraction <= u < test_fraction + val_fraction}. This is the same as thresholding
u, so a subject keeps its split when others are added, except for the guarantee below.

Guarantee: when a fraction is > 0, that split gets at least one subject (n_test or n_val is
raised to 1, taking the next subjects in u order) and train keeps at least one; this needs
1 + (val_fraction > 0) + (test_fraction > 0) subjects (3 with the defaults), fewer is an error.
Only the subjects moved by this guarantee (at most one per split, in tiny cohorts) can change
split when subjects are added.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from latentcf.errors import ConfigError, LatentCFError

SPLITS = ("train", "val", "test")


class SplitError(LatentCFError):
    """Too few subjects for the configured split."""


def subject_uniform(seed: int, participant_id: str) -> float:
    """A number in [0, 1) fixed by (seed, participant_id) alone (SHA-256, platform independent)."""
    digest = hashlib.sha256(f"latentcf-split:{seed}:{participant_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(
    participant_ids: Iterable[str], seed: int, val_fraction: float, test_fraction: float
) -> dict[str, str]:
    """Map each distinct participant_id to "train", "val" or "test" (see the module docstring).

    Raises :class:`ConfigError` for fractions outside [0, 1) or summing to >= 1, and
    :class:`SplitError` when there are fewer subjects than the split needs.
    """
    for key, value in (
        ("split.val_fraction", val_fraction),
        ("split.test_fraction", test_fraction),
    ):
        if not 0 <= value < 1:
            raise ConfigError(key, f"got {value}; expected a number in [0, 1)")
    if val_fraction + test_fraction >= 1:
        raise ConfigError(
            "split",
            f"val_fraction + test_fraction = {val_fraction + test_fraction:g}; expected < 1 "
            "so that some subjects are left for training",
        )
    subjects = sorted(set(participant_ids))
    needed = 1 + (val_fraction > 0) + (test_fraction > 0)
    if len(subjects) < needed:
        raise SplitError(
            f"{len(subjects)} subject(s) in the cohort after exclusions; expected at least {needed} "
            f"(one for train{', one for val' if val_fraction > 0 else ''}"
            f"{', one for test' if test_fraction > 0 else ''}) with split.val_fraction={val_fraction:g} "
            f"and split.test_fraction={test_fraction:g}. Add subjects or set the fractions to 0"
        )
    u = {pid: subject_uniform(seed, pid) for pid in subjects}
    ranked = sorted(subjects, key=lambda pid: (u[pid], pid))
    n_test = sum(1 for pid in subjects if u[pid] < test_fraction)
    n_val = sum(1 for pid in subjects if test_fraction <= u[pid] < test_fraction + val_fraction)
    if test_fraction > 0:
        n_test = max(n_test, 1)
    if val_fraction > 0:
        n_val = max(n_val, 1)
    while n_test + n_val > len(subjects) - 1:  # keep at least one training subject
        if n_test >= n_val and n_test > (test_fraction > 0):
            n_test -= 1
        else:
            n_val -= 1
    return {
        pid: "test" if i < n_test else "val" if i < n_test + n_val else "train"
        for i, pid in enumerate(ranked)
    }
