"""Preprocessing stage: N4 -> skull strip -> affine to MNI152NLin2009cSym -> normalise -> model grid.

Per scan the work is split in three steps, each a Snakemake rule (see workflow/rules/preprocess.smk):

1. :func:`latentcf.preprocess.pipeline.run_native`: load/check, N4, skull strip (native space).
2. :func:`latentcf.preprocess.pipeline.run_registration`: affine brain-to-template registration.
3. :func:`latentcf.preprocess.pipeline.run_grid`: intensity normalisation, resampling to the model grid.

This package file imports nothing heavy so that :func:`set_threads` can run before ITK/torch load.
"""

from latentcf.preprocess.threads import set_threads

__all__ = ["set_threads"]
