"""Forecast fitting throughput: the prior's streamed, vectorised subject fits vs a per-subject loop.

N synthetic train subjects with 2-6 scans each (ages spread over 1-8 years; latents on subject
lines plus noise, float32 as the encode stage stores them) at realistic latent sizes D. Timed
(data in memory, so reading is excluded; what the forecast stage does with them):

- ours: latentcf.forecast's path through the train subjects: batches of whole subjects of about
  `--batch-mb` MB (the stage's forecast.batch_mb), each fitted at once by fit_groups (no loop over
  subjects), accumulated into the prior's moments and the cross-sectional line, then the estimate of
  beta_pop, tau^2 and sigma^2;
- numpy loop: fit_line per subject (the same arithmetic, one subject at a time), fits only;
- scikit-learn: LinearRegression().fit(ages, latents) per subject, the way a user would write it,
  fits only (no moments: this favours it).

Then the held-out side: prior_all forecasts (shrunk_line + evaluation at the target age) per subject.
Printed: seconds and subjects/s, and the largest difference between our slopes and scikit-learn's.

Usage:
    python benchmarks/bench_forecast.py --subjects 200 1000 --threads 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np

SHAPES = {"4x20x24x20": (4, 20, 24, 20), "8x20x24x20": (8, 20, 24, 20)}


def make_subjects(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ages (N_scans,), latents (N_scans, D) float32, group starts (n,)), subjects contiguous."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 7, n)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    total = int(sizes.sum())
    ages = np.empty(total)
    latents = np.empty((total, d), dtype=np.float32)
    beta = rng.normal(0, 0.05, d).astype(np.float32)
    for s, k in zip(starts, sizes, strict=True):
        t = rng.uniform(55, 80) + np.sort(rng.uniform(0, rng.uniform(1, 8), k))
        ages[s : s + k] = t
        slope = beta + rng.normal(0, 0.02, d).astype(np.float32)
        latents[s : s + k] = rng.normal(size=d).astype(np.float32) + np.outer(t - 70, slope)
        latents[s : s + k] += rng.normal(0, 0.1, (k, d)).astype(np.float32)
    return ages, latents, starts


def ours(ages, latents, starts, batch_mb: int):
    from latentcf.forecast.lines import fit_groups
    from latentcf.forecast.population import LineSums
    from latentcf.forecast.prior import SlopeMoments

    d = latents.shape[1]
    rows = max(1, (batch_mb * 2**20) // (8 * d * 4))  # as latentcf.forecast.stage.train_statistics
    moments, line = SlopeMoments(), LineSums()
    ends = np.append(starts[1:], len(ages))
    first, sample = 0, None
    while first < len(starts):
        last = first + 1
        while last < len(starts) and ends[last] - starts[first] <= rows:
            last += 1
        lo, hi = starts[first], ends[last - 1]
        z = latents[lo:hi].astype(np.float64)  # as the stage's LatentIndex.get reads a batch
        fits = fit_groups(ages[lo:hi], z, starts[first:last] - lo)
        moments.add(fits)
        line.add_fits(fits)
        if sample is None:
            sample = fits.slope.copy()  # the first batch's subjects, to compare with scikit-learn
        first = last
    estimate = moments.estimate("pooled")
    line.line()
    return estimate, sample


def numpy_loop(ages, latents, starts):
    from latentcf.forecast.lines import fit_line

    ends = np.append(starts[1:], len(ages))
    return [fit_line(ages[s:e], latents[s:e]).slope for s, e in zip(starts, ends, strict=True)]


def sklearn_loop(ages, latents, starts):
    from sklearn.linear_model import LinearRegression

    ends = np.append(starts[1:], len(ages))
    return [
        LinearRegression().fit(ages[s:e, None], latents[s:e]).coef_[:, 0]
        for s, e in zip(starts, ends, strict=True)
    ]


def held_out(ages, latents, starts, prior):
    from latentcf.forecast.prior import PopulationPrior
    from latentcf.forecast.shrinkage import shrunk_line

    slope, tau2, sigma2 = prior
    p = PopulationPrior(slope, tau2, sigma2, "within_subject")
    ends = np.append(starts[1:], len(ages))
    for s, e in zip(starts, ends, strict=True):  # all scans but the last -> the last one's age
        line, _ = shrunk_line(p, ages[s : e - 1], latents[s : e - 1])
        line.at(ages[e - 1])


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--batch-mb", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sklearn-max", type=int, default=1000, help="skip scikit-learn above")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    print(
        "| latent | subjects (scans) | ours: prior fits | numpy loop | scikit-learn loop | prior_all forecasts | max |slope diff| |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.shapes:
        d = int(np.prod(SHAPES[name]))
        for n in args.subjects:
            ages, latents, starts = make_subjects(n, d)
            t_ours, (prior, sample) = timed(ours, ages, latents, starts, args.batch_mb)
            t_np, _ = timed(numpy_loop, ages, latents, starts)
            if n <= args.sklearn_max:
                t_sk, sk = timed(sklearn_loop, ages, latents, starts)
                reference = np.stack(sk[: len(sample)])
                diff = float(np.abs(sample - reference).max())
                sk_text = f"{t_sk:.2f} s ({n / t_sk:.0f}/s)"
            else:
                sk_text, diff = "-", float("nan")
            t_fc, _ = timed(held_out, ages, latents, starts, prior)
            print(
                f"| {name} (D = {d:,}) | {n} ({len(ages)}) | {t_ours:.2f} s ({n / t_ours:.0f}/s) | "
                f"{t_np:.2f} s ({n / t_np:.0f}/s) | {sk_text} | {t_fc:.2f} s ({n / t_fc:.0f}/s) | "
                f"{diff:.1e} |",
                flush=True,
            )
            del latents


if __name__ == "__main__":
    main()
