"""How much a demo run's counterfactuals change regional volumes, against the simulator's truth.

For every scan with counterfactuals, tensor-based morphometry between its null-intervention image
and each counterfactual (antspyx SyN, null = fixed): the mean Jacobian determinant of the warp
inside a template structure mask (the demo anatomy's FreeSurfer labels, as partial-volume
fractions on the model grid) minus 1 is the relative volume change the counterfactual made.
Printed next to it: the same measurement on the simulator's true pair (factual scan and true
counterfactual, both brought onto the model grid with the scan's affine), which shows what this
measurement itself can see at this resolution, and the true change (truth volumes). A quick
measurement, not the evaluation stage: masks are the template's, not each subject's.

Usage (after `make demo`): python benchmarks/measure_counterfactual_volumes.py --results results
"""

from __future__ import annotations

import argparse
from pathlib import Path

import ants
import nibabel as nib
import numpy as np
import pandas as pd

from latentcf import derivatives
from latentcf.demo.anatomy import STRUCTURE_GROUPS, load_anatomy
from latentcf.grid import grid_affine, grid_shape
from latentcf.preprocess.antsimg import to_ants
from latentcf.preprocess.register import ants_random_seed, load_transform, to_template
from latentcf.templates import TEMPLATE_ID


def structure_fractions(resolution_mm: int) -> dict[str, np.ndarray]:
    """Per structure group, the fraction of each model-grid voxel inside the template structure."""
    anatomy = load_anatomy()
    reference = to_ants(np.zeros(grid_shape(resolution_mm), np.float32), grid_affine(resolution_mm))
    out = {}
    for group, ids in STRUCTURE_GROUPS.items():
        mask = to_ants(np.isin(anatomy.labels, ids).astype(np.float32), anatomy.affine)
        smooth = ants.smooth_image(mask, resolution_mm / 2.355, sigma_in_physical_coordinates=True)
        out[group] = ants.resample_image_to_target(smooth, reference, interp_type="linear").numpy()
    return out


def relative_change(null: np.ndarray, cf: np.ndarray, affine: np.ndarray, weights: dict) -> dict:
    fixed, moving = to_ants(null, affine), to_ants(cf, affine)
    with ants_random_seed(1):
        reg = ants.registration(
            fixed, moving, type_of_transform="SyNOnly", initial_transform="identity"
        )
    jac = ants.create_jacobian_determinant_image(fixed, reg["fwdtransforms"][0]).numpy()
    return {g: float((jac * w).sum() / w.sum() - 1.0) for g, w in weights.items()}


def load_image(path: Path) -> np.ndarray:
    return np.asarray(nib.load(path).dataobj, np.float32)


def true_pairs(results: Path, truth_dir: Path, scan: str, names: list[str], res: int) -> dict:
    """{intervention: (factual, true counterfactual)} on the model grid, through the scan's affine."""
    xfm = load_transform(
        results / "preprocess" / f"{scan}_from-T1w_to-{TEMPLATE_ID}_mode-image_xfm.mat"
    )
    reference = to_ants(np.zeros(grid_shape(res), np.float32), grid_affine(res))

    def warp(path: Path) -> np.ndarray:
        return to_template(ants.image_read(str(path)), xfm, reference).numpy()

    factual = warp(results / "demo" / "bids" / f"{scan}_T1w.nii.gz")
    return {n: (factual, warp(truth_dir / f"{scan}_cf-{n}_T1w.nii.gz")) for n in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--model", default="vqvae")
    parser.add_argument("--resolution", type=int, default=4)
    parser.add_argument("--family", default="vqvae")
    args = parser.parse_args()
    truth_dir = args.results / "demo" / "truth_counterfactuals"
    truth = pd.read_csv(truth_dir / "volumes.tsv", sep="\t")
    weights = structure_fractions(args.resolution)
    affine = grid_affine(args.resolution)
    rows = []
    for chunk in sorted((args.results / args.model / "counterfactual").glob("chunk-*")):
        table = pd.read_csv(
            chunk / derivatives.COUNTERFACTUALS_TABLE, sep="\t", keep_default_na=False
        )
        for (scan, split), group in table.groupby(["scan", "split"]):
            decoded = {
                name: load_image(
                    chunk
                    / derivatives.counterfactual_file(scan, args.resolution, name, args.family)
                )
                for name in ["null", *group["intervention"]]
                if name != "factual"
            }
            pairs = true_pairs(args.results, truth_dir, scan, list(decoded)[1:], args.resolution)
            factual = truth[(truth["scan"] == scan) & (truth["intervention"] == "factual")].iloc[0]
            for name in list(decoded)[1:]:
                measured = relative_change(decoded["null"], decoded[name], affine, weights)
                measured_truth = relative_change(*pairs[name], affine, weights)
                true = truth[(truth["scan"] == scan) & (truth["intervention"] == name)].iloc[0]
                for g in STRUCTURE_GROUPS:
                    rows.append(
                        {"scan": scan, "split": split, "intervention": name, "structure": g,
                         "counterfactual_pct": 100 * measured[g], "true_pair_pct": 100 * measured_truth[g],
                         "true_pct": 100 * (true[g] / factual[g] - 1)}
                    )  # fmt: skip
    result = pd.DataFrame(rows)
    result["held_out"] = result["split"] != "train"
    columns = ["counterfactual_pct", "true_pair_pct", "true_pct"]
    summary = result.groupby(["intervention", "structure", "held_out"])[columns].agg(
        ["mean", "std"]
    )
    pd.set_option("display.width", 160)
    print(summary.round(2).to_string())


if __name__ == "__main__":
    main()
