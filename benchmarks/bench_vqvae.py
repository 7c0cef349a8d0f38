"""Training throughput and peak memory of latentcf's VQ-VAE vs MONAI's VQVAE (same channels/levels).

Each (model, resolution) runs in its own subprocess so that peak memory (max RSS on CPU,
torch.cuda.max_memory_allocated on GPU) is its own. One training step = forward, L1 + VQ loss,
backward, Adam step, on a batch of random volumes of the model-grid shape.
Model FLOPs per step are counted with torch.utils.flop_counter (convolutions and matmuls,
forward + backward); on a GPU the model FLOP utilisation is FLOP/s over the device's dense
peak (--peak-tflops, default 989 = H100 SXM bf16; fp32 runs use --peak-tflops-fp32, 67).

Usage:
    python benchmarks/bench_vqvae.py --resolutions 4 2 --threads 2          # CPU
    python benchmarks/bench_vqvae.py --resolutions 1 --device cuda          # GPU: ours bf16 vs MONAI fp32
Prints one TSV row per run (machine, model, resolution, precision, volumes/s, peak MB, GFLOP/step).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

import torch

CODEBOOK = 512


def build(kind: str, channels: list[int], res_units: list[int], latent: int):
    if kind.startswith("latentcf"):
        from latentcf.models.base import build_model

        quantiser = "vqpt" if kind == "latentcf-vqpt" else "native"
        return build_model(
            {
                "family": "vqvae",
                "channels": channels,
                "res_units": res_units,
                "latent_channels": latent,
                "codebook_size": CODEBOOK,
                "quantiser": quantiser,
            },
        )
    from monai.networks.nets import VQVAE

    # MONAI as a user would run it: its defaults except the channels/levels/latent size matched to ours.
    res_layers = {"monai": 3, "monai-res2": 2}[kind]
    return VQVAE(
        spatial_dims=3,
        in_channels=1,
        out_channels=1,
        channels=channels,
        num_res_channels=channels,
        num_res_layers=res_layers,
        downsample_parameters=[(2, 4, 1, 1)] * len(channels),
        upsample_parameters=[(2, 4, 1, 1, 0)] * len(channels),
        embedding_dim=latent,
        num_embeddings=CODEBOOK,
    )


def step_fn(kind: str, model, x, optimiser, precision: str, channels_last: bool):
    dev = x.device.type
    ctx = (
        torch.autocast(device_type=dev, dtype=torch.bfloat16)
        if precision == "bf16"
        else torch.autocast(device_type=dev, enabled=False)
    )

    def step():
        with ctx:
            if kind.startswith("latentcf"):
                loss = model.training_loss(x, 1).total
            else:
                recon, aux = model(x)
                loss = (recon.float() - x).abs().mean() + aux.float().sum()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    return step


def run_one(
    kind: str,
    resolution: int,
    device: str,
    precision: str,
    channels_last: bool,
    batch: int,
    steps: int,
    threads: int,
    channels: list[int],
    res_units: list[int],
    latent: int,
) -> dict:
    from latentcf.grid import grid_shape

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
    model = build(kind, channels, res_units, latent).to(device)
    x = torch.rand(batch, 1, *grid_shape(resolution), device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    step = step_fn(kind, model, x, optimiser, precision, channels_last)
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    for _ in range(2):
        step()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    dt = (time.perf_counter() - t0) / steps
    peak_mb = (
        torch.cuda.max_memory_allocated() / 2**20
        if device == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return {
        "model": kind,
        "resolution_mm": resolution,
        "device": device,
        "precision": precision,
        "channels_last": channels_last,
        "batch": batch,
        "threads": threads,
        "s_per_step": round(dt, 4),
        "volumes_per_s": round(batch / dt, 3),
        "peak_mem_mb": round(peak_mb, 1),
        "gflop_per_step": round(flops / 1e9, 2),
        "achieved_tflops": round(flops / dt / 1e12, 4),
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
    }


def machine() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{platform.processor() or platform.machine()} CPU ({torch.get_num_threads()} threads visible)"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--resolutions", type=int, nargs="+", default=[4, 2])
    ap.add_argument(
        "--models", nargs="+", default=["latentcf", "latentcf-vqpt", "monai", "monai-res2"]
    )
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--channels", type=int, nargs="+", default=[32, 64, 128])
    ap.add_argument("--res-units", type=int, nargs="+", default=[1, 2, 2])
    ap.add_argument("--latent", type=int, default=8)
    ap.add_argument(
        "--peak-tflops",
        type=float,
        default=989.0,
        help="dense bf16 peak of the GPU (H100 SXM: 989)",
    )
    ap.add_argument(
        "--peak-tflops-fp32",
        type=float,
        default=67.0,
        help="dense fp32 peak of the GPU (H100 SXM: 67)",
    )
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(**json.loads(args.one))))
        return
    runs = []
    for r in args.resolutions:
        for kind in args.models:
            if args.device == "cuda":
                # Ours: bf16 + channels_last (how the workflow trains on GPU) and fp32 (equal precision);
                # MONAI as a user runs it (fp32, default layout).
                variants = (
                    [("bf16", True), ("fp32", False)]
                    if kind.startswith("latentcf")
                    else [("fp32", False)]
                )
            else:
                variants = [("fp32", False)]
            for precision, cl in variants:
                spec = dict(
                    kind=kind,
                    resolution=r,
                    device=args.device,
                    precision=precision,
                    channels_last=cl,
                    batch=args.batch,
                    steps=args.steps,
                    threads=args.threads,
                    channels=args.channels,
                    res_units=args.res_units,
                    latent=args.latent,
                )
                proc = subprocess.run(
                    [sys.executable, __file__, "--one", json.dumps(spec)],
                    capture_output=True,
                    text=True,
                )
                if proc.returncode:
                    print(
                        f"# {kind} {r} mm failed: {proc.stderr.strip().splitlines()[-1:]}",
                        file=sys.stderr,
                    )
                    continue
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                if args.device == "cuda":
                    peak = args.peak_tflops if precision == "bf16" else args.peak_tflops_fp32
                    row["mfu"] = round(row["achieved_tflops"] / peak, 4)
                runs.append(row)
    cols = list(runs[0]) if runs else []
    print(
        f"# machine: {machine()}, torch {torch.__version__}, load average {open('/proc/loadavg').read().split()[:3]}"
    )
    print("\t".join(cols))
    for row in runs:
        print("\t".join(str(row.get(c, "")) for c in cols))


if __name__ == "__main__":
    main()
