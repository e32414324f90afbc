"""What each part of mini DALL-E 2 buys, measured on the shapes world.

    python -m t2ilib.eval.unclip_benchmark                  # 500 captions per group (the chapter's numbers)
    python -m t2ilib.eval.unclip_benchmark --n 100          # quicker
    python -m t2ilib.eval.unclip_benchmark --skip-diffusion # without the shapes_scratch rows

* :func:`variation_fidelity` -- the decoder alone: the captions' own renders (every caption group) -> CLIP image
  embedding -> decoder; how often the shapes probe reads the decoding as the render's caption (what survives the
  embedding: unCLIP's ceiling).
* :func:`prior_similarity` -- the prior alone: cosine similarity of its sampled image embeddings to the true image
  embeddings of held-out renders of the same captions, beside two baselines that need no prior (the caption's
  text embedding itself; the training image embedding nearest to it).
* :func:`within_caption_spread` -- diversity: how different the correct samples of one caption are from each other
  (mean pairwise pixel distance), as a fraction of how different the shapes world's own renders of that caption
  are (1: as varied as the world; 0: one picture per caption). The paper's claim (Ramesh et al. 2022, Sec. 5.2-5.3,
  human evaluations): unCLIP's samples are more diverse than those of GLIDE, a diffusion model conditioned on the
  text directly, as guidance rises, because "the semantic information of the scene is frozen in the CLIP image
  embedding and therefore does not collapse when guiding the decoder".

The command prints the prior table, prompt fidelity per caption group for unCLIP end to end, for the same decoder fed
the caption's text embedding in place of an image embedding (no prior), for the decoder's ceiling (the captions'
own renders encoded by CLIP and decoded) and for ``shapes_scratch``, all on the same captions
(:func:`t2ilib.eval.fidelity.shapes_fidelity`), then the diversity table at two guidance scales.
"""

from __future__ import annotations

import argparse
import time

import torch

from t2ilib.data.shapes import ShapesWorld
from t2ilib.eval.fidelity import CAPTION_SEED, GROUPS, _pct, _table_row, fidelity_captions, shapes_fidelity

SPLITS = {"seen": "test", "held-out": "held_out"}
PARTS = ("prior", "ceiling", "unclip", "no-prior", "shapes_scratch")  # rows of main's tables (diversity: per model)


@torch.no_grad()
def variation_fidelity(decoder, clip, probe=None, *, n_per_group: int = 125, guidance: float = 3.0, steps: int = 25,
                       seed: int = 0) -> dict:
    """Per caption group: the fraction of decoded CLIP image embeddings of the captions' own renders that the probe
    reads as the caption; ``fidelity``: their mean."""
    from t2ilib.checkpoint import load_pretrained
    from t2ilib.eval.shapes_probe import caption_matches

    probe = probe or load_pretrained("shapes_probe", "cpu")
    out = {}
    for i, (group, (split, k)) in enumerate(GROUPS.items()):
        batch = ShapesWorld(n_per_group, 32, CAPTION_SEED, split, n_objects=k).batch(0, n_per_group)
        images = decoder.generate(clip.encode_images(batch.images), guidance=guidance, steps=steps, seed=seed + i)
        out[group] = round(sum(caption_matches(probe, images, batch.captions)) / n_per_group, 4)
    out["fidelity"] = round(sum(out[g] for g in GROUPS) / len(GROUPS), 4)
    out.update(n_per_group=n_per_group, guidance=guidance, steps=steps)
    return out


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return round(float(torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=-1).mean()), 4)


@torch.no_grad()
def prior_similarity(prior, clip, *, n: int = 500, steps: int = 25, guidance: float = 1.0, seed: int = 0,
                     bank: int = 10_000) -> dict:
    """Mean cosine similarity to the true image embedding of ``n`` seen and ``n`` held-out renders, for the prior's
    samples and for the two baselines. ``bank``: training images searched by the nearest-neighbour baseline."""
    from t2ilib.clip.zero_shot import embed_in_batches

    train = ShapesWorld(bank, 32, 0, "train").batch(0, bank)
    bank_z = embed_in_batches(clip.encode_images, train.images)
    out = {}
    for i, (name, split) in enumerate(SPLITS.items()):
        b = ShapesWorld(n, 32, CAPTION_SEED, split).batch(0, n)
        z_i, z_t = clip.encode_images(b.images), clip.encode_text(b.captions)
        sampled = prior.sample_embeddings(b.captions, guidance=guidance, steps=steps, seed=seed + i,
                                         cond=prior.encode(b.captions, clip))
        nearest = bank_z[(z_t @ bank_z.T).argmax(1)]
        out[f"prior, {name}"] = _cosine(sampled, z_i)
        out[f"text embedding, {name}"] = _cosine(z_t, z_i)
        out[f"nearest training image, {name}"] = _cosine(nearest, z_i)
    out["cosine to the true embedding"] = round((out["prior, seen"] + out["prior, held-out"]) / 2, 4)
    out.update(n=n, steps=steps, guidance=guidance, bank=bank)
    return out


def _pairwise_spread(images: torch.Tensor) -> float:
    """Mean Euclidean distance between two different images of the set (pixels in [-1, 1], flattened)."""
    f = images.flatten(1).double()
    return float(torch.cdist(f, f).sum() / (len(f) * (len(f) - 1)))


@torch.no_grad()
def within_caption_spread(model, captions: list[str], *, k: int = 8, guidance: float = 3.0, steps: int = 25,
                          seed: int = 0, probe=None) -> dict:
    """Diversity at the fidelity the model has: ``k`` samples of each caption; of the captions with >= 2 samples the
    probe reads right, the mean pairwise pixel distance between those right samples, divided by the same for ``k``
    renders of the caption by the shapes world (:func:`t2ilib.data.shapes.scene_for_caption`, seeds 0..k-1).
    ``fidelity``: the fraction of all samples read right. ``model``: an :class:`~t2ilib.unclip.Unclip` or a
    text-conditioned denoiser."""
    from t2ilib.checkpoint import load_pretrained
    from t2ilib.data.shapes import render_scenes, scene_for_caption
    from t2ilib.eval.fidelity import _generate
    from t2ilib.eval.shapes_probe import caption_matches
    from t2ilib.images import to_image_range

    if k < 2:
        raise ValueError(f"k: expected at least 2 samples per caption to measure a spread, got {k}")
    probe = probe or load_pretrained("shapes_probe", "cpu")
    wanted = [c for c in captions for _ in range(k)]
    images = _generate(model, wanted, guidance, steps, seed, "static")
    right = torch.tensor(caption_matches(probe, images, wanted)).view(len(captions), k)
    ratios = []
    for i, caption in enumerate(captions):
        if right[i].sum() < 2:
            continue
        real = to_image_range(render_scenes([scene_for_caption(caption, seed=j) for j in range(k)]))
        ratios.append(_pairwise_spread(images[i * k:(i + 1) * k][right[i]]) / _pairwise_spread(real))
    return {"fidelity": round(float(right.float().mean()), 4),
            "spread": round(sum(ratios) / len(ratios), 4) if ratios else float("nan"),
            "captions measured": len(ratios), "captions": len(captions), "k": k, "guidance": guidance}


def main(argv=None) -> None:
    from t2ilib.checkpoint import load_pretrained
    from t2ilib.device import get_device
    from t2ilib.precision import add_precision_argument, apply_precision_argument, describe_precision
    from t2ilib.unclip import Unclip

    p = argparse.ArgumentParser(prog="python -m t2ilib.eval.unclip_benchmark", description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=500, help="captions per group (and held-out renders for the prior)")
    p.add_argument("--guidance", type=float, default=3.0, help="the decoder's classifier-free guidance scale")
    p.add_argument("--prior-guidance", type=float, default=1.0, help="the prior's guidance scale (1: none)")
    p.add_argument("--steps", type=int, default=25, help="DDIM steps of the decoder (and of shapes_scratch)")
    p.add_argument("--diversity-captions", type=int, default=64,
                   help="one-object seen captions for the diversity table (0: skip it)")
    p.add_argument("--k", type=int, default=8, help="samples per caption in the diversity table")
    p.add_argument("--bank", type=int, default=10_000, help="training images searched by the nearest-image baseline")
    p.add_argument("--skip-diffusion", action="store_true", help="leave out the shapes_scratch rows")
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                   help="which rows to measure (default: all); e.g. two processes on two cores, each with some parts")
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    add_precision_argument(p)
    args = p.parse_args(argv)
    if args.n < 1 or args.bank < 1 or args.steps < 1 or args.diversity_captions < 0 or args.k < 2:
        p.error(f"--n, --bank and --steps must be >= 1, --diversity-captions >= 0 and --k >= 2, got {args.n}, "
                f"{args.bank}, {args.steps}, {args.diversity_captions} and {args.k}")
    if args.guidance < 0 or args.prior_guidance < 0:
        p.error(f"--guidance and --prior-guidance must be >= 0 (1: none), got {args.guidance} and "
                f"{args.prior_guidance}")
    apply_precision_argument(args)
    device = get_device(args.device)
    parts = set(args.parts) - ({"shapes_scratch"} if args.skip_diffusion else set())
    unclip = Unclip.pretrained(device) if parts & {"prior", "unclip", "no-prior"} else None
    decoder = unclip.decoder if unclip else load_pretrained("unclip_decoder", device)
    clip = load_pretrained("clip", device)
    print(f"mini DALL-E 2 (unCLIP) on the shapes world; device {device}, precision {describe_precision(None, device)}"
          f"\n", flush=True)

    if "prior" in parts:
        t0 = time.perf_counter()
        r = prior_similarity(unclip.prior, clip, n=args.n, guidance=args.prior_guidance, bank=args.bank)
        print(f"the prior: mean cosine similarity to the true CLIP image embedding of a render of the caption "
              f"({args.n} seen, {args.n} held-out; {r['steps']} DDIM steps, guidance {args.prior_guidance:g}; nearest "
              f"of {r['bank']} training images) [{time.perf_counter() - t0:.0f} s]\n")
        print(_table_row(["image embedding from", "seen", "held-out"]))
        print(_table_row(["---"] * 3))
        for what in ("prior", "text embedding", "nearest training image"):
            print(_table_row([what, r[f"{what}, seen"], r[f"{what}, held-out"]]))
        print(flush=True)

    groups = list(GROUPS)
    either = [f"{g}, either order" for g in groups if GROUPS[g][1] == 2]
    print(f"prompt fidelity on the same captions ({args.n} per group), judged by the shapes probe; DDIM {args.steps} "
          f"steps\n")
    print(_table_row(["model", "image embedding", *groups, "mean", *either, "seconds"]))
    print(_table_row(["---"] * (len(groups) + len(either) + 4)), flush=True)
    t0 = time.perf_counter()
    if "ceiling" in parts:
        v = variation_fidelity(decoder, clip, n_per_group=args.n, guidance=args.guidance, steps=args.steps)
        print(_table_row(["unclip_decoder (ceiling)", "CLIP's embedding of the caption's own render",
                          *(_pct(v[g]) for g in groups), _pct(v["fidelity"]), *("–" for _ in either),
                          round(time.perf_counter() - t0, 1)]), flush=True)
    prior_how = f"from the prior (guidance {args.prior_guidance:g}), decoder guidance {args.guidance:g}"
    rows = [("unclip", prior_how, unclip, dict(prior_guidance=args.prior_guidance))] if "unclip" in parts else []
    if "no-prior" in parts:
        rows.append(("unclip_decoder, no prior", "the caption's text embedding", unclip, dict(use_prior=False)))
    scratch = load_pretrained("shapes_scratch", device) if "shapes_scratch" in parts else None
    if scratch is not None:
        rows.append(("shapes_scratch", "– (text-conditioned diffusion)", scratch, None))
    for name, how, model, sampling in rows:
        r = shapes_fidelity(model, n_per_group=args.n, guidance=args.guidance, steps=args.steps, sampling=sampling)
        print(_table_row([name, how, *(_pct(r[g]) for g in groups), _pct(r["fidelity"]),
                          *(_pct(r[g]) for g in either), r["seconds"]]), flush=True)

    models = [("unclip", unclip)] if "unclip" in parts else []
    models += [("shapes_scratch", scratch)] if scratch is not None else []
    if args.diversity_captions and models:
        captions = fidelity_captions("seen, 1 object", args.diversity_captions)
        print(f"\ndiversity: {args.k} samples of each of {len(captions)} one-object seen captions; spread = mean "
              f"pairwise pixel distance between the samples the probe reads right, / the same for {args.k} renders of "
              f"the caption by the shapes world (1 = as varied as the world)\n")
        print(_table_row(["model", "guidance", "fidelity", "spread", "captions measured"]))
        print(_table_row(["---"] * 5), flush=True)
        for name, model in models:
            for s in sorted({1.0, args.guidance}):
                d = within_caption_spread(model, captions, k=args.k, guidance=s, steps=args.steps)
                print(_table_row([name, f"{s:g}", _pct(d["fidelity"]), d["spread"],
                                  f"{d['captions measured']} of {d['captions']}"]), flush=True)


if __name__ == "__main__":
    main()
