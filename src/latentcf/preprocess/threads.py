"""Thread limits for ITK (antspyx), OpenMP/BLAS and torch: call before the heavy imports."""

from __future__ import annotations

import os
import sys

_ENV_VARS = (
    "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


def set_threads(n: int) -> None:
    """Limit every library used by the stage to `n` threads (n >= 1).

    Environment variables only act on libraries not yet loaded, so call this first; torch,
    if already imported, is limited directly.
    """
    n = max(1, int(n))
    for var in _ENV_VARS:
        os.environ[var] = str(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
