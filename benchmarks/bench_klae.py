"""Training throughput and peak memory of latentcf's klae vs MONAI's AutoencoderKL + PatchDiscriminator
as MONAI's 3D autoencoder tutorial trains them (same channels, latent size and discriminator).

Models (each run in its own subprocess, so that peak memory is its own):
  latentcf       our klae training step as the training loop runs it (training_loss, AdamW step,
                 then the discriminator's step): MONAI's AutoencoderKL without attention, the
                 discriminator frozen during the generator's pass, losses in fp32.
  latentcf-lite  the same with no residual blocks at full resolution and transposed-convolution
                 upsampling (num_res_blocks [0, n, ...], use_convtranspose), the demo's style.
  monai-tutorial MONAI's tutorial setup: attention at the deepest level plus the non-local
                 attention blocks (MONAI's defaults), Adam, generator loss L1 + 1e-6 KL + 0.01
                 least-squares adversarial, then the discriminator step on fake and real, scaled by
                 0.01; perceptual loss off in every model (no pretrained weights can be downloaded).
Both use num_res_blocks 1 per level (the tutorial's), the adversary on from the first step, and
the tutorial's discriminator (3 layers, 32 channels). One step on a batch of random volumes of
the model-grid shape; FLOPs counted with torch.utils.flop_counter (convolutions and matmuls,
forward + backward, both networks).

Usage:
    python benchmarks/bench_klae.py --resolutions 4 2 --threads 2        # CPU
    python benchmarks/bench_klae.py --resolutions 1 --device cuda        # GPU: ours bf16 vs MONAI fp32
Prints one TSV row per run (model, resolution, precision, s/step, volumes/s, peak MB, GFLOP/step).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable

import torch

KL_WEIGHT, ADV_WEIGHT = 1e-6, 0.01
DISC_CHANNELS, DISC_LAYERS = 32, 3


def ours_step(
    kind: str, spec: dict, x: torch.Tensor, precision: str, channels_last: bool
) -> tuple[Callable[[], None], torch.nn.Module]:
    """One step of latentcf's training loop (generator, then the adversary) on batch x."""
    from latentcf.models.base import build_model
    from latentcf.train.device import autocast
    from latentcf.train.loop import adversary_step, split_parameters

    n = len(spec["channels"])
    lite = kind == "latentcf-lite"
    model = build_model(
        {
            "family": "klae",
            "channels": spec["channels"],
            "num_res_blocks": [0] + [1] * (n - 1) if lite else 1,
            "use_convtranspose": lite,
            "latent_channels": spec["latent"],
            "norm_num_groups": spec["groups"],
            "kl_weight": KL_WEIGHT,
            "adversarial_weight": ADV_WEIGHT,
            "adversarial_start_step": 1,
            "discriminator_channels": DISC_CHANNELS,
            "discriminator_layers": DISC_LAYERS,
        }
    ).to(x.device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
    model.train()
    generator, adversary = split_parameters(model)
    opt_g = torch.optim.AdamW(generator, lr=1e-4)
    opt_d = torch.optim.AdamW(adversary, lr=1e-4)
    cfg = {"grad_clip_norm": 1.0}

    def step() -> None:
        with autocast(x.device, precision):
            objective = model.training_loss(x, 10)
        opt_g.zero_grad(set_to_none=True)
        objective.total.backward()
        torch.nn.utils.clip_grad_norm_(generator, 1.0)
        opt_g.step()
        adversary_step(model, x, objective.reconstruction, 10, opt_d, 1e-4, cfg, precision)

    return step, model


def monai_tutorial_step(spec: dict, x: torch.Tensor) -> tuple[Callable[[], None], torch.nn.Module]:
    """One training step as MONAI's 3D AutoencoderKL tutorial writes it (fp32, after warm-up)."""
    from monai.losses import PatchAdversarialLoss
    from monai.networks.nets import AutoencoderKL, PatchDiscriminator

    n = len(spec["channels"])
    ae = AutoencoderKL(
        spatial_dims=3,
        in_channels=1,
        out_channels=1,
        channels=tuple(spec["channels"]),
        latent_channels=spec["latent"],
        num_res_blocks=1,
        norm_num_groups=spec["groups"],
        attention_levels=(False,) * (n - 1) + (True,),
    ).to(x.device)
    disc = PatchDiscriminator(
        spatial_dims=3,
        num_layers_d=DISC_LAYERS,
        channels=DISC_CHANNELS,
        in_channels=1,
        out_channels=1,
    ).to(x.device)
    adv_loss = PatchAdversarialLoss(criterion="least_squares")
    l1 = torch.nn.L1Loss()
    opt_g = torch.optim.Adam(ae.parameters(), lr=1e-4)
    opt_d = torch.optim.Adam(disc.parameters(), lr=1e-4)

    def step() -> None:
        opt_g.zero_grad(set_to_none=True)
        recon, z_mu, z_sigma = ae(x)
        kl = 0.5 * torch.sum(
            z_mu.pow(2) + z_sigma.pow(2) - torch.log(z_sigma.pow(2)) - 1, dim=[1, 2, 3, 4]
        )
        kl = torch.sum(kl) / kl.shape[0]
        logits_fake = disc(recon.contiguous().float())[-1]
        generator_loss = adv_loss(logits_fake, target_is_real=True, for_discriminator=False)
        loss_g = l1(recon.float(), x.float()) + KL_WEIGHT * kl + ADV_WEIGHT * generator_loss
        loss_g.backward()
        opt_g.step()
        opt_d.zero_grad(set_to_none=True)
        logits_fake = disc(recon.contiguous().detach())[-1]
        loss_d_fake = adv_loss(logits_fake, target_is_real=False, for_discriminator=True)
        logits_real = disc(x.contiguous().detach())[-1]
        loss_d_real = adv_loss(logits_real, target_is_real=True, for_discriminator=True)
        loss_d = ADV_WEIGHT * (loss_d_fake + loss_d_real) * 0.5
        loss_d.backward()
        opt_d.step()

    return step, torch.nn.ModuleList([ae, disc])


def run_one(
    kind: str,
    resolution: int,
    device: str,
    precision: str,
    channels_last: bool,
    batch: int,
    steps: int,
    threads: int,
    spec: dict,
) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    from latentcf.grid import grid_shape

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
    x = torch.rand(batch, 1, *grid_shape(resolution), device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    if kind.startswith("latentcf"):
        step, model = ours_step(kind, spec, x, precision, channels_last)
    else:
        step, model = monai_tutorial_step(spec, x)
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    step()  # warm-up
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


def variants(kind: str, device: str, bf16_cpu: bool) -> list[tuple[str, bool]]:
    """(precision, channels_last) runs: ours as the workflow trains (bf16 where `auto` picks it)
    and in fp32 (equal precision); MONAI as its tutorial runs (fp32, default layout)."""
    if not kind.startswith("latentcf"):
        return [("fp32", False)]
    if device == "cuda":
        return [("bf16", True), ("fp32", False)]
    return [("fp32", False)] + ([("bf16", False)] if bf16_cpu else [])


def machine() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{platform.processor() or platform.machine()} CPU ({torch.get_num_threads()} threads visible)"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--resolutions", type=int, nargs="+", default=[4, 2])
    ap.add_argument("--models", nargs="+", default=["latentcf", "latentcf-lite", "monai-tutorial"])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--channels", type=int, nargs="+", default=[32, 64, 64])
    ap.add_argument("--latent", type=int, default=3)
    ap.add_argument("--groups", type=int, default=16, help="norm_num_groups")
    ap.add_argument("--no-bf16", action="store_true", help="CPU: skip our bf16 rows")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(**json.loads(args.one))))
        return
    from latentcf.hardware import cpu_has_native_bf16

    bf16_cpu = cpu_has_native_bf16() and not args.no_bf16
    spec = {"channels": args.channels, "latent": args.latent, "groups": args.groups}
    runs = []
    for r in args.resolutions:
        for kind in args.models:
            for precision, cl in variants(kind, args.device, bf16_cpu):
                one = dict(
                    kind=kind,
                    resolution=r,
                    device=args.device,
                    precision=precision,
                    channels_last=cl,
                    batch=args.batch,
                    steps=args.steps,
                    threads=args.threads,
                    spec=spec,
                )
                proc = subprocess.run(
                    [sys.executable, __file__, "--one", json.dumps(one)],
                    capture_output=True,
                    text=True,
                )
                if proc.returncode:
                    print(
                        f"# {kind} {r} mm {precision} failed: "
                        f"{proc.stderr.strip().splitlines()[-1:]}",
                        file=sys.stderr,
                    )
                    continue
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                print("# " + json.dumps(row), file=sys.stderr, flush=True)
                runs.append(row)
    cols = list(runs[0]) if runs else []
    print(
        f"# machine: {machine()}, torch {torch.__version__}, channels {args.channels}, latent "
        f"{args.latent}, load average {open('/proc/loadavg').read().split()[:3]}"
    )
    print("\t".join(cols))
    for row in runs:
        print("\t".join(str(row.get(c, "")) for c in cols))


if __name__ == "__main__":
    main()
