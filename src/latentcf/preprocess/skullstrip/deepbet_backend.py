"""deepbet backend: CNN brain extraction (Fisch et al. 2024), TorchScript weights in the wheel.

Inference only, no randomness: on the CPU the same head gives the same mask (checked with 1
and 2 threads). On a GPU, cuDNN is held to deterministic algorithms during the call (restored
after; not tested here, no GPU); a GPU mask may still differ from the CPU mask at the
boundary (other arithmetic, TF32), so compare runs made on the same kind of device.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from functools import lru_cache

import nibabel as nib
import numpy as np


@lru_cache(maxsize=2)
def _extractor(no_gpu: bool):
    """deepbet's two networks, loaded once per process."""
    from deepbet import BrainExtraction

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load
        return BrainExtraction(no_gpu=no_gpu)


def brain_mask(head: nib.Nifti1Image, *, threshold: float, use_gpu: bool) -> np.ndarray:
    """Brain mask (bool, shape of `head`) from deepbet's probability map > `threshold`.

    Runs on the GPU when torch sees one and `use_gpu` is true, else on the CPU. The keywords
    are the `preprocess.skullstrip.deepbet` options (defaults in preprocess.schema.yaml).
    """
    import torch

    extractor = _extractor(not (use_gpu and torch.cuda.is_available()))
    # deepbet reorients to RAS internally and returns the mask on the input's voxel grid.
    image = nib.Nifti1Image(np.asarray(head.dataobj, dtype=np.float32), head.affine)
    with _deterministic_cudnn():
        _, mask_img, _ = extractor.run(image, threshold=float(threshold))
    return np.asarray(mask_img.dataobj).astype(bool)


@contextlib.contextmanager
def _deterministic_cudnn() -> Iterator[None]:
    """cuDNN with deterministic algorithms and no autotuning within the block (no-op on the CPU)."""
    import torch

    cudnn = torch.backends.cudnn
    saved = (cudnn.deterministic, cudnn.benchmark)
    cudnn.deterministic, cudnn.benchmark = True, False
    try:
        yield
    finally:
        cudnn.deterministic, cudnn.benchmark = saved
