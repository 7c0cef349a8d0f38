"""Skull stripping behind one interface: :func:`skull_strip` (a brain mask in native space).

Backends (one module each, imported only when chosen):
- ``deepbet`` (default): CNN, weights inside the `deepbet` wheel; ~8-12 s per 1 mm head on 2 CPU threads.
- ``brainextractor``: a pure-Python re-implementation of FSL BET; no weights; ~30 s per 1 mm head.
- ``template``: registers the head to the template head (affine) and brings the template brain
  mask back; no extra dependency, the coarsest of the three.

Every backend returns a boolean array of the input's shape; :func:`skull_strip` then keeps
the largest connected component and fills holes, so all backends give one solid brain.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import nibabel as nib
import numpy as np
from scipy import ndimage

from latentcf.errors import ConfigError, InputDataError, did_you_mean

BACKENDS: dict[str, str] = {
    "deepbet": "latentcf.preprocess.skullstrip.deepbet_backend",
    "brainextractor": "latentcf.preprocess.skullstrip.bet_backend",
    "template": "latentcf.preprocess.skullstrip.template_backend",
}


def skull_strip(head: nib.Nifti1Image, method: str, **options: Any) -> np.ndarray:
    """Brain mask (bool, shape of `head`) of a bias-corrected T1w head image.

    `method` is a key of :data:`BACKENDS`; `options`, all of that backend's `brain_mask`
    keywords, are the `preprocess.skullstrip.<method>` options (defaults in
    preprocess.schema.yaml, filled by :func:`latentcf.preprocess.pipeline.run_native`).
    Raises :class:`ConfigError` for a bad method or options, :class:`InputDataError` if the
    backend finds no brain.
    """
    if method not in BACKENDS:
        raise ConfigError(
            "preprocess.skullstrip.method",
            f"expected one of {sorted(BACKENDS)}, got {method!r}.{did_you_mean(method, BACKENDS)}",
        )
    backend = importlib.import_module(BACKENDS[method])
    try:
        inspect.signature(backend.brain_mask).bind(head, **options)
    except TypeError as exc:
        raise ConfigError(f"preprocess.skullstrip.{method}", str(exc)) from None
    source = head.get_filename() or "<image>"
    try:
        mask = np.asarray(backend.brain_mask(head, **options), dtype=bool)
    except (AssertionError, ValueError) as exc:  # e.g. deepbet: "Not enough foreground"
        raise InputDataError(
            source,
            f"skull stripping ({method}) failed: {exc}",
            "Check that the image is a T1w head scan",
        ) from exc
    if mask.shape != head.shape[:3]:
        raise RuntimeError(
            f"{method} returned a mask of shape {mask.shape}, expected {head.shape[:3]}"
        )
    return clean_mask(mask, source=source, method=method)


def clean_mask(mask: np.ndarray, source: str = "<image>", method: str = "?") -> np.ndarray:
    """Keep the largest 6-connected component of `mask` and fill its holes (bool array)."""
    labels, n = ndimage.label(mask)
    if n == 0:
        raise InputDataError(source, f"skull stripping ({method}) found no brain (empty mask)")
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    largest = labels == int(np.argmax(sizes))
    return ndimage.binary_fill_holes(largest)
