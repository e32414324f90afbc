"""Mini DALL-E beside the diffusion model, on the same captions: prompt fidelity per caption group, what classifier-free
guidance and CLIP reranking add, and what the key-value cache saves.

    python -m t2ilib.eval.dalle_benchmark            # 500 captions per group (the chapter's numbers)
    python -m t2ilib.eval.dalle_benchmark --n 100    # quicker
    python -m t2ilib.eval.dalle_benchmark --skip-diffusion   # without the shapes_scratch row (most of the time)
    python -m t2ilib.eval.dalle_benchmark --guidance 3 --top-p 1   # other sampling settings for the dalle rows

Every row draws the same captions per group (:func:`t2ilib.eval.fidelity.shapes_fidelity`, caption seed fixed) and
is judged by the shapes probe. Rows: the tokenizer's ceiling (the captions' own renders, encoded to tokens and
decoded: what the judge still reads right through the image tokenizer), ``shapes_scratch`` (diffusion, DDIM 25
steps, guidance 3, its recipe's setting), then ``dalle`` unguided, guided, and guided with the best of
``--candidates`` samples per caption by the course's CLIP (DALL-E's reranking). The ``dalle`` rows sample with
nucleus filtering ``--top-p`` at ``--temperature``; the defaults (guidance 1.5, top-p 0.9: ``DALLE_SAMPLING``) are
the settings chosen after training on other captions of the same groups (:mod:`t2ilib.recipes.dalle`). The timing
table samples the same captions with and without the key-value cache (same seed: the same codes, which it checks)
and reports seconds per image.
"""

from __future__ import annotations

import argparse
import time

import torch

from t2ilib.dalle.sampling import DALLE_SAMPLING
from t2ilib.data.shapes import ShapesWorld
from t2ilib.eval.fidelity import GROUPS, _pct, _table_row, fidelity_captions, shapes_fidelity

DIFFUSION_GUIDANCE = 3.0  # shapes_scratch's own setting (its recipe measures it there)


@torch.no_grad()
def tokenizer_ceiling(tokenizer, n_per_group: int) -> dict:
    """Per caption group, the fraction of the captions' own renders that the judge still reads right after the round
    trip image -> tokens -> image: no model drawing through these tokens can be expected to do better."""
    from t2ilib.checkpoint import load_pretrained
    from t2ilib.eval.fidelity import CAPTION_SEED
    from t2ilib.eval.shapes_probe import caption_matches

    probe, out = load_pretrained("shapes_probe", "cpu"), {}
    for group, (split, k) in GROUPS.items():
        batch = ShapesWorld(n_per_group, 32, CAPTION_SEED, split, n_objects=k).batch(0, n_per_group)
        rebuilt = tokenizer.decode(tokenizer.encode(batch.images))
        out[group] = round(sum(caption_matches(probe, rebuilt.cpu(), batch.captions)) / n_per_group, 4)
    out["fidelity"] = round(sum(out[g] for g in GROUPS) / len(GROUPS), 4)
    return out


@torch.no_grad()
def cache_timing(model, n: int = 32, guidance: float = DALLE_SAMPLING["guidance"], seed: int = 0,
                 top_p: float | None = DALLE_SAMPLING["top_p"]) -> dict:
    """Seconds per image sampling ``n`` captions with and without the key-value cache; both must draw the same codes."""
    from t2ilib.dalle import sample_codes

    captions = fidelity_captions("seen, 2 objects", n)
    out, codes = {}, {}
    for cache in (True, False):
        t0 = time.perf_counter()
        codes[cache] = sample_codes(model, captions, guidance=guidance, seed=seed, top_p=top_p, use_cache=cache)
        out["with cache" if cache else "without cache"] = round((time.perf_counter() - t0) / n, 4)
    out["same codes"] = bool(torch.equal(codes[True], codes[False]))
    out.update(n=n, guidance=guidance, speedup=round(out["without cache"] / out["with cache"], 1))
    return out


def main(argv=None) -> None:
    from t2ilib.checkpoint import load_pretrained
    from t2ilib.device import get_device
    from t2ilib.precision import add_precision_argument, apply_precision_argument, describe_precision

    p = argparse.ArgumentParser(prog="python -m t2ilib.eval.dalle_benchmark", description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=500, help="captions per group")
    p.add_argument("--guidance", type=float, default=DALLE_SAMPLING["guidance"],
                   help="classifier-free guidance scale of the guided dalle rows")
    p.add_argument("--candidates", type=int, default=8, help="samples per caption for CLIP reranking")
    p.add_argument("--top-p", type=float, default=DALLE_SAMPLING["top_p"],
                   help="nucleus filtering of every dalle row (1: none)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature of every dalle row")
    p.add_argument("--timing-n", type=int, default=32, help="captions for the key-value cache timing (0: skip)")
    p.add_argument("--skip-diffusion", action="store_true",
                   help="leave out the shapes_scratch row (two thirds of the time on a CPU; it does not change when "
                        "dalle is retrained)")
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    add_precision_argument(p)
    args = p.parse_args(argv)
    if not 0 < args.top_p <= 1 or not args.temperature > 0:
        p.error(f"--top-p must be in (0, 1] and --temperature > 0, got {args.top_p} and {args.temperature}")
    if args.n < 1 or args.candidates < 2 or args.timing_n < 0:
        p.error(f"--n must be >= 1, --candidates >= 2 and --timing-n >= 0, got {args.n}, {args.candidates} and "
                f"{args.timing_n}")
    apply_precision_argument(args)
    device = get_device(args.device)
    dalle, clip = load_pretrained("dalle", device), load_pretrained("clip", device)
    print(f"prompt fidelity on the same captions ({args.n} per group), judged by the shapes probe; device {device}, "
          f"precision {describe_precision(None, device)}\n", flush=True)
    groups = list(GROUPS)
    either = [f"{g}, either order" for g in groups if GROUPS[g][1] == 2]
    print(_table_row(["model", "sampling", *groups, "mean", *either, "seconds"]))
    print(_table_row(["---"] * (len(groups) + len(either) + 4)), flush=True)
    tokens = dict(temperature=args.temperature, top_p=args.top_p)
    how = "autoregressive" + "".join(f", {k.replace('_', '-')} {v:g}" for k, v in tokens.items() if v != 1.0)
    rows = [("shapes_scratch", f"diffusion, DDIM 25 steps, guidance {DIFFUSION_GUIDANCE:g}", DIFFUSION_GUIDANCE, None),
            ("dalle", f"{how}, guidance 1 (none)", 1.0, tokens),
            ("dalle", f"{how}, guidance {args.guidance:g}", args.guidance, tokens),
            ("dalle", f"{how}, guidance {args.guidance:g}, best of {args.candidates} by CLIP",
             args.guidance, dict(tokens, candidates=args.candidates, clip=clip))]
    ceiling = tokenizer_ceiling(dalle.image_tokenizer, args.n)
    print(_table_row([f"{dalle.image_tokenizer_name} round trip", "the captions' own renders -> tokens -> image",
                      *(_pct(ceiling[g]) for g in groups), _pct(ceiling["fidelity"]), *("–" for _ in either), "–"]),
          flush=True)
    for name, how, guidance, sampling in rows[1 if args.skip_diffusion else 0:]:
        model = dalle if name == "dalle" else load_pretrained(name, device)
        r = shapes_fidelity(model, n_per_group=args.n, guidance=guidance, steps=25, sampling=sampling)
        print(_table_row([name, how, *(_pct(r[g]) for g in groups), _pct(r["fidelity"]),
                          *(_pct(r[g]) for g in either), r["seconds"]]), flush=True)
    if args.timing_n:
        t = cache_timing(dalle, args.timing_n, args.guidance, top_p=args.top_p)
        print(f"\nsampling time per image ({t['n']} two-object captions, guidance {t['guidance']:g}, "
              f"{dalle.image_len} tokens each, batched)\n")
        print(_table_row(["key-value cache", "seconds per image", "same codes"]))
        print(_table_row(["---"] * 3))
        print(_table_row(["on", t["with cache"], t["same codes"]]))
        print(_table_row(["off", t["without cache"], t["same codes"]]))
        print(f"\nthe cache is {t['speedup']}x faster", flush=True)


if __name__ == "__main__":
    main()
