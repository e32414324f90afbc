"""Mini Imagen, measured: what each stage of the cascade does, what noise conditioning augmentation buys, the cascade
against a single-stage model of the same training compute, and thresholding at high guidance.

``python -m t2ilib.eval.imagen_benchmark`` prints four tables (``--tables`` picks some); every row judges the same
captions per group (:func:`t2ilib.eval.fidelity.fidelity_captions`; table 2: the first ``--sweep-n`` of them, table 4:
its own ``--threshold-n``) with the shapes probe and the object counter:

1. **The upsampler's ceiling.** A perfect base model: the shapes world's own 16 px pictures of the captions, upscaled
   by ``imagen_sr`` and ``imagen_sr_noaug`` (level 0), and by plain bilinear interpolation (no model).
2. **Noise conditioning augmentation.** The base model's samples (drawn once per group, shared with table 3),
   upscaled by both upsamplers at each sampling level a: the one trained with augmentation against the one trained
   on clean inputs.
3. **Cascade vs single stage.** The cascade (``imagen_base`` + ``imagen_sr`` at the shipped level) beside
   ``shapes_scratch`` (one 32 px model, the same training FLOPs, see :mod:`t2ilib.recipes.imagen`): fidelity, judge
   FID (Frechet distance of the shapes probe's features to real renders of the same captions) and sampling seconds
   per image.
4. **Thresholding at high guidance.** For each guidance weight and rule (static clipping, Imagen's dynamic
   thresholding at several percentiles p, none): the cascade's fidelity, and what the rule did at every step of the
   base model's sampling: Imagen's s = the p-th percentile of |x0_hat| (before s = max(s, 1)), and the fraction of
   x0_hat's values outside [-1, 1].
"""

from __future__ import annotations

import argparse
import time

import torch

from t2ilib.eval.fidelity import GROUPS, _pct, _table_row, fidelity_captions

LEVELS = (0.0, 0.1, 0.2, 0.3, 0.5)
RULES = ("static", 0.9, 0.95, 0.99, 0.995, "none")


def group_captions(n_per_group: int, groups=tuple(GROUPS)) -> dict[str, list[str]]:
    return {g: fidelity_captions(g, n_per_group) for g in groups}


def judged(probe, images: torch.Tensor, captions: list[str]) -> float:
    """The fraction of images the judge reads as their caption (object count included)."""
    from t2ilib.eval.shapes_probe import caption_readings, judge_images

    reads = judge_images(probe, images.float().clamp(-1, 1))
    return sum(r == w for r, w in zip(reads, caption_readings(captions))) / len(captions)


def with_mean(per_group: dict[str, float]) -> dict[str, float]:
    out = {g: round(v, 4) for g, v in per_group.items()}
    out["fidelity"] = round(sum(per_group.values()) / len(per_group), 4)
    return out


@torch.no_grad()
def base_samples(base, captions: dict[str, list[str]], *, guidance: float = 3.0, steps: int = 25, seed: int = 0,
                 threshold="static") -> dict[str, torch.Tensor]:
    """Per group: the base model's 16 px samples (``base=None``: the world's own pictures, shrunk)."""
    from t2ilib.imagen.cascade import rendered_low_res
    from t2ilib.text.denoiser import generate

    out = {}
    for i, (group, caps) in enumerate(captions.items()):
        out[group] = rendered_low_res(caps, 16, seed + i) if base is None else \
            generate(base.eval(), caps, guidance=guidance, steps=steps, seed=seed + i, threshold=threshold)
    return out


@torch.no_grad()
def upscaled_fidelity(upsampler, low: dict[str, torch.Tensor], captions: dict[str, list[str]], probe, *,
                      level: float, guidance: float = 3.0, steps: int = 25, seed: int = 100,
                      threshold="static", keep: dict | None = None) -> dict[str, float]:
    """Per group and mean: fidelity of ``low`` upscaled at ``level`` (``upsampler=None``: bilinear, no model).
    ``keep``: a dict that receives the images per group."""
    from t2ilib.imagen import upsample, upscale

    per_group = {}
    for i, (group, caps) in enumerate(captions.items()):
        images = upsample(low[group].float(), 32) if upsampler is None else \
            upscale(upsampler.eval(), caps, low[group], level=level, guidance=guidance, steps=steps, seed=seed + i,
                    threshold=threshold)
        per_group[group] = judged(probe, images, caps)
        if keep is not None:
            keep[group] = images.cpu()
    return with_mean(per_group)


def probe_fid(probe, images: torch.Tensor, captions: list[str], seed: int = 1) -> float:
    """Judge FID on the shapes probe's features: ``images`` against the world's own renders of the same captions."""
    from t2ilib.data.shapes import render_scenes, scene_for_caption
    from t2ilib.eval.metrics import judge_fid

    scenes = [scene_for_caption(c, seed=seed + j) for j, c in enumerate(captions)]
    real = render_scenes(scenes).float().div(127.5).sub(1)
    return judge_fid(probe, images.float().clamp(-1, 1), real)


def base_samples_32(captions: list[str], seed: int) -> torch.Tensor:
    """The world's own 32 px renders of ``captions`` (other scenes than :func:`probe_fid`'s reference for the same
    captions, by ``seed``): the FID a perfect model would get."""
    from t2ilib.data.shapes import render_scenes, scene_for_caption

    scenes = [scene_for_caption(c, seed=seed + j) for j, c in enumerate(captions)]
    return render_scenes(scenes).float().div(127.5).sub(1)


class ThresholdTrace:
    """A thresholding rule for the sampler (``clip_x0``) that also records, at every call (one per step), the mean
    over samples of Imagen's s (the ``percentile`` of |x0_hat|, before max(s, 1)) and the fraction of x0_hat's values
    outside [-1, 1]. ``percentile=None``: static clipping; ``apply=False``: record only (no thresholding)."""

    def __init__(self, percentile: float | None, apply: bool = True, measure_at: float = 0.995):
        from t2ilib.diffusion.guidance import dynamic_threshold

        self.percentile, self.apply, self.measure_at = percentile, apply, percentile or measure_at
        self._dynamic = dynamic_threshold
        self.s, self.saturated = [], []

    def __call__(self, x0: torch.Tensor) -> torch.Tensor:
        flat = x0.reshape(len(x0), -1).abs().float()
        self.s.append(float(torch.quantile(flat, self.measure_at, dim=1).mean()))
        self.saturated.append(float((flat > 1).float().mean()))
        if not self.apply:
            return x0
        return x0.clamp(-1, 1) if self.percentile is None else self._dynamic(x0, self.percentile)


@torch.no_grad()
def thresholding_rows(base, upsampler, captions: dict[str, list[str]], probe, *, guidances=(3.0, 10.0),
                      rules=RULES, level: float = 0.2, steps: int = 25, seed: int = 0) -> list[dict]:
    """One row per (guidance, rule): the cascade's fidelity (the rule applied at both stages) and the base model's
    per-step s and saturated fraction (mean over the steps' first half and second half, and at the last step)."""
    from t2ilib.text.denoiser import generate

    rows = []
    for w in guidances:
        for rule in rules:
            low, per_group, traces = {}, {}, []
            for i, (group, caps) in enumerate(captions.items()):
                trace = ThresholdTrace(None if rule in ("static", "none") else float(rule), apply=rule != "none")
                low[group] = generate(base.eval(), caps, guidance=w, steps=steps, seed=seed + i, threshold=trace)
                traces.append(trace)
            up_rule = rule if rule in ("static", "none") else float(rule)
            fid = upscaled_fidelity(upsampler, low, captions, probe, level=level, guidance=w, steps=steps,
                                    threshold=up_rule)
            s = torch.tensor([t.s for t in traces]).mean(0)
            sat = torch.tensor([t.saturated for t in traces]).mean(0)
            half = len(s) // 2
            rows.append({"guidance": w, "rule": rule, **fid, "s first half": round(float(s[:half].mean()), 3),
                         "s second half": round(float(s[half:].mean()), 3), "s last": round(float(s[-1]), 3),
                         "saturated first half": round(float(sat[:half].mean()), 4),
                         "saturated second half": round(float(sat[half:].mean()), 4),
                         "saturated last": round(float(sat[-1]), 4), "s per step": [round(float(v), 3) for v in s],
                         "saturated per step": [round(float(v), 4) for v in sat]})
    return rows


def seconds_per_image(generate_fn, captions: list[str]) -> float:
    t0 = time.perf_counter()
    generate_fn(captions)
    return (time.perf_counter() - t0) / len(captions)


def main(argv=None) -> None:
    from t2ilib.checkpoint import load_pretrained
    from t2ilib.device import get_device
    from t2ilib.imagen import Cascade
    from t2ilib.precision import add_precision_argument, apply_precision_argument, describe_precision
    from t2ilib.imagen.cascade import LEVEL

    p = argparse.ArgumentParser(prog="python -m t2ilib.eval.imagen_benchmark", description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=500, help="captions per group (tables 1 and 3)")
    p.add_argument("--sweep-n", type=int, default=200,
                   help="captions per group for table 2's sweep (the first of table 3's; at most --n)")
    p.add_argument("--levels", nargs="+", type=float, default=list(LEVELS), help="sampling levels a for table 2")
    p.add_argument("--tables", nargs="+", type=int, default=[1, 2, 3, 4], choices=[1, 2, 3, 4],
                   help="which tables to measure (default: all four)")
    p.add_argument("--guidance", type=float, default=3.0)
    p.add_argument("--steps", type=int, default=25, help="DDIM steps per stage")
    p.add_argument("--threshold-n", type=int, default=100, help="captions per group for table 4 (0: skip it)")
    p.add_argument("--threshold-guidance", nargs="+", type=float, default=[3.0, 10.0, 20.0])
    p.add_argument("--time-n", type=int, default=32, help="captions for the sampling-time measurement")
    p.add_argument("--skip-single", action="store_true", help="leave out shapes_scratch (table 3's single stage)")
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    add_precision_argument(p)
    args = p.parse_args(argv)
    if args.n < 1 or args.threshold_n < 0 or args.steps < 1 or args.time_n < 1 or not 1 <= args.sweep_n <= args.n:
        p.error("--n, --steps and --time-n must be >= 1, --threshold-n >= 0, --sweep-n between 1 and --n")
    if any(not 0 <= a <= 1 for a in args.levels):
        p.error(f"--levels: expected noise levels in [0, 1], got {args.levels}")
    apply_precision_argument(args)
    device = torch.device(args.device) if args.device else get_device()
    probe = load_pretrained("shapes_probe", "cpu")
    tables = set(args.tables)
    cascade = Cascade.pretrained(device) if tables & {2, 3, 4} else None  # table 1 needs no base model
    upsampler = cascade.upsampler if cascade else load_pretrained("imagen_sr", device)
    noaug = load_pretrained("imagen_sr_noaug", device) if tables & {1, 2} else None
    captions = group_captions(args.n)
    groups = list(captions)
    g, steps = args.guidance, args.steps
    sweep = f" (table 2: the first {args.sweep_n})" if 2 in tables else ""
    print(f"{args.n} captions per group{sweep}, guidance {g}, {steps} DDIM steps per stage; device {device}, "
          f"precision {describe_precision(None, device)}")

    if 1 in tables:
        print("\n1. The upsampler's ceiling: the world's own 16 px pictures, upscaled (level 0)")
        print(_table_row(["upsampler", *groups, "mean"]))
        print(_table_row(["---"] * (len(groups) + 2)))
        real_low = base_samples(None, captions)
        for name, up in (("bilinear (no model)", None), ("imagen_sr", upsampler), ("imagen_sr_noaug", noaug)):
            r = upscaled_fidelity(up, real_low, captions, probe, level=0.0, guidance=g, steps=steps)
            print(_table_row([name, *(_pct(r[k]) for k in groups), _pct(r["fidelity"])]), flush=True)

    low = base_samples(cascade.base, captions, guidance=g, steps=steps) if tables & {2, 3} else {}
    if 2 in tables:
        sweep_caps = {grp: caps[:args.sweep_n] for grp, caps in captions.items()}
        sweep_low = {grp: low[grp][:args.sweep_n] for grp in groups}
        print(f"\n2. The base model's samples ({args.sweep_n} per group), upscaled at sampling level a "
              f"(16 px -> 32 px)")
        print(_table_row(["upsampler", "a", *groups, "mean"]))
        print(_table_row(["---"] * (len(groups) + 3)))
        r = upscaled_fidelity(None, sweep_low, sweep_caps, probe, level=0.0)
        print(_table_row(["bilinear (no model)", "–", *(_pct(r[k]) for k in groups), _pct(r["fidelity"])]),
              flush=True)
        for name, up in (("imagen_sr", upsampler), ("imagen_sr_noaug", noaug)):
            for a in args.levels:
                r = upscaled_fidelity(up, sweep_low, sweep_caps, probe, level=a, guidance=g, steps=steps)
                print(_table_row([name, a, *(_pct(r[k]) for k in groups), _pct(r["fidelity"])]), flush=True)

    if 3 in tables:
        print(f"\n3. Cascade (imagen_base + imagen_sr, a = {LEVEL}) vs one 32 px model of the same training FLOPs")
        print(_table_row(["model", *groups, "mean", "judge FID", "seconds per image"]))
        print(_table_row(["---"] * (len(groups) + 4)))
        time_caps = fidelity_captions("seen, 2 objects", args.time_n, seed=7)
        images, fidelity = {"cascade": {}}, {}
        fidelity["cascade"] = upscaled_fidelity(cascade.upsampler, low, captions, probe, level=LEVEL, guidance=g,
                                                steps=steps, keep=images["cascade"])
        draw = {"cascade": lambda caps: cascade.generate(caps, guidance=(g, g), steps=(steps, steps), level=LEVEL)}
        if not args.skip_single:
            from t2ilib.text.denoiser import generate

            single = load_pretrained("shapes_scratch", device).eval()
            draw["shapes_scratch"] = lambda caps, seed=0: generate(single, caps, guidance=g, steps=steps, seed=seed)
            images["shapes_scratch"] = {grp: draw["shapes_scratch"](caps, seed=i).cpu()
                                        for i, (grp, caps) in enumerate(captions.items())}
            fidelity["shapes_scratch"] = with_mean({grp: judged(probe, images["shapes_scratch"][grp], captions[grp])
                                                    for grp in groups})
        all_caps = [c for grp in groups for c in captions[grp]]
        floor = probe_fid(probe, base_samples_32(all_caps, seed=10_000), all_caps)
        print(_table_row(["the world's own renders (FID floor)", *("–" for _ in groups), "–", f"{floor:.2f}", "–"]))
        for name, fn in draw.items():
            r = fidelity[name]
            fid = probe_fid(probe, torch.cat([images[name][grp] for grp in groups]), all_caps)
            spi = seconds_per_image(fn, time_caps)
            print(_table_row([name, *(_pct(r[k]) for k in groups), _pct(r["fidelity"]), f"{fid:.2f}", f"{spi:.3f}"]),
                  flush=True)

    if 4 in tables and args.threshold_n:
        print(f"\n4. Thresholding ({args.threshold_n} captions per group; the rule at both stages, a = {LEVEL}); "
              f"s and the saturated fraction are the base model's, per DDIM step")
        print(_table_row(["guidance", "rule", "mean fidelity", "s: first half / second half / last step",
                          "outside [-1, 1]: first half / second half / last step"]))
        print(_table_row(["---"] * 5))
        for row in thresholding_rows(cascade.base, cascade.upsampler, group_captions(args.threshold_n), probe,
                                     guidances=args.threshold_guidance, level=LEVEL, steps=steps):
            rule = row["rule"] if isinstance(row["rule"], str) else f"dynamic p = {row['rule']}"
            print(_table_row([row["guidance"], rule, _pct(row["fidelity"]),
                              f"{row['s first half']} / {row['s second half']} / {row['s last']}",
                              f"{_pct(row['saturated first half'])} / {_pct(row['saturated second half'])} / "
                              f"{_pct(row['saturated last'])}"]), flush=True)


if __name__ == "__main__":
    main()
