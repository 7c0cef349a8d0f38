"""Segmentation of model-grid images into FreeSurfer labels with partial-volume fractions.

Two backends behind one interface (one module each, imported only when chosen):
``atlas`` (:mod:`latentcf.segment.atlas_backend`, the template's CerebrA atlas warped to each
image by SyN; needs no weights) and ``onnx`` (:mod:`latentcf.segment.onnx_backend`, a
SynthSeg-compatible network run by onnxruntime).

    segmenter = build_segmenter(config.get("segment"), resolution_mm)   # once per job
    seg = segmenter.segment(nib.load(path))                               # per image
    seg.volumes(voxel_volume_ml(img.affine)); write_dseg(seg, img.affine, out)
"""

from __future__ import annotations

from latentcf.atlas import STRUCTURES
from latentcf.segment.build import Segmenter, build_segmenter, segment_settings
from latentcf.segment.result import Segmentation, voxel_volume_ml, write_dseg

__all__ = [
    "STRUCTURES",
    "Segmentation",
    "Segmenter",
    "build_segmenter",
    "segment_settings",
    "voxel_volume_ml",
    "write_dseg",
]
