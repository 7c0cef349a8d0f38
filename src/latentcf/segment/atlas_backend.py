"""Atlas backend: the template's label atlas warped to each model-grid image by SyN (antspyx).

Atlas: CerebrA mapped to FreeSurfer ids, with cerebral white matter and CSF added by template
intensity (:mod:`latentcf.atlas`). CerebrA was delineated on the ICBM 2009c symmetric template
and ships on the template's own grid, so atlas and template agree exactly by construction; the
only registration is the one from the template to the image. It was chosen over deepmriprep's
IBSR atlas (FreeSurfer ids already, but a CAT12 template on another 1.5/1 mm grid whose alignment
with ICBM 2009c would itself need a registration) and covers every structure the workflow
measures (hippocampus, amygdala, ventricles, cortex, white matter, subcortical nuclei).

Per segmenter (once per job): the template and the per-label fraction maps on the model grid
(the 1 mm one-hot labels block-averaged over each model-grid voxel; 0/1 at 1 mm).
Per image: ``ants.registration(type_of_transform="SyNOnly", initial_transform="identity")`` from
the template to the image (both are already affinely aligned in template space, so the
deformation is all that is left), then the fraction maps are warped with LINEAR interpolation
through the SyN displacement field: partial volumes, not nearest-neighbour labels. All labels
are warped at once as one sparse product (:mod:`latentcf.segment.resample`; equal to antspyx's
``apply_transforms(interpolator="linear")`` per label to float precision, tested), which at 1 mm
takes a second and little memory where ``apply_transforms`` on the 4D stack took 20 s and 8 GB. A linear interpolation of a partition stays a
partition, so the warped fractions sum to <= 1 (background is the rest). The label map is their
argmax. The registration is seeded (``segment.atlas.random_seed``): the same image, settings and
ITK thread count give byte-identical fractions.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import nibabel as nib
import numpy as np
import scipy.sparse as sp

from latentcf.antslib import ants
from latentcf.atlas import FS_NAMES, AtlasGrid, atlas_on_grid, dseg_from_fractions
from latentcf.errors import ConfigError, InputDataError
from latentcf.preprocess.antsimg import to_ants
from latentcf.preprocess.register import ants_random_seed
from latentcf.segment.build import image_array, image_name
from latentcf.segment.resample import (
    normalise_fractions,
    resample_labels,
    trilinear_matrix,
    warp_indices,
)
from latentcf.segment.result import Segmentation

log = logging.getLogger(__name__)

# Voxel size (mm) of each SyN pyramid level of segment.atlas.reg_iterations, coarse to fine.
LEVELS_MM = (16, 8, 4, 2, 1)
# 99th percentile of a model-grid brain's intensities that counts as scaled like the template.
_INTENSITY_RANGE = (0.3, 1.5)
# Largest affine difference (mm) between an image and the model grid that counts as the grid.
_GRID_TOLERANCE_MM = 1e-3


class AtlasSegmenter:
    """Segments model-grid images at `resolution_mm` by registering the template to them.

    `options`: the validated ``segment.atlas`` section (syn_metric, syn_sampling,
    reg_iterations, flow_sigma_mm, total_sigma_mm, grad_step, random_seed).
    """

    backend = "atlas"

    def __init__(self, options: Mapping[str, Any], resolution_mm: int):
        self.resolution_mm = int(resolution_mm)
        self.options = dict(options)
        self.grid: AtlasGrid = atlas_on_grid(self.resolution_mm)
        self.labels = self.grid.labels
        self.names = tuple(FS_NAMES[i] for i in self.labels)
        self.iterations = level_iterations(self.options["reg_iterations"], self.resolution_mm)
        self._template = to_ants(self.grid.brain, self.grid.affine)

    def segment(self, image: nib.Nifti1Image) -> Segmentation:
        """Segment one model-grid image (float, skull-stripped, ~[0, 1], background 0)."""
        data = image_array(image)
        self._check_grid(image, data)
        fixed = to_ants(data, self.grid.affine)
        o = self.options
        with tempfile.TemporaryDirectory(prefix="latentcf-segment-") as tmp:
            with ants_random_seed(int(o["random_seed"])):
                reg = ants.registration(
                    fixed=fixed,
                    moving=self._template,
                    type_of_transform="SyNOnly",
                    initial_transform="identity",
                    outprefix=os.path.join(tmp, "syn_"),
                    syn_metric=str(o["syn_metric"]),
                    syn_sampling=int(o["syn_sampling"]),
                    reg_iterations=self.iterations,
                    flow_sigma=float(o["flow_sigma_mm"]) / self.resolution_mm,
                    total_sigma=float(o["total_sigma_mm"]) / self.resolution_mm,
                    grad_step=float(o["grad_step"]),
                )
            fractions = warp_fractions(self.grid.table, reg["fwdtransforms"], fixed)
        return Segmentation(
            dseg=dseg_from_fractions(fractions, self.labels),
            labels=self.labels,
            fractions=fractions,
            names=self.names,
        )

    def _check_grid(self, image: nib.Nifti1Image, data: np.ndarray) -> None:
        shape, affine = self.grid.brain.shape, self.grid.affine
        same = data.shape == shape and np.allclose(image.affine, affine, atol=_GRID_TOLERANCE_MM)
        if not same:
            raise InputDataError(
                image_name(image),
                f"expected an image on the {self.resolution_mm} mm model grid (shape {shape}, "
                f"affine diag {np.diag(affine)[:3].tolist()}, origin {affine[:3, 3].tolist()}), "
                f"got shape {data.shape}, affine diag {np.diag(image.affine)[:3].tolist()}, "
                f"origin {image.affine[:3, 3].tolist()}",
                "Segment the preprocessed (model-grid) image, or build the segmenter for its resolution",
            )
        if not np.any(data > 0):
            raise InputDataError(image_name(image), "the image has no voxel > 0 (an empty brain)")
        level = float(np.percentile(data[data > 0], 99))
        if not _INTENSITY_RANGE[0] <= level <= _INTENSITY_RANGE[1]:
            log.warning(
                "%s: 99th intensity percentile of the brain is %.3g; the atlas backend's metric "
                "(%s) expects images scaled like the preprocessed ones (brain ~[0, 1])",
                image_name(image),
                level,
                self.options["syn_metric"],
            )


def level_iterations(iterations: Sequence[int], resolution_mm: int) -> tuple[int, ...]:
    """SyN iterations for a grid of `resolution_mm`: `iterations` are given at levels of
    LEVELS_MM (16 ... 1 mm); the levels finer than the grid are dropped. antspyx then shrinks
    level k of n by 2^(n-1-k), i.e. exactly to those voxel sizes."""
    if len(iterations) != len(LEVELS_MM):
        raise ConfigError(
            "segment.atlas.reg_iterations",
            f"expected {len(LEVELS_MM)} values (levels of {list(LEVELS_MM)} mm), got {list(iterations)}",
        )
    return tuple(int(i) for i, mm in zip(iterations, LEVELS_MM, strict=True) if mm >= resolution_mm)


def warp_fractions(
    table: sp.csr_matrix, transforms: list[str], fixed: ants.ANTsImage
) -> np.ndarray:
    """float32 (n_labels, X, Y, Z): the fractions `table` (n_voxels, n_labels) of the moving
    image's grid warped onto `fixed` by `transforms` (SyNOnly's forward transforms, or its inverse
    transforms to go the other way) with linear interpolation, all labels in one sparse product;
    clipped so that each voxel sums to <= 1."""
    weights = trilinear_matrix(warp_indices(transforms, fixed), fixed.shape)
    return normalise_fractions(resample_labels(weights, table, fixed.shape))
