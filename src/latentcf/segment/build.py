"""One interface over the segmentation backends: build once per job, segment many images.

The config section ``segment`` is validated against workflow/schemas/segment.schema.yaml (the
one source of defaults) and the backend module is imported only here, when chosen: the atlas
backend imports antspyx (~1-3 s), the onnx backend onnxruntime.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import nibabel as nib
import numpy as np

from latentcf.config import validate_section
from latentcf.errors import ConfigError, InputDataError
from latentcf.grid import SUPPORTED_RESOLUTIONS_MM
from latentcf.segment.result import Segmentation

SCHEMA = "segment.schema.yaml"


class Segmenter(Protocol):
    """A loaded backend (atlas or model); :meth:`segment` can be called for many images."""

    backend: str
    resolution_mm: int

    def segment(self, image: nib.Nifti1Image) -> Segmentation:
        """Segment one image; the result is on the image's grid."""
        ...


def segment_settings(segment_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``segment`` section validated, with every default filled in."""
    return validate_section(segment_config, SCHEMA, "segment")


def build_segmenter(segment_config: Mapping[str, Any] | None, resolution_mm: int) -> Segmenter:
    """The backend named by ``segment.backend`` for model-grid images at `resolution_mm`.

    Loads the atlas fractions or the ONNX model once. ``segment.threads`` sets onnxruntime's
    threads here; ITK reads its thread count from the environment when antspyx is first used,
    so a job calls ``latentcf.preprocess.set_threads(threads)`` before building. Raises
    ConfigValidationError for a bad section, ConfigError / InputDataError for a bad model or
    label table.
    """
    settings = segment_settings(segment_config)
    if resolution_mm not in SUPPORTED_RESOLUTIONS_MM:
        raise ConfigError(
            "preprocess.resolution_mm",
            f"expected one of {SUPPORTED_RESOLUTIONS_MM}, got {resolution_mm!r}",
        )
    if settings["backend"] == "atlas":
        from latentcf.segment.atlas_backend import AtlasSegmenter

        return AtlasSegmenter(settings["atlas"], int(resolution_mm))
    from latentcf.segment.onnx_backend import OnnxSegmenter

    return OnnxSegmenter(settings["onnx"], int(resolution_mm), threads=int(settings["threads"]))


def image_array(image: nib.Nifti1Image) -> np.ndarray:
    """float32 (X, Y, Z) voxels of a 3D image (or 4D with one volume), finite, else InputDataError."""
    data = np.asarray(image.dataobj, dtype=np.float32)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputDataError(image_name(image), f"expected a 3D image, got shape {data.shape}")
    if not np.all(np.isfinite(data)):
        raise InputDataError(image_name(image), "the image has NaN or infinite voxels")
    return data


def image_name(image: nib.Nifti1Image) -> str:
    """The image's file name for messages, or '<in-memory image>'."""
    return image.get_filename() or "<in-memory image>"
