"""Mode collapse on the 8-Gaussian ring over several seeds: ``python -m t2ilib.gan.benchmark [--seeds 3]``.

Prints, for every setting, the modes covered (of 8) and the high-quality fraction after training, per seed and
averaged. Chapter 1 shows one seed of some of these settings; this script is where its claims are measured.
"""

from __future__ import annotations

import argparse
import time

import torch

from t2ilib.gan.ring import train_ring_gan

SETTINGS = {
    "D faster (lr_g 3e-4, lr_d 1e-3)": dict(lr_g=3e-4, lr_d=1e-3),
    "balanced (lr 1e-3 both)": dict(lr_g=1e-3, lr_d=1e-3),
    "balanced + label smoothing 0.9": dict(lr_g=1e-3, lr_d=1e-3, real_label=0.9),
    "G faster (lr_g 1e-3, lr_d 1e-4)": dict(lr_g=1e-3, lr_d=1e-4),
    "balanced, BatchNorm in D": dict(batchnorm_d=True),
    "balanced, BatchNorm in G": dict(batchnorm_g=True),
    "D faster + minibatch std": dict(lr_g=3e-4, lr_d=1e-3, minibatch_std=True),
    "D faster + packing (m=2)": dict(lr_g=3e-4, lr_d=1e-3, pack=2),
    "D faster + spectral norm": dict(lr_g=3e-4, lr_d=1e-3, spectral_norm=True),
}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=256, help="points per batch, real and fake (chapter 1a uses 256)")
    args = ap.parse_args(argv)
    print(f"{args.steps} steps of batch {args.batch}, seeds 0-{args.seeds - 1}, {torch.get_num_threads()} torch threads "
          "(BatchNorm runs depend on it: its sums are ordered differently)")
    print(f"{'setting':36s} {'modes covered (per seed)':>26s} {'mean':>5s}  {'high quality':>20s} {'mean':>5s}  time")
    for name, kw in SETTINGS.items():
        t = time.perf_counter()
        finals = [train_ring_gan(name, steps=args.steps, seed=s, snapshot_every=args.steps, batch=args.batch,
                                 progress=False, **kw).final
                  for s in range(args.seeds)]
        modes = [f["modes_covered"] for f in finals]
        hq = [f["high_quality"] for f in finals]
        print(f"{name:36s} {str(modes):>26s} {sum(modes) / len(modes):5.1f}  "
              f"{' '.join(f'{h:.2f}' for h in hq):>20s} {sum(hq) / len(hq):5.2f}  {time.perf_counter() - t:.0f}s",
              flush=True)


if __name__ == "__main__":
    main()
