"""Training data: model-grid volumes, loaded once and kept in memory, in a seeded order.

The order is a pure function of (seed, step): epoch e visits the scans in the permutation
drawn from numpy's PCG64 seeded with (seed, e). Resuming at step s therefore needs no
data-loader state, and an interrupted run sees exactly the batches of an uninterrupted one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from latentcf.errors import InputDataError
from latentcf.io import load_t1w

log = logging.getLogger(__name__)

#: Volumes are cached in memory up to this many bytes; beyond it they are re-read every time.
CACHE_MAX_BYTES = 8 * 1024**3


def load_volume(path: str | Path, expected_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Float32 array (X, Y, Z) of a model-grid NIfTI, checked (see latentcf.io.load_t1w)."""
    img = load_t1w(path)
    data = np.asarray(img.dataobj, dtype=np.float32)
    if expected_shape is not None and tuple(data.shape) != tuple(expected_shape):
        raise InputDataError(
            path,
            f"expected a model-grid image of shape {tuple(expected_shape)}, got {tuple(data.shape)}",
            "All images must come from the same preprocessing resolution (preprocess.resolution_mm)",
        )
    return data


def load_mask(path: str | Path, expected_shape: tuple[int, ...]) -> np.ndarray:
    """Boolean mask (X, Y, Z) of a model-grid NIfTI; must match `expected_shape` and be non-empty."""
    import nibabel as nib

    try:
        data = np.asarray(nib.load(str(path)).dataobj) > 0
    except Exception as exc:
        raise InputDataError(path, f"unreadable mask ({type(exc).__name__}: {exc})") from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if tuple(data.shape) != tuple(expected_shape):
        raise InputDataError(
            path, f"mask shape {tuple(data.shape)} differs from the image's {tuple(expected_shape)}"
        )
    if not data.any():
        raise InputDataError(path, "the brain mask is empty")
    return data


class VolumeSet:
    """Indexable set of model-grid volumes (X, Y, Z) float32; all must share one shape."""

    def __init__(self, paths: Sequence[str | Path]):
        if not paths:
            raise InputDataError(
                "<cohort>",
                "no images for this split",
                "Check the split fractions and the cohort table",
            )
        self.paths = [Path(p) for p in paths]
        first = load_volume(self.paths[0])
        self.shape = tuple(first.shape)
        self._cache: dict[int, np.ndarray] = {}
        self._use_cache = first.nbytes * len(self.paths) <= CACHE_MAX_BYTES
        if not self._use_cache:
            log.info(
                "%d volumes exceed the %.1f GB cache; reading them from disk each time",
                len(self.paths),
                CACHE_MAX_BYTES / 1024**3,
            )
        self._store(0, first)

    def _store(self, i: int, data: np.ndarray) -> None:
        if self._use_cache:
            self._cache[i] = data

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        if i in self._cache:
            return self._cache[i]
        data = load_volume(self.paths[i], self.shape)
        self._store(i, data)
        return data

    def batch(self, indices: Sequence[int]) -> np.ndarray:
        """Stacked volumes (B, 1, X, Y, Z)."""
        return np.stack([self[i] for i in indices])[:, None]


def batch_indices(step: int, n_items: int, batch_size: int, seed: int) -> list[int]:
    """Indices of the items in batch `step` (0-based) of a seeded epoch-by-epoch shuffle."""
    out = []
    for pos in range(step * batch_size, (step + 1) * batch_size):
        epoch, k = divmod(pos, n_items)
        out.append(int(_permutation(seed, epoch, n_items)[k]))
    return out


def _permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def flip_mask(step: int, batch_size: int, seed: int) -> np.ndarray:
    """Which items of batch `step` are flipped left-right (augmentation), seeded by (seed, step)."""
    return np.random.default_rng([seed, 1, step]).random(batch_size) < 0.5
