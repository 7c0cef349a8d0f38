"""The latent SCM's streamed closed-form fit vs scikit-learn's LinearRegression, and counterfactual throughput.

GLM: N synthetic latents of K = 76,800 values (the 1 mm latent size) stored as encode-stage chunk
folders (float32 .npy, 8 chunks), p = 4 design columns (intercept, age, sex, diagnosis). Ours
streams them (memory-mapped, batches of scm.batch_mb) through latentcf.scm.fit.fit_latent_scm;
scikit-learn fits the same data held in memory (the way a user would), in a subprocess so that its
peak memory is its own. Printed: wall time (reading included, from the page cache), the compute
part alone (the normal-equation updates and the solve), peak extra memory (tracemalloc) and the
largest relative difference of the coefficients.

Counterfactual throughput: decoding (quantisation included, encoding excluded) of counterfactual
latents with the demo's model architecture at 4 mm and the default three-level model at 2 mm, in
batches of 1, 4 and 8, fp32 and bf16 autocast.

Usage:
    python benchmarks/bench_scm.py --glm 1000 10000 --sklearn 1000 5000 --threads 2
    python benchmarks/bench_scm.py --throughput
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

K = 76_800
SHAPE = (8, 20, 24, 20)
CHUNKS = 8
COVARIATES = {
    "age": {"type": "numeric", "parents": []},
    "sex": {"type": "categorical", "levels": ["F", "M"], "parents": []},
    "diagnosis": {"type": "categorical", "levels": ["CN", "AD"], "parents": ["age"]},
}


def make_data(root: Path, n: int, seed: int = 0) -> tuple[pd.DataFrame, list[Path]]:
    """A cohort table and chunk folders of latents Z = P B + noise (written chunk by chunk)."""
    from latentcf import derivatives

    rng = np.random.default_rng(seed)
    ids = [f"sub-{i:05d}" for i in range(n)]
    cohort = pd.DataFrame(
        {
            "scan": [f"{p}/anat/{p}" for p in ids],
            "participant_id": ids,
            "split": "train",
            "age": rng.uniform(55, 85, n),
            "sex": rng.choice(["F", "M"], n),
            "diagnosis": rng.choice(["CN", "AD"], n),
        }
    )
    design = np.column_stack(
        [np.ones(n), (cohort["age"] - 70) / 10, cohort["sex"] == "M", cohort["diagnosis"] == "AD"]
    ).astype(np.float32)
    coefficients = rng.normal(size=(4, K)).astype(np.float32)
    dirs = []
    for c, rows in enumerate(np.array_split(np.arange(n), CHUNKS)):
        folder = root / f"chunk-{c:02d}"
        folder.mkdir()
        out = np.lib.format.open_memmap(
            folder / derivatives.latent_file("z"),
            mode="w+",
            dtype=np.float32,
            shape=(len(rows), *SHAPE),
        )
        for start in range(0, len(rows), 500):
            part = rows[start : start + 500]
            z = design[part] @ coefficients + rng.normal(size=(len(part), K)).astype(np.float32)
            out[start : start + len(part)] = z.reshape(len(part), *SHAPE)
        out.flush()
        del out
        pd.DataFrame(
            {"row": range(len(rows)), "scan": cohort["scan"].iloc[rows].to_numpy()}
        ).to_csv(folder / derivatives.SCANS_TABLE, sep="\t", index=False)
        dirs.append(folder)
    return cohort, dirs


def ours(cohort: pd.DataFrame, dirs: list[Path], batch_mb: int) -> dict:
    import latentcf.scm.fit as fit
    import latentcf.scm.glm as glm

    compute = {"s": 0.0}
    add, solve = glm.NormalEquations.add, glm.NormalEquations.solve

    def timed(method):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                compute["s"] += time.perf_counter() - start

        return wrapper

    glm.NormalEquations.add, glm.NormalEquations.solve = timed(add), timed(solve)
    tracemalloc.start()
    start = time.perf_counter()
    scm = fit.fit_latent_scm(cohort, dirs, "z", SHAPE, COVARIATES, None, {"batch_mb": batch_mb})
    wall = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    glm.NormalEquations.add, glm.NormalEquations.solve = add, solve
    # In scikit-learn's parameterisation (raw age, intercept at age 0), for the comparison.
    age = scm.design.encoding("age")
    b = scm.coefficients.copy()
    b[1] = scm.coefficients[1] / age.sd
    b[0] = scm.coefficients[0] - b[1] * age.mean
    return {"wall_s": wall, "compute_s": compute["s"], "peak_mb": peak / 2**20, "b": b}


SKLEARN_CHILD = """
import json, resource, sys, time
import numpy as np, pandas as pd
from sklearn.linear_model import LinearRegression
from latentcf import derivatives
root, n = sys.argv[1], int(sys.argv[2])
cohort = pd.read_csv(root + "/cohort.tsv", sep="\\t")
dirs = sorted(p for p in __import__("pathlib").Path(root).glob("chunk-*"))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
tables = [pd.read_csv(d / derivatives.SCANS_TABLE, sep="\\t") for d in dirs]
z = np.concatenate([np.load(d / derivatives.latent_file("z")).reshape(len(t), -1) for d, t in zip(dirs, tables)])
scans = pd.concat(tables)["scan"]
x = cohort.set_index("scan").loc[scans]
design = np.column_stack([x["age"], x["sex"] == "M", x["diagnosis"] == "AD"]).astype(float)
model = LinearRegression().fit(design, z)
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
np.save(root + "/sklearn_coef.npy", np.vstack([model.intercept_, model.coef_.T]))
print(json.dumps({"wall_s": wall, "peak_extra_mb": (peak - before) / 1024}))
"""


def sklearn(root: Path, n: int) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", SKLEARN_CHILD, str(root), str(n)],
        capture_output=True,
        text=True,
        check=True,
    )
    return {
        **json.loads(result.stdout.strip().splitlines()[-1]),
        "b": np.load(root / "sklearn_coef.npy"),
    }


def glm_benchmark(sizes: list[int], sklearn_sizes: list[int], batch_mb: int) -> None:
    print("N\tmethod\twall s (reading included)\tcompute s\tpeak extra MB\tmax relative difference")
    for n in sizes:
        with tempfile.TemporaryDirectory(dir=".") as tmp:
            root = Path(tmp)
            cohort, dirs = make_data(root, n)
            cohort.to_csv(root / "cohort.tsv", sep="\t", index=False)
            ours(cohort, dirs, batch_mb)  # warm the page cache, as a second run would find it
            mine = ours(cohort, dirs, batch_mb)
            print(
                f"{n}\tours (streamed, batch {batch_mb} MB, {CHUNKS} chunk files)\t{mine['wall_s']:.2f}\t{mine['compute_s']:.2f}\t"
                f"{mine['peak_mb']:.0f}\t-"
            )
            if n in sklearn_sizes:
                ref = sklearn(root, n)
                diff = float(
                    np.max(
                        np.abs(mine["b"] - ref["b"]) / np.abs(ref["b"]).max(axis=1, keepdims=True)
                    )
                )
                print(
                    f"{n}\tscikit-learn LinearRegression (in memory)\t{ref['wall_s']:.2f}\t-\t"
                    f"{ref['peak_extra_mb']:.0f}\t{diff:.1e}"
                )


def throughput(threads: int) -> None:
    import torch

    from latentcf.counterfactual.generate import decode_latents
    from latentcf.grid import grid_shape
    from latentcf.models.base import build_model

    torch.set_num_threads(threads)
    cases = [
        ("demo model, 4 mm", {"family": "vqvae", "channels": [32], "res_units": [1]}, 4),
        ("default model, 2 mm", {"family": "vqvae"}, 2),
    ]
    print(f"\ncounterfactual decoding throughput, CPU, {threads} threads (images/s)")
    print("model\tlatent\tprecision\tbatch 1\tbatch 4\tbatch 8")
    for label, config, res in cases:
        torch.manual_seed(0)
        model = build_model(config)
        shape = model.latent_shapes(grid_shape(res))["z"]
        model.train()
        model.quantise(torch.randn(2, *shape))  # initialise the codebook
        for precision in ("fp32", "bf16"):
            rates = []
            for batch in (1, 4, 8):
                z = np.random.default_rng(0).normal(size=(batch, *shape)).astype(np.float32)
                decode_latents(model, "z", z, torch.device("cpu"), precision)  # warm-up
                start, n = time.perf_counter(), 0
                while time.perf_counter() - start < 3.0:
                    decode_latents(model, "z", z, torch.device("cpu"), precision)
                    n += batch
                rates.append(n / (time.perf_counter() - start))
            print(f"{label}\t{shape}\t{precision}\t" + "\t".join(f"{r:.1f}" for r in rates))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--glm", type=int, nargs="*", default=[])
    parser.add_argument("--sklearn", type=int, nargs="*", default=[])
    parser.add_argument("--batch-mb", type=int, default=64)
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import threadpoolctl

    with threadpoolctl.threadpool_limits(args.threads):
        if args.glm:
            glm_benchmark(args.glm, args.sklearn, args.batch_mb)
        if args.throughput:
            throughput(args.threads)


if __name__ == "__main__":
    main()
