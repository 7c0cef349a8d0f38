"""fp32 vs bf16 autocast on this machine, on a finished demo run: training speed and the quality it buys.

Trains the demo's model (config/config.yaml: models.vqvae and the train section) on the run's
train split three times: fp32 for train.max_steps, bf16 for the same steps, and bf16 for as many
steps as fit in the fp32 run's wall time ("equal minutes", the cosine schedule stretched to
them). Each model reconstructs the held-out (val + test) scans; the script prints seconds per
step, held-out SSIM/PSNR/MAE inside the brain, and, for encoding, how far bf16 latents and
reconstructions of the fp32 model are from fp32's. Figures, not assertions.

Usage (after `make demo`):
    python benchmarks/bench_precision.py --results results --threads 2
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from latentcf.config import validate_config
from latentcf.encode import encode_batch
from latentcf.hardware import cpu_has_native_bf16
from latentcf.metrics import masked_metrics
from latentcf.models.checkpoint import load_model
from latentcf.templates import TEMPLATE_ID
from latentcf.train import TrainOutputs, train_model
from latentcf.train.data import load_mask, load_volume

REPO = Path(__file__).resolve().parents[1]


def model_grid(results: Path, scan: str, res: int, kind: str) -> Path:
    suffix = "desc-preproc_T1w" if kind == "t1w" else "desc-brain_mask"
    return results / "preprocess" / f"{scan}_space-{TEMPLATE_ID}_res-{res}_{suffix}.nii.gz"


def heldout_scores(model_path: Path, model_config: dict, images, masks, precision: str) -> dict:
    model, _ = load_model(model_path, model_config)
    scores = []
    for image, mask in zip(images, masks, strict=True):
        _, recon = encode_batch(model, image[None], torch.device("cpu"), precision)
        scores.append(masked_metrics(np.clip(recon[0], 0, None), image, mask))
    return {k: float(np.mean([s[k] for s in scores])) for k in ("ssim", "psnr", "mae")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=REPO / "results")
    parser.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    config = validate_config(yaml.safe_load(args.config.read_text()))
    res = config["preprocess"]["resolution_mm"]
    model_config = config["models"]["vqvae"]
    cohort = pd.read_csv(args.results / "cohort" / "cohort.tsv", sep="\t")
    train_images = [
        model_grid(args.results, s, res, "t1w") for s in cohort.query("split == 'train'").scan
    ]
    heldout = cohort.query("split != 'train'").scan
    images = [load_volume(model_grid(args.results, s, res, "t1w")) for s in heldout]
    masks = [load_mask(model_grid(args.results, s, res, "mask"), images[0].shape) for s in heldout]
    steps = config["train"]["max_steps"]
    print(
        f"# {platform.processor() or platform.machine()}, native bf16: {cpu_has_native_bf16()}, "
        f"{args.threads} threads, torch {torch.__version__}; {len(train_images)} train scans, "
        f"{len(heldout)} held-out scans, model grid {res} mm"
    )

    runs = {}
    with tempfile.TemporaryDirectory() as tmp:

        def run(name: str, precision: str, max_steps: int) -> None:
            out = Path(tmp) / name
            cfg = {**config["train"], "precision": precision, "max_steps": max_steps}
            cfg.update(eval_every=10**6, checkpoint_every=10**6, val_max_scans=0)
            start = time.perf_counter()
            train_model(
                train_images, [], [], model_config, cfg, config["seed"], _outputs(out), args.threads
            )
            seconds = time.perf_counter() - start
            scores = heldout_scores(out / "model.pt", model_config, images, masks, precision)
            runs[name] = {"precision": precision, "steps": max_steps, "seconds": seconds, **scores}

        run("fp32", "fp32", steps)
        run("bf16", "bf16", steps)
        per_step_ratio = runs["fp32"]["seconds"] / runs["bf16"]["seconds"]
        run("bf16 equal minutes", "bf16", int(round(steps * per_step_ratio)))

        fp32_model, _ = load_model(Path(tmp) / "fp32" / "model.pt", model_config)
        diffs = []
        for image, mask in zip(images, masks, strict=True):
            z32, r32 = encode_batch(fp32_model, image[None], torch.device("cpu"), "fp32")
            z16, r16 = encode_batch(fp32_model, image[None], torch.device("cpu"), "bf16")
            z32, z16 = z32["z"], z16["z"]
            diffs.append(
                {
                    "latent_rel_rms": float(np.sqrt(np.mean((z16 - z32) ** 2) / np.mean(z32**2))),
                    "latent_max_abs": float(np.abs(z16 - z32).max()),
                    "recon_mae_vs_fp32": float(np.abs(r16 - r32)[0][mask].mean()),
                }
            )

    print("run\tprecision\tsteps\tseconds\ts/step\theld-out SSIM\tPSNR dB\tMAE")
    for name, r in runs.items():
        print(
            f"{name}\t{r['precision']}\t{r['steps']}\t{r['seconds']:.1f}\t"
            f"{r['seconds'] / r['steps']:.3f}\t{r['ssim']:.4f}\t{r['psnr']:.2f}\t{r['mae']:.4f}"
        )
    d = pd.DataFrame(diffs).mean()
    print(
        "encoding with the fp32 model, bf16 vs fp32: latent relative RMS difference "
        f"{d['latent_rel_rms']:.2e}, max |difference| {d['latent_max_abs']:.3f}, "
        f"reconstruction MAE between them {d['recon_mae_vs_fp32']:.4f} (intensities 0-1)"
    )


def _outputs(root: Path) -> TrainOutputs:
    return TrainOutputs(root / "model.pt", root / "t.tsv", root / "t.png", root / "ck")


if __name__ == "__main__":
    main()
