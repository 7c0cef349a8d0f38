"""brainextractor backend: a Python implementation of FSL BET (Smith 2002); needs no weights."""

from __future__ import annotations

import contextlib
import io
import logging

import nibabel as nib
import numpy as np

log = logging.getLogger(__name__)


def brain_mask(
    head: nib.Nifti1Image, *, fractional_threshold: float, iterations: int
) -> np.ndarray:
    """Brain mask (bool, shape of `head`) from a BET surface deformed for `iterations` steps.

    `fractional_threshold` is BET's `-f` (smaller = larger brain). BET assumes isotropic
    voxels; anisotropic images still work but less well. The keywords are the
    `preprocess.skullstrip.brainextractor` options (defaults in preprocess.schema.yaml).
    """
    from brainextractor import BrainExtractor

    image = nib.Nifti1Image(np.asarray(head.dataobj, dtype=np.float32), head.affine, head.header)
    chatter = io.StringIO()  # brainextractor prints progress on stdout; keep it for the log
    with contextlib.redirect_stdout(chatter):
        bet = BrainExtractor(image, bt=float(fractional_threshold))
        bet.run(iterations=int(iterations))
        mask = bet.compute_mask()
    log.debug("brainextractor: %s", chatter.getvalue().replace("\r", "\n")[-2000:])
    return np.asarray(mask) > 0
