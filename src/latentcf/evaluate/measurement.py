"""How well the volume-change measurement itself works, on the demo's true pairs (a ground-truth check).

For each scan, the factual scan and each of its TRUE counterfactuals (the simulator's, same pose,
contrast, bias field and noise realisation, only the anatomy differs) are brought onto the model
grid with the scan's affine, masked with its model-grid brain mask and scaled with the factual
scan's brain percentiles, like preprocessing does; tensor-based morphometry between them, with the
factual scan's segmentation as weights, gives the change the measurement reports, next to the true
change (Jacobian-integrated truth volumes). Its error is the measurement's own error: it bounds how
precisely the counterfactuals' changes can be judged at this resolution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from latentcf.antslib import ants
from latentcf.evaluate.chunks import structure_weights
from latentcf.evaluate.tbm import jacobian, relative_changes, tbm_settings
from latentcf.io import write_tsv_atomic
from latentcf.preprocess.antsimg import to_ants
from latentcf.preprocess.register import load_transform, to_template
from latentcf.segment import STRUCTURES, build_segmenter


def _on_grid(raw: str | Path, xfm: Any, mask_img: nib.Nifti1Image) -> np.ndarray:
    reference = to_ants(np.zeros(mask_img.shape, np.float32), mask_img.affine)
    return to_template(ants.image_read(str(raw)), xfm, reference).numpy()


def _scaled(data: np.ndarray, lo: float, hi: float, mask: np.ndarray) -> np.ndarray:
    """Brain-percentile scaling as preprocessing does: (data - lo) / (hi - lo) clipped, masked."""
    return (np.clip((data - lo) / (hi - lo), 0, 1) * mask).astype(np.float32)


def measurement_check(
    scans: Sequence[str],
    raw_images: Sequence[str | Path],
    transforms: Sequence[str | Path],
    images: Sequence[str | Path],
    masks: Sequence[str | Path],
    truth_dir: str | Path,
    interventions: Sequence[str],
    out_tsv: str | Path,
    segment_config: Mapping[str, Any] | None,
    evaluate_config: Mapping[str, Any] | None,
    resolution_mm: int,
) -> pd.DataFrame:
    """Measured vs true relative change per scan, intervention and structure (see the docstring).

    `raw_images`, `transforms`, `images`, `masks`: per scan its raw T1w, its affine (.mat), its
    model-grid image and brain mask; `truth_dir`: the demo's truth_counterfactuals folder.
    """
    settings = tbm_settings(evaluate_config)
    segmenter = build_segmenter(segment_config, resolution_mm)
    truth = pd.read_csv(Path(truth_dir) / "volumes.tsv", sep="\t").set_index(
        ["scan", "intervention"]
    )
    rows = []
    for scan, raw, xfm_path, image, mask_path in zip(
        scans, raw_images, transforms, images, masks, strict=True
    ):
        mask_img = nib.load(str(mask_path))
        mask = np.asarray(mask_img.dataobj) > 0
        xfm = load_transform(xfm_path)
        factual = _on_grid(raw, xfm, mask_img)
        lo, hi = np.percentile(factual[mask], [0.5, 99.5])

        weights = structure_weights(segmenter.segment(nib.load(str(image))))
        for name in interventions:
            cf = _on_grid(Path(truth_dir) / f"{scan}_cf-{name}_T1w.nii.gz", xfm, mask_img)
            measured = relative_changes(
                jacobian(
                    _scaled(factual, lo, hi, mask),
                    _scaled(cf, lo, hi, mask),
                    mask_img.affine,
                    settings,
                ),
                weights,
            )
            for structure in STRUCTURES:
                if structure not in truth.columns:
                    continue
                true = (
                    truth.loc[(scan, name), structure] / truth.loc[(scan, "factual"), structure] - 1
                )
                rows.append(
                    {
                        "scan": scan,
                        "intervention": name,
                        "structure": structure,
                        "measured_pct": 100 * measured[structure],
                        "true_pct": 100 * float(true),
                    }
                )
    table = pd.DataFrame(rows)
    table["error_pp"] = table["measured_pct"] - table["true_pct"]
    write_tsv_atomic(table, out_tsv)
    return table
