"""Sampler and step count vs time vs quality, on the shipped digit denoiser (printed, not asserted).

    python -m t2ilib.eval.samplers [--n 1000]

Draws the same number of samples with each sampler setting from the same seed and prints the seconds it took and
:func:`t2ilib.eval.sample_quality.digit_sample_quality` (judge FID with its reals-vs-reals floor, the judge's
confidence, digit coverage). Chapter 5's table of DDPM vs DDIM at equal steps comes from here.
"""

from __future__ import annotations

import argparse

import torch

from t2ilib.checkpoint import load_pretrained
from t2ilib.device import get_device
from t2ilib.eval.sample_quality import digit_sample_quality, sample_digits
from t2ilib.precision import cpu_description, describe_precision

SAMPLER_ROWS = [("ddim", 10, 0.0), ("ddim", 25, 0.0), ("ddim", 50, 0.0), ("ddim", 100, 0.0), ("ddim", 50, 1.0),
                ("ddpm", 50, None), ("ddpm", 250, None), ("ddpm", 1000, None)]


def samplers(n: int = 1000, rows=SAMPLER_ROWS, device=None) -> list[dict]:
    device = device or get_device()
    model = load_pretrained("digit_ddpm", device)
    out = []
    for sampler, steps, eta in rows:
        images, seconds = sample_digits(model, n, sampler=sampler, steps=steps, eta=eta or 0.0, device=device)
        row = {"sampler": sampler if eta is None else f"{sampler} eta={eta:g}", "steps": steps,
               "seconds": round(seconds, 1), **digit_sample_quality(images)}
        print(f"{row['sampler']:12s} {steps:5d} steps {seconds:7.1f} s   judge FID {row['judge_fid']:7.2f} "
              f"(floor {row['fid_floor']:.2f})   confidence {row['confidence']:.3f}   coverage {row['digit_coverage']:.3f}",
              flush=True)
        out.append(row)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m t2ilib.eval.samplers", description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="samples per sampler setting")
    args = ap.parse_args(argv)
    if args.n < 1:
        ap.error(f"--n: expected a positive integer, got {args.n}")
    device = get_device()
    print(f"device {device}; {cpu_description() if device.type == 'cpu' else torch.cuda.get_device_name(device)}")
    print(f"the course's precision policy picks: {describe_precision(None, device)}")
    print(f"digit_ddpm, {args.n} samples per row, judge FID vs the 4000 MNIST test digits", flush=True)
    samplers(n=args.n, device=device)


if __name__ == "__main__":
    main()
