"""Benchmark (not a test): time each preprocessing step, ours vs the plain antspyx defaults.

    python benchmarks/bench_preprocess.py [--threads 2] [--scans colin27-1mm colin27-2mm ixi012]

Ours runs at the defaults of workflow/schemas/preprocess.schema.yaml.
For each scan: load; N4 (ours: field fitted on a 2 mm copy, shrink 4, head mask; defaults:
`ants.n4_bias_field_correction(img)`); skull stripping (deepbet, one mask for both arms);
affine registration of the brain (ours: rigid + affine at 3 mm, global correlation, centre-of-
mass start, on our N4 output; defaults: `ants.registration(template_brain, brain,
type_of_transform='Affine')` on the full grids, on the default N4 output);
resampling to the 2 mm model grid. Quality: Dice of the registered brain mask with the
template brain mask, NCC of the registered brain with the template brain (inside the
template mask), and for N4 the coefficient of variation of corrected / truth inside the brain
after multiplying the scan by a known smooth bias field (lower is better; 0 = perfect).
The first job of a Snakemake run also pays ~5 s of imports (torch, ants), printed separately.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCANS = {
    "colin27-1mm": Path("/usr/share/mricron/templates/ch2.nii.gz"),
    "colin27-2mm": Path("/usr/share/mricron/templates/ch2.nii.gz"),
    "ixi012": REPO.parent / "shared" / "data" / "ixi" / "IXI012-HH-1211_T1.nii.gz",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--scans", nargs="+", default=list(SCANS), choices=list(SCANS))
    parser.add_argument("--skip-defaults", action="store_true", help="time only our steps")
    args = parser.parse_args()

    from latentcf.preprocess import set_threads

    set_threads(args.threads)
    t0 = time.perf_counter()
    import ants
    import nibabel as nib
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    import_s = time.perf_counter() - t0

    from latentcf.config import section_defaults
    from latentcf.io import load_t1w
    from latentcf.preprocess.antsimg import to_ants, to_nifti
    from latentcf.preprocess.bias import n4_correct
    from latentcf.preprocess.metrics import dice, ncc
    from latentcf.preprocess.pipeline import run_grid
    from latentcf.preprocess.register import affine_register, save_transform, to_template
    from latentcf.preprocess.skullstrip import skull_strip
    from latentcf.preprocess.template import load_template

    print(
        f"# threads={args.threads}  load average at start={os.getloadavg()}  imports={import_s:.1f} s"
    )
    tpl = load_template(1.0)
    tpl_mask = tpl.mask_array
    settings = section_defaults("preprocess.schema.yaml")
    n4_options = {k: v for k, v in settings["n4"].items() if k != "enabled"}

    def reg_quality(brain, mask, transform):
        warped = to_template(brain, transform, tpl.brain).numpy()
        warped_mask = to_template(mask, transform, tpl.mask).numpy() > 0.5
        return dice(warped_mask, tpl_mask), ncc(warped, tpl.brain.numpy(), tpl_mask)

    rows = []
    for name in args.scans:
        path = SCANS[name]
        if not path.is_file():
            print(f"# {name}: {path} not found, skipped", file=sys.stderr)
            continue
        timing = {}
        t = time.perf_counter()
        img = load_t1w(path)
        if name.endswith("2mm"):
            img = to_nifti(
                ants.resample_image(to_ants(img), (2.0, 2.0, 2.0), use_voxels=False, interp_type=0)
            )
        timing["load"] = time.perf_counter() - t
        raw = to_ants(img)
        # A known smooth multiplicative bias field, to score N4.
        grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in raw.shape], indexing="ij")
        field = np.exp(0.3 * grids[0] - 0.25 * grids[2] + 0.2 * grids[1] ** 2).astype(np.float32)
        truth = raw.numpy()
        biased = raw.new_image_like(truth * field)

        t = time.perf_counter()
        n4 = n4_correct(biased, **n4_options)
        timing["n4"] = time.perf_counter() - t
        t = time.perf_counter()
        head = to_nifti(n4)
        mask_np = skull_strip(head, "deepbet", **settings["skullstrip"]["deepbet"])
        timing["skullstrip"] = time.perf_counter() - t
        brain = raw.new_image_like((n4.numpy() * mask_np).astype(np.float32))
        mask = raw.new_image_like(mask_np.astype(np.float32))
        t = time.perf_counter()
        transform = affine_register(brain, tpl.brain, **settings["registration"])
        timing["register"] = time.perf_counter() - t
        d_ours, c_ours = reg_quality(brain, mask, transform)
        tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_{name}"
        tmp.mkdir(exist_ok=True)
        nib.save(to_nifti(raw), tmp / "t1w.nii.gz")
        nib.save(nib.Nifti1Image(mask_np.astype(np.uint8), img.affine), tmp / "mask.nii.gz")
        save_transform(transform, tmp / "xfm.mat")
        t = time.perf_counter()
        run_grid(
            tmp / "t1w.nii.gz",
            tmp / "mask.nii.gz",
            tmp / "xfm.mat",
            tmp / "g.nii.gz",
            tmp / "gm.nii.gz",
            resolution_mm=2,
        )
        timing["grid_2mm"] = time.perf_counter() - t

        def n4_cv(corrected, truth=truth, mask_np=mask_np):
            r = corrected.numpy()[mask_np] / np.maximum(truth[mask_np], 1e-3)
            return float(r.std() / r.mean())

        row = {
            "scan": name,
            "shape": "x".join(map(str, raw.shape)),
            **{f"ours_{k}_s": v for k, v in timing.items()},
            "ours_total_s": sum(timing.values()),
            "ours_n4_cv": n4_cv(n4),
            "biased_cv": n4_cv(biased),
            "ours_dice": d_ours,
            "ours_ncc": c_ours,
        }
        if not args.skip_defaults:
            t = time.perf_counter()
            n4_default = ants.n4_bias_field_correction(biased)
            row["default_n4_s"] = time.perf_counter() - t
            row["default_n4_cv"] = n4_cv(n4_default)
            default_brain = raw.new_image_like((n4_default.numpy() * mask_np).astype(np.float32))
            t = time.perf_counter()
            result = ants.registration(tpl.brain, default_brain, type_of_transform="Affine")
            row["default_register_s"] = time.perf_counter() - t
            row["default_dice"], row["default_ncc"] = reg_quality(
                default_brain, mask, ants.read_transform(result["fwdtransforms"][0])
            )
        rows.append(row)
        print(
            " ".join(
                f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
            ),
            flush=True,
        )

    if rows:
        import pandas as pd

        table = pd.DataFrame(rows).set_index("scan").T
        print(f"\n# load average at end={os.getloadavg()}")
        print(table.to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
