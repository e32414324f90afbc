"""Training throughput of the course's UNet against a diffusers UNet2DModel (printed, not asserted).

    python -m t2ilib.diffusion.benchmark throughput   # t2ilib UNet vs a diffusers UNet2DModel, fp32 and bf16

``throughput`` trains both networks on the same noised MNIST batches with the same loss and optimizer, alternating
between them in timed rounds so that both see the same machine load, and prints images/s and the ratio, once per
precision (default fp32 and bf16 autocast), with the CPU and what the course's precision policy picks on it.
``samplers`` draws the same number of samples with each sampler setting from the same seed and prints seconds and
:func:`t2ilib.recipes.diffusion.digit_sample_quality` (judge FID with its reals-vs-reals floor, confidence, coverage).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from t2ilib.data import epoch_batches, load_dataset
from t2ilib.device import get_device
from t2ilib.diffusion import NoiseSchedule, diffusion_loss, noised_batches
from t2ilib.nn import UNet
from t2ilib.precision import autocast, check_precision, cpu_description, describe_precision, resolve_precision


def diffusers_twin(unet: UNet):
    """A diffusers UNet2DModel with the same layout as ``unet`` (same parameter count for the default layout)."""
    from diffusers import UNet2DModel

    c = unet.config
    levels = len(c["channels"])
    down = tuple("AttnDownBlock2D" if i in c["attention_levels"] else "DownBlock2D" for i in range(levels))
    up = tuple("AttnUpBlock2D" if i in c["attention_levels"] else "UpBlock2D" for i in reversed(range(levels)))
    return UNet2DModel(in_channels=c["in_channels"], out_channels=c["out_channels"], layers_per_block=c["num_res_blocks"],
                       block_out_channels=c["channels"], down_block_types=down, up_block_types=up,
                       norm_num_groups=c["groups"], attention_head_dim=c["channels"][-1] // c["heads"])


class _DiffusersAdapter(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, t):
        return self.model(x, t).sample


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def throughput(rounds: int = 5, steps_per_round: int = 10, batch: int = 128, precision: str | None = None,
               device=None) -> dict:
    device = device or get_device()
    precision = resolve_precision(precision, device)
    torch.manual_seed(0)
    ours = UNet().to(device)
    theirs = _DiffusersAdapter(diffusers_twin(ours)).to(device)
    x, _ = load_dataset("mnist", "train").tensors(device)
    batches = noised_batches(epoch_batches(x, batch_size=batch), 1000)
    loss_fn = diffusion_loss(NoiseSchedule.cosine(1000).to(device))
    nets = {"t2ilib UNet": ours, "diffusers UNet2DModel": theirs}
    opts = {k: torch.optim.AdamW(m.parameters(), 1e-3) for k, m in nets.items()}
    rates: dict[str, list[float]] = {k: [] for k in nets}
    step = 0
    for r in range(rounds + 1):  # round 0 warms up (allocator, kernels) and is not counted
        for name, model in nets.items():
            model.train()
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for i in range(steps_per_round):
                b = batches(step + i)
                with autocast(device, precision):
                    loss = loss_fn(model, b)
                opts[name].zero_grad(set_to_none=True)
                loss.backward()
                opts[name].step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if r:
                rates[name].append(steps_per_round * batch / (time.perf_counter() - t0))
        step += steps_per_round
    med = {k: statistics.median(v) for k, v in rates.items()}
    return {"device": str(device), "precision": precision, "params": {k: n_params(m) for k, m in nets.items()},
            "images_per_s": med, "ratio": med["t2ilib UNet"] / med["diffusers UNet2DModel"]}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["throughput"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps-per-round", type=int, default=10)
    ap.add_argument("--precision", nargs="+", default=["fp32", "bf16"],
                    help="throughput in each of these (fp32, bf16, auto; default: fp32 bf16)")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.steps_per_round < 1:
        ap.error("--rounds and --steps-per-round must be positive integers")
    try:
        precisions = [check_precision(p, "--precision") for p in args.precision]
    except ValueError as e:
        ap.error(str(e))
    device = get_device()
    print(f"device {device}; {cpu_description() if device.type == 'cpu' else torch.cuda.get_device_name(device)}")
    print(f"the course's precision policy picks: {describe_precision(None, device)}", flush=True)
    print(f"batch 128 MNIST 28 px, AdamW, median of {args.rounds} rounds of {args.steps_per_round} steps")
    for p in precisions:
        r = throughput(rounds=args.rounds, steps_per_round=args.steps_per_round, precision=p, device=device)
        print(f"{r['precision']}{' (auto)' if p == 'auto' else ''}:")
        for k, v in r["images_per_s"].items():
            print(f"  {k:22s} {r['params'][k]:>9,d} params   {v:7.1f} images/s")
        print(f"  ratio t2ilib / diffusers: {r['ratio']:.2f}", flush=True)

if __name__ == "__main__":
    main()
