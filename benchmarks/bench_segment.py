"""Benchmark (not a test): per-image segmentation time of both backends on the model grid.

    python benchmarks/bench_segment.py [--threads 2] [--resolutions 4 2 1] [--models model18cls ...]

The image is a model-grid image made from the template (latentcf.train.synthetic: the ICBM 2009c
brain moved by a random affine and a smooth displacement, random gamma and scale). Each backend
and resolution runs in a fresh process, so the columns are: import of latentcf.segment, building
the segmenter (atlas fractions or ONNX session: once per job), segmenting one image (mean of
`--repeats`), and the process's peak memory. Settings: the defaults of segment.schema.yaml.
For the atlas backend the warp of the label fractions (ours: one sparse product for all labels)
is also timed against what one would otherwise write, ``ants.apply_transforms(...,
interpolator="linear")`` once per label. The ONNX models are ../shared/models/meshnet (skipped when
absent); their time hardly depends on the model grid, since the network always sees the image
conformed to 256^3 at 1 mm (cropped to the brain).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MESHNET = REPO.parent / "shared" / "models" / "meshnet"


def one(backend: str, resolution_mm: int, model: str | None, threads: int, repeats: int) -> dict:
    """Run one configuration in this process; returns its figures."""
    from latentcf.preprocess import set_threads

    set_threads(threads)
    t0 = time.perf_counter()
    import latentcf.segment as segment

    import_s = time.perf_counter() - t0
    import nibabel as nib
    import numpy as np

    from latentcf.grid import grid_affine
    from latentcf.train.synthetic import synthetic_volume

    volume, _ = synthetic_volume(resolution_mm, np.random.default_rng(0))
    image = nib.Nifti1Image(volume, grid_affine(resolution_mm))
    config: dict = {"backend": backend, "threads": threads}
    if model:
        config["onnx"] = {"model": str(MESHNET / f"{model}.onnx")}
    t0 = time.perf_counter()
    segmenter = segment.build_segmenter(config, resolution_mm)
    build_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        seg = segmenter.segment(image)
        times.append(time.perf_counter() - t0)
    volumes = seg.volumes(segment.voxel_volume_ml(image.affine)).set_index("name")["ml"]
    out = {
        "import_s": import_s,
        "build_s": build_s,
        "segment_s": float(np.mean(times)),
        "hippocampus_ml": float(volumes["hippocampus"]),
        "labels": len(seg.labels),
    }
    if backend == "atlas":
        out.update(_warp_comparison(segmenter, image))
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _warp_comparison(segmenter, image) -> dict:
    """Seconds to warp all label fractions: ours vs ants.apply_transforms per label."""
    import tempfile

    import ants
    import numpy as np

    from latentcf.preprocess.antsimg import to_ants
    from latentcf.segment.atlas_backend import warp_fractions

    grid = segmenter.grid
    fixed = to_ants(np.asarray(image.dataobj, dtype=np.float32), grid.affine)
    o = segmenter.options
    with tempfile.TemporaryDirectory() as tmp:
        reg = ants.registration(
            fixed,
            to_ants(grid.brain, grid.affine),
            "SyNOnly",
            initial_transform="identity",
            outprefix=os.path.join(tmp, "b_"),
            syn_metric=o["syn_metric"],
            reg_iterations=segmenter.iterations,
            flow_sigma=o["flow_sigma_mm"] / segmenter.resolution_mm,
            grad_step=o["grad_step"],
        )
        t0 = time.perf_counter()
        ours = warp_fractions(grid.table, reg["fwdtransforms"], fixed)
        ours_s = time.perf_counter() - t0
        dense = grid.fractions()
        t0 = time.perf_counter()
        for j in range(len(grid.labels)):
            ref = ants.apply_transforms(
                fixed, to_ants(dense[j], grid.affine), reg["fwdtransforms"], interpolator="linear"
            ).numpy()
        per_label_s = time.perf_counter() - t0
        diff = float(np.abs(ours[-1] - ref).max())
    return {"warp_ours_s": ours_s, "warp_per_label_s": per_label_s, "warp_max_diff": diff}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resolutions", type=int, nargs="+", default=[4, 2, 1])
    parser.add_argument(
        "--models", nargs="*", default=["model18cls", "model21_104class"], help="MeshNet models"
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--one", nargs=3, metavar=("BACKEND", "RES", "MODEL"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.one:
        backend, res, model = args.one
        figures = one(
            backend, int(res), None if model == "-" else model, args.threads, args.repeats
        )
        print("RESULT " + json.dumps(figures))
        return

    runs = [("atlas", r, "-") for r in args.resolutions]
    models = [m for m in args.models if (MESHNET / f"{m}.onnx").is_file()]
    for missing in sorted(set(args.models) - set(models)):
        print(f"# {missing}: not found in {MESHNET}, skipped", file=sys.stderr)
    runs += [("onnx", r, m) for m in models for r in args.resolutions]
    print(f"# threads={args.threads}  load average at start={os.getloadavg()}")
    columns = [
        "backend",
        "grid",
        "import",
        "build",
        "segment / image",
        "peak RSS",
        "hippocampus (template ml)",
        "warp: ours / per-label apply_transforms",
    ]
    print("| " + " | ".join(columns) + " |")
    print("|" + " --- |" * len(columns))
    for backend, res, model in runs:
        cmd = [sys.executable, __file__, "--one", backend, str(res), model]
        cmd += ["--threads", str(args.threads), "--repeats", str(args.repeats)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if proc.returncode or not lines:
            print(f"# {backend} {res} mm {model}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        f = json.loads(lines[-1][len("RESULT ") :])
        name = backend if model == "-" else f"onnx {model}"
        warp = (
            f"{f['warp_ours_s']:.2f} / {f['warp_per_label_s']:.2f} s ({f['labels']} labels)"
            if "warp_ours_s" in f
            else ""
        )
        print(
            f"| {name} | {res} mm | {f['import_s']:.2f} s | {f['build_s']:.2f} s | "
            f"**{f['segment_s']:.1f} s** | {f['peak_rss_mb']:.0f} MB | {f['hippocampus_ml']:.2f} | {warp} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
