"""ONNX backend: a SynthSeg-compatible segmentation network run by onnxruntime.

The model is described by the ``segment.onnx`` config section itself (no separate spec file):
the .onnx file, a label table (TSV: index, label, name = output channel -> FreeSurfer id and
name; by default ``<model>.labels.tsv`` beside it) and the input convention its weights expect.
Defaults are the brainchop MeshNet convention (../shared/models/meshnet/README.md):

1. conform the image to 256^3 voxels of 1 mm in LIA orientation
   (``nibabel.processing.conform``, cubic), min-max scale to [0, 1];
2. crop to the bounding box of voxels > 0.2 plus a margin of 2 voxels (saves time and memory);
3. run the network on the crop: input [1, 1, D, H, W] float32, output [1, C, D, H, W] logits;
4. per network voxel either the most probable channel's label (``fractions: argmax``, default)
   or the softmax probabilities (``fractions: softmax``), channels sharing a FreeSurfer id
   summed (a merged-hemisphere model names the left id), background (id 0) dropped;
5. resample these back to the image grid linearly, averaged over each image voxel (k^3
   sub-voxel samples where an image voxel spans k network voxels): the partial-volume
   fractions. Outside the crop everything is background. The label map is their argmax (the
   README's nearest-neighbour argmax, made consistent with the fractions at any voxel size).

Why argmax by default: MeshNet's softmax has a floor of ~6e-4 on every channel everywhere, so
summed probabilities add ~6 ml to every label over a 9 M-voxel head crop (IXI012, 18-class model:
accumbens 6.8 ml soft vs 0.9 ml hard, hippocampus 15.3 vs 9.9 ml). ``softmax`` is for calibrated
networks (SynthSeg's posteriors), whose summed probabilities are the better volume estimate.

onnxruntime is imported here only (the atlas backend never loads it). CUDAExecutionProvider is
used first when onnxruntime lists it (``providers: auto``), else the CPU with ``threads`` intra-op
threads. On the CPU the same image gives byte-identical output for the same thread count.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import scipy.sparse as sp
from nibabel.orientations import axcodes2ornt
from nibabel.processing import conform

from latentcf.atlas import dseg_from_fractions
from latentcf.errors import ConfigError, InputDataError
from latentcf.segment.build import image_array, image_name
from latentcf.segment.resample import (
    grid_points,
    normalise_fractions,
    resample_labels,
    subdivisions_for,
    trilinear_matrix,
)
from latentcf.segment.result import Segmentation

LABEL_COLUMNS = ("index", "label", "name")


def label_table_path(model: str | Path, labels: str | Path | None) -> Path:
    """The label table: `labels`, or the model's path with .onnx replaced by .labels.tsv."""
    if labels is not None:
        return Path(labels)
    model = Path(model)
    stem = model.name[: -len(".onnx")] if model.name.endswith(".onnx") else model.name
    return model.with_name(stem + ".labels.tsv")


def read_label_table(path: str | Path, n_channels: int | None) -> pd.DataFrame:
    """The label table (index, label, name), one row per output channel, sorted by index.

    Raises InputDataError naming `path` if it is unreadable, lacks a column, has a non-integer
    id, or its indices are not 0 .. n_channels - 1 (each once).
    """
    path = Path(path)
    if not path.is_file():
        raise InputDataError(path, "label table not found", "Set segment.onnx.labels")
    try:
        table = pd.read_csv(path, sep="\t", dtype={"name": str})
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise InputDataError(path, f"not a readable TSV label table ({err})") from err
    missing = [c for c in LABEL_COLUMNS if c not in table.columns]
    if missing:
        raise InputDataError(
            path, f"expected columns {list(LABEL_COLUMNS)}, missing {missing} (got {list(table)})"
        )
    for column in ("index", "label"):
        values = pd.to_numeric(table[column], errors="coerce")
        bad = table[column][values.isna() | (values % 1 != 0) | (values < 0)]
        if len(bad):
            raise InputDataError(
                path,
                f"column '{column}' must hold integers >= 0, got {bad.iloc[0]!r} "
                f"on line {int(bad.index[0]) + 2}",
            )
        table[column] = values.astype(np.int64)
    if n_channels is not None and len(table) != n_channels:
        raise InputDataError(
            path,
            f"{len(table)} rows, but the model has {n_channels} output channels "
            "(one row per channel expected)",
        )
    expected = set(range(len(table)))
    if set(table["index"]) != expected:
        raise InputDataError(
            path,
            f"column 'index' must hold 0 .. {len(table) - 1} once each, got "
            f"{sorted(table['index'])[:10]}...",
        )
    return table.sort_values("index").reset_index(drop=True)


def _providers(choice: str) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if choice == "auto" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def open_session(model: Path, threads: int, providers: str) -> Any:
    """An onnxruntime InferenceSession, or InputDataError naming `model` if it cannot load."""
    import onnxruntime as ort

    if not model.is_file():
        raise InputDataError(model, "ONNX model file not found", "Set segment.onnx.model")
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(model), options, providers=_providers(providers))
    except Exception as err:  # onnxruntime raises its own (pybind) exception types
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputDataError(
            model,
            f"not a valid ONNX model (onnxruntime: {first})",
            "Point segment.onnx.model at a SynthSeg-compatible .onnx network "
            "(re-download it if the file is truncated)",
        ) from err


class OnnxSegmenter:
    """Segments images with an ONNX network; `options` is the validated ``segment.onnx``."""

    backend = "onnx"

    def __init__(self, options: Mapping[str, Any], resolution_mm: int, threads: int = 2):
        self.resolution_mm = int(resolution_mm)
        self.options = dict(options)
        if self.options["model"] is None:
            raise ConfigError(
                "segment.onnx.model", "required when segment.backend is onnx, got null"
            )
        self.orientation = str(self.options["orientation"])
        try:
            axcodes2ornt(tuple(self.orientation))
        except ValueError as err:
            raise ConfigError("segment.onnx.orientation", f"{self.orientation!r}: {err}") from err
        self.model_path = Path(self.options["model"])
        self.session = open_session(self.model_path, threads, str(self.options["providers"]))
        self._input, self._output, n_channels = self._check_io()
        self.labels_path = label_table_path(self.model_path, self.options["labels"])
        table = read_label_table(self.labels_path, n_channels)
        ids = table["label"].to_numpy()
        self.labels = tuple(dict.fromkeys(int(i) for i in ids if i != 0))
        names = table["name"].astype(str).to_numpy()
        self.names = tuple(str(names[np.flatnonzero(ids == lab)[0]]) for lab in self.labels)
        # channels of each label (several when a model splits a label across channels)
        self._channels = [np.flatnonzero(ids == lab) for lab in self.labels]
        self._n_channels = len(table)
        # label column of each channel (-1: background)
        self._channel_column = np.full(len(table), -1, dtype=np.int64)
        for j, channels in enumerate(self._channels):
            self._channel_column[channels] = j

    def _check_io(self) -> tuple[str, str, int | None]:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 5:
            raise InputDataError(
                self.model_path,
                "expected one input of shape [1, 1, D, H, W], got "
                f"{[(i.name, i.shape) for i in inputs]}",
            )
        if not outputs or len(outputs[0].shape) != 5:
            raise InputDataError(
                self.model_path,
                "expected an output of shape [1, C, D, H, W], got "
                f"{[(o.name, o.shape) for o in outputs]}",
            )
        channels = outputs[0].shape[1]
        return inputs[0].name, outputs[0].name, channels if isinstance(channels, int) else None

    def segment(self, image: nib.Nifti1Image) -> Segmentation:
        """Segment one image (any grid; for the workflow a model-grid image)."""
        data = image_array(image)
        o = self.options
        size = float(o["voxel_size_mm"])
        conformed = conform(
            nib.Nifti1Image(data, image.affine),
            out_shape=tuple(int(n) for n in o["shape"]),
            voxel_size=(size, size, size),
            order=int(o["interpolation_order"]),
            cval=0.0,
            orientation=self.orientation,
        )
        x = np.asarray(conformed.dataobj, dtype=np.float32)
        lo, hi = float(x.min()), float(x.max())
        if not hi > lo:
            raise InputDataError(image_name(image), "the image is constant (nothing to segment)")
        x = (x - np.float32(lo)) / np.float32(hi - lo)
        start, stop = self._crop(x)
        crop = np.ascontiguousarray(x[tuple(slice(a, b) for a, b in zip(start, stop, strict=True))])
        logits = self._run(crop)
        if o["fractions"] == "argmax":
            table = self._one_hot(logits)
        else:
            table = self._softmax(logits)  # views into logits, normalised in place
        del logits
        # image voxel index -> index in the crop of the conformed grid
        to_crop = np.linalg.solve(conformed.affine, image.affine)
        to_crop[:3, 3] -= start
        k = subdivisions_for(image.affine, conformed.affine)
        points = grid_points(data.shape, to_crop, k)
        weights = trilinear_matrix(points, crop.shape, samples_per_row=int(np.prod(k)))
        del points
        fractions = resample_labels(weights, table, data.shape)
        fractions = normalise_fractions(fractions)
        return Segmentation(
            dseg=dseg_from_fractions(fractions, self.labels),
            labels=self.labels,
            fractions=fractions,
            names=self.names,
        )

    def _crop(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(start, stop) voxel indices of the crop: voxels > crop_threshold plus the margin."""
        threshold, margin = self.options["crop_threshold"], int(self.options["crop_margin"])
        shape = np.asarray(x.shape)
        if threshold is None:
            return np.zeros(3, dtype=int), shape
        inside = [np.flatnonzero(np.any(x > threshold, axis=a)) for a in ((1, 2), (0, 2), (0, 1))]
        if any(len(i) == 0 for i in inside):
            inside = [np.arange(n) for n in x.shape]
        start = np.array([max(int(i[0]) - margin, 0) for i in inside])
        stop = np.minimum([int(i[-1]) + 1 + margin for i in inside], shape)
        return start, stop

    def _run(self, crop: np.ndarray) -> np.ndarray:
        """float32 (C, D, H, W) logits of the network on the crop (D, H, W)."""
        logits = self.session.run([self._output], {self._input: crop[None, None]})[0]
        if logits.shape[:2] != (1, self._n_channels) or logits.shape[2:] != crop.shape:
            raise InputDataError(
                self.model_path,
                f"expected output shape (1, {self._n_channels}, {', '.join(map(str, crop.shape))}) "
                f"(one channel per row of {self.labels_path}), got {logits.shape}",
            )
        return logits[0]

    def _one_hot(self, logits: np.ndarray) -> sp.csr_matrix:
        """Sparse float32 (D*H*W, n_labels): 1 at each voxel's most probable channel's label."""
        column = self._channel_column[np.argmax(logits, axis=0).ravel()]
        rows = np.flatnonzero(column >= 0)
        return sp.csr_matrix(
            (np.ones(rows.size, dtype=np.float32), (rows, column[rows])),
            shape=(column.size, len(self.labels)),
        )

    def _softmax(self, logits: np.ndarray) -> list[np.ndarray]:
        """Per label (order of `labels`): float32 (D, H, W) softmax probability (in place)."""
        p = logits
        p -= p.max(axis=0, keepdims=True)
        np.exp(p, out=p)
        p /= p.sum(axis=0, keepdims=True)
        return [p[c[0]] if len(c) == 1 else p[c].sum(axis=0) for c in self._channels]
