"""Helpers of the segmentation tests: a template with a known deformation, tiny ONNX models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from latentcf.atlas import AtlasGrid, atlas_on_grid


def deformed_template(
    resolution_mm: int, rms_mm: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, AtlasGrid]:
    """The model-grid template and its atlas fractions moved by one smooth random displacement.

    Returns (image float32 (X, Y, Z), fractions float32 (n_labels, X, Y, Z), the atlas grid).
    The displacement is a cubic upsampling of a 5x6x5 random field, scaled to `rms_mm`.
    """
    grid = atlas_on_grid(resolution_mm)
    shape = np.array(grid.brain.shape)
    coarse = np.random.default_rng(seed).normal(0.0, 1.0, size=(3, 5, 6, 5))
    disp = np.stack(
        [
            ndimage.zoom(c, shape / np.array(c.shape), order=3, grid_mode=True, mode="nearest")
            for c in coarse
        ]
    )
    disp *= rms_mm / resolution_mm / np.sqrt((disp**2).sum(axis=0).mean())
    coords = np.indices(grid.brain.shape, dtype=np.float64) + disp
    image = ndimage.map_coordinates(grid.brain, coords, order=1).astype(np.float32)
    fractions = np.stack(
        [ndimage.map_coordinates(f, coords, order=1) for f in grid.fractions()]
    ).astype(np.float32)
    return image, fractions, grid


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean arrays."""
    return float(2.0 * np.sum(a & b) / max(int(a.sum() + b.sum()), 1))


def conv_model(path: Path, weights: list[float], biases: list[float]) -> Path:
    """An ONNX model (opset 17) with logits[c] = weights[c] * t1 + biases[c] (a 1x1x1 conv):
    input t1 [1, 1, D, H, W], output logits [1, C, D, H, W]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    c = len(weights)
    w = numpy_helper.from_array(np.asarray(weights, dtype=np.float32).reshape(c, 1, 1, 1, 1), "w")
    b = numpy_helper.from_array(np.asarray(biases, dtype=np.float32), "b")
    node = helper.make_node("Conv", ["t1", "w", "b"], ["logits"], kernel_shape=[1, 1, 1])
    graph = helper.make_graph(
        [node],
        "conv",
        [helper.make_tensor_value_info("t1", TensorProto.FLOAT, [1, 1, "D", "H", "W"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, c, "D", "H", "W"])],
        initializer=[w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def write_labels(path: Path, rows: list[tuple[int, int, str]]) -> Path:
    """A label table (index, label, name) as the onnx backend reads it."""
    lines = ["index\tlabel\tname", *(f"{i}\t{lab}\t{name}" for i, lab, name in rows)]
    path.write_text("\n".join(lines) + "\n")
    return path
