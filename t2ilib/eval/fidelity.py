"""Prompt fidelity: the fraction of generated images whose judged content matches their caption.

* shapes world: the judge (:mod:`t2ilib.eval.shapes_probe`) counts the objects and reads every attribute; an image
  counts only if it holds as many objects as its caption names and all attributes match. Reported for four groups
  of captions: one or two objects, x seen or held-out (colour, shape)
  pairs. Captions come from the ``"test"`` stream (seen pairs, scenes the model never saw) and the
  ``"held_out"`` stream (at least one pair the model never saw). Also per group: the fraction of images with
  more objects than the caption names (all of them count as wrong).
* captioned digits: the digit judge's reading equals the digit the caption names.
* word order: :func:`order_sensitivity`, a teacher-forced test of whether a shapes model uses the order of the
  words at all (true caption vs the same words with the two objects swapped).

``python -m t2ilib.eval.fidelity`` prints the tables (the chapter's quality numbers come from there).
"""

from __future__ import annotations

import argparse
import time

import torch

from t2ilib.data.digit_captions import TEMPLATES, digit_caption, parse_digit_caption
from t2ilib.data.shapes import ShapesWorld
from t2ilib.data.shapes_captions import parse_caption

GROUPS = {"seen, 1 object": ("test", 1), "seen, 2 objects": ("test", 2),
          "held-out, 1 object": ("held_out", 1), "held-out, 2 objects": ("held_out", 2)}
CAPTION_SEED = 303


def fidelity_captions(group: str, n: int, seed: int = CAPTION_SEED) -> list[str]:
    if group not in GROUPS:
        raise ValueError(f"group: expected one of {list(GROUPS)}, got {group!r}")
    split, k = GROUPS[group]
    world = ShapesWorld(n, 32, seed, split, n_objects=k)
    return [world.scene(i).caption for i in range(n)]


def digit_captions(n: int, seed: int = CAPTION_SEED) -> list[str]:
    """n captions, digits 0-9 equally often, templates cycling."""
    g = torch.Generator().manual_seed(seed)
    templates = torch.randint(len(TEMPLATES), (n,), generator=g).tolist()
    return [digit_caption(i % 10, k) for i, k in zip(range(n), templates)]


@torch.no_grad()
def shapes_fidelity(model, probe=None, *, n_per_group: int = 100, guidance: float = 3.0, steps: int = 25,
                    seed: int = 0, threshold="static", groups=tuple(GROUPS), containing: tuple[str, ...] = (),
                    sampling: dict | None = None, caption_seed: int = CAPTION_SEED) -> dict:
    """Fidelity per caption group, their mean (``fidelity``) and the sampling time. Per group also
    ``"<group>, extra objects"``: the fraction of images with more objects than the caption names. For two-object
    groups also ``"<group>, either order"``: the fraction of images that show the right two objects in the right
    places or with the two exchanged (a model that ignores word order scores about half of this as fidelity), and
    ``"<group>, errors"``: :func:`two_object_errors` as fractions. ``containing``: keep only the captions (of the
    ``n_per_group`` per group) that contain every one of these phrases, e.g. ``("orange diamond", "yellow")``;
    ``"<group>, n"`` says how many were kept. The model is a text-conditioned denoiser (``steps`` DDIM steps,
    ``threshold``) or a :class:`~t2ilib.dalle.MiniDalle` (``sampling``: the options of
    :func:`t2ilib.dalle.generate`, e.g. ``{"top_k": 32, "candidates": 8, "clip": clip}``) or an
    :class:`~t2ilib.unclip.Unclip` (``guidance`` is the decoder's; ``sampling``: other options of
    :func:`t2ilib.unclip.generate`, e.g. ``{"prior_guidance": 2.0}``) or an Imagen :class:`~t2ilib.imagen.Cascade`
    (``guidance``, ``steps``, ``threshold`` for both stages; ``sampling``: ``{"level": 0.2}`` and optionally
    ``upsampler_guidance`` / ``upsampler_steps`` / ``upsampler_threshold``). ``caption_seed``: another
    draw of captions from the same groups (e.g. to choose sampling settings on captions the reported numbers do not
    use)."""
    from t2ilib.checkpoint import load_pretrained
    from t2ilib.eval.shapes_probe import caption_readings, judge_images

    probe = probe or load_pretrained("shapes_probe", "cpu")
    out, t0 = {}, time.perf_counter()
    for i, group in enumerate(groups):
        if group not in GROUPS:
            raise ValueError(f"groups: expected names from {list(GROUPS)}, got {group!r}")
        split, k = GROUPS[group]
        world = ShapesWorld(n_per_group, 32, caption_seed, split, n_objects=k)
        scenes = [sc for sc in map(world.scene, range(n_per_group)) if all(p in sc.caption for p in containing)]
        captions = [sc.caption for sc in scenes]
        out[f"{group}, n"] = len(captions)
        if not captions:
            raise ValueError(f"containing: no caption of {group!r} (first {n_per_group}) contains all of {containing}")
        images = _generate(model, captions, guidance, steps, seed + i, threshold, sampling)
        reads = judge_images(probe, images)
        out[group] = round(sum(r == w for r, w in zip(reads, caption_readings(captions))) / len(captions), 4)
        out[f"{group}, extra objects"] = round(sum(r["count"] > k for r in reads) / len(reads), 4)
        if k == 2:
            kinds = two_object_errors(reads, scenes)
            out[f"{group}, either order"] = round(sum(x in ("right", "objects exchanged") for x in kinds) / len(kinds), 4)
            out[f"{group}, errors"] = {kind: round(kinds.count(kind) / len(kinds), 4) for kind in TWO_OBJECT_OUTCOMES}
    out["fidelity"] = round(sum(out[g] for g in groups) / len(groups), 4)
    out.update(n_per_group=n_per_group, guidance=guidance, steps=steps, seconds=round(time.perf_counter() - t0, 1))
    return out


@torch.no_grad()
def digit_fidelity(model, judge=None, *, n: int = 500, guidance: float = 3.0, steps: int = 25, seed: int = 0,
                   threshold="static", return_images: bool = False) -> dict:
    """Fraction of samples the digit judge reads as the captioned digit."""
    from t2ilib.checkpoint import load_pretrained

    judge = judge or load_pretrained("digit_classifier", "cpu")
    captions = digit_captions(n)
    t0 = time.perf_counter()
    images = _generate(model, captions, guidance, steps, seed, threshold)
    wanted = torch.tensor([parse_digit_caption(c) for c in captions])
    probs = judge.predict(images)
    out = {"fidelity": round(float((probs.argmax(-1) == wanted).float().mean()), 4),
           "confidence": round(float(probs.max(-1).values.mean()), 4), "n": n, "guidance": guidance, "steps": steps,
           "seconds": round(time.perf_counter() - t0, 1)}
    return (out, images, captions) if return_images else out


TWO_OBJECT_OUTCOMES = ("right", "objects exchanged", "colours exchanged", "more than two objects",
                       "fewer than two objects", "one colour on both objects", "a colour not in the caption",
                       "a shape not in the caption", "other")


def two_object_errors(reads: list[dict], scenes) -> list[str]:
    """What the judge saw (:func:`t2ilib.eval.shapes_probe.judge_images`), per two-object image, as one of
    :data:`TWO_OBJECT_OUTCOMES` (first that applies): ``right``; ``objects exchanged`` (the swapped caption's
    picture: the words are right, their order is not); ``colours exchanged`` (shapes in place but the two colours
    bound to the wrong shapes, in either order); ``more than two objects`` / ``fewer than two objects`` (the
    counter's count; two objects that touch count as one: the renderer never lets them); ``one colour on both
    objects`` (the caption names two colours, the image shows one of them twice: a colour *leaks* to the other
    object); ``a colour (shape) not in the caption``; ``other`` (e.g. a size or the relation's axis wrong)."""
    from t2ilib.eval.shapes_probe import canonical

    out = []
    for r, scene in zip(reads, scenes, strict=True):
        want = canonical(parse_caption(scene.caption))
        swapped = canonical(parse_caption(swapped_caption(scene)))
        exchanged = [dict(w, color0=w["color1"], color1=w["color0"]) for w in (want, swapped)]
        if r == want:
            out.append("right")
        elif r == swapped:
            out.append("objects exchanged")
        elif r in exchanged:
            out.append("colours exchanged")
        elif r["count"] > 2:
            out.append("more than two objects")
        elif r["count"] < 2:
            out.append("fewer than two objects")
        elif want["color0"] != want["color1"] and r["color0"] == r["color1"] in (want["color0"], want["color1"]):
            out.append("one colour on both objects")
        elif {r["color0"], r["color1"]} != {want["color0"], want["color1"]}:
            out.append("a colour not in the caption")
        elif {r["shape0"], r["shape1"]} != {want["shape0"], want["shape1"]}:
            out.append("a shape not in the caption")
        else:
            out.append("other")
    return out


def swapped_caption(scene) -> str:
    """A two-object scene's caption with its two objects exchanged ("a red circle left of a blue square" ->
    "a blue square left of a red circle"): the same words, in an order that describes the mirrored picture."""
    from t2ilib.data.shapes_captions import render_caption

    a = scene.attributes()
    if a["n_objects"] != 2:
        raise ValueError(f"scene: expected a two-object scene, got {a['n_objects']} object(s)")
    b = dict(a)
    for k in ("shape", "color", "size"):
        b[f"{k}_a"], b[f"{k}_b"] = a[f"{k}_b"], a[f"{k}_a"]
    return render_caption(b, scene.template, scene.variant)


@torch.no_grad()
def order_sensitivity(model, *, n: int = 128, timesteps=(900, 700, 500), seed: int = 5, split: str = "test",
                      precision: str | None = None) -> dict:
    """Does the model use word *order*, or only which words occur? Teacher-forced, no sampling: noise ``n`` real
    two-object renders to step t and compare the model's own training loss given the true caption and given the
    swapped caption (same words, objects exchanged). Per t: both mean losses and ``true_better``, the fraction of
    images where the true caption gives the lower loss. A bag-of-words model sits at ~0.5; a model that binds
    words to places approaches 1."""
    from t2ilib.precision import autocast
    from t2ilib.diffusion import q_sample
    from t2ilib.diffusion.parameterization import prediction_target

    world = ShapesWorld(n, 32, seed, split, n_objects=2)
    batch = world.batch(0, n)
    device = model.vocab_checksum.device
    x0 = batch.images.to(device)
    true, swapped = batch.captions, [swapped_caption(world.scene(i)) for i in range(n)]
    schedule, g, out = model.schedule.to(device), torch.Generator().manual_seed(seed), {}
    model.eval()
    for t in timesteps:
        eps = torch.randn(x0.shape, generator=g).to(device)
        tt = torch.full((n,), t, device=device)
        x_t, target = q_sample(schedule, x0, tt, eps), prediction_target(schedule, x0, tt, eps, model.prediction)
        with autocast(device, precision):
            losses = [(model(x_t, tt, c).float() - target).pow(2).mean((1, 2, 3)) for c in (true, swapped)]
        out[t] = {"loss_true": round(float(losses[0].mean()), 5), "loss_swapped": round(float(losses[1].mean()), 5),
                  "true_better": round(float((losses[0] < losses[1]).float().mean()), 3)}
    return out


def _generate(model, captions, guidance, steps, seed, threshold, sampling=None):
    from t2ilib.dalle import MiniDalle
    from t2ilib.imagen import Cascade
    from t2ilib.unclip import Unclip

    model.eval()
    if isinstance(model, Cascade):  # guidance, steps, threshold: both stages unless sampling names the upsampler's
        opts = dict(sampling or {})
        pair = lambda key, value: (value, opts.pop(f"upsampler_{key}", value))  # noqa: E731
        return model.generate(captions, guidance=pair("guidance", guidance), steps=pair("steps", steps), seed=seed,
                              threshold=pair("threshold", threshold), **opts).cpu()
    if isinstance(model, MiniDalle):
        from t2ilib.dalle import generate

        return generate(model, captions, guidance=guidance, seed=seed, **(sampling or {})).cpu()
    if isinstance(model, Unclip):
        return model.generate(captions, decoder_guidance=guidance, steps=steps, seed=seed, **(sampling or {})).cpu()
    from t2ilib.text.denoiser import generate

    if sampling:
        raise ValueError(f"sampling: options for mini DALL-E, not for a diffusion model (got {sorted(sampling)})")
    return generate(model, captions, guidance=guidance, steps=steps, seed=seed, threshold=threshold).cpu()


def _table_row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def main(argv=None) -> None:
    from t2ilib.device import get_device
    from t2ilib.precision import add_precision_argument, apply_precision_argument, describe_precision
    from t2ilib.checkpoint import load_pretrained

    p = argparse.ArgumentParser(prog="python -m t2ilib.eval.fidelity", description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["shapes_minilm", "shapes_scratch", "digit_text"])
    p.add_argument("--guidance", nargs="+", type=float, default=[1.0, 3.0])
    p.add_argument("--n", type=int, default=1000, help="samples per caption group (digits: in total)")
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--threshold", default="static")
    p.add_argument("--groups", nargs="+", choices=list(GROUPS), default=None, metavar="GROUP",
                   help=f"shapes caption groups to measure (default: all of {list(GROUPS)})")
    p.add_argument("--containing", nargs="+", default=(), metavar="PHRASE",
                   help="shapes: of the first --n captions per group, keep those that contain every PHRASE "
                        "(e.g. --containing 'orange diamond' yellow)")
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    add_precision_argument(p)
    p.add_argument("--order-n", type=int, default=512,
                   help="two-object renders for the word-order test of shapes models (0: skip it)")
    args = p.parse_args(argv)
    if args.n < 1 or args.steps < 1 or args.order_n < 0:
        p.error(f"--n and --steps must be positive integers and --order-n >= 0, got {args.n}, {args.steps} and "
                f"{args.order_n}")
    apply_precision_argument(args)
    device = get_device(args.device)
    shapes = [m for m in args.models if not m.startswith("digit")]
    digits = [m for m in args.models if m.startswith("digit")]
    print(f"prompt fidelity, DDIM {args.steps} steps, {args.threshold} thresholding, device {device}, precision "
          f"{describe_precision(None, device)}\n", flush=True)
    if shapes:
        groups = args.groups or list(GROUPS)
        either = [f"{g}, either order" for g in groups if GROUPS[g][1] == 2]
        if args.containing:
            print(f"captions containing {' and '.join(map(repr, args.containing))}, of the first {args.n} per group\n")
        print(_table_row(["model", "guidance", *groups, "mean", *either, "samples per group", "seconds"]))
        print(_table_row(["---"] * (len(groups) + len(either) + 5)), flush=True)
        breakdown, extra = [], []
        for name in shapes:
            model = load_pretrained(name, device)
            for s in args.guidance:
                r = shapes_fidelity(model, n_per_group=args.n, guidance=s, steps=args.steps, threshold=args.threshold,
                                    groups=groups, containing=tuple(args.containing))
                print(_table_row([name, s, *(_pct(r[g]) for g in groups), _pct(r["fidelity"]),
                                  *(_pct(r[g]) for g in either), " / ".join(str(r[f"{g}, n"]) for g in groups),
                                  r["seconds"]]), flush=True)
                breakdown += [(name, s, g, r[f"{g}, errors"]) for g in groups if GROUPS[g][1] == 2]
                extra.append((name, s, [r[f"{g}, extra objects"] for g in groups]))
        print("\nimages with more objects than the caption names (counted; every one is scored wrong)\n")
        print(_table_row(["model", "guidance", *groups]))
        print(_table_row(["---"] * (len(groups) + 2)))
        for name, s, e in extra:
            print(_table_row([name, s, *(_pct(x) for x in e)]))
        if breakdown:
            print("\ntwo-object images by what the judge saw (t2ilib.eval.fidelity.two_object_errors)\n")
            print(_table_row(["model", "guidance", "group", *TWO_OBJECT_OUTCOMES]))
            print(_table_row(["---"] * (len(TWO_OBJECT_OUTCOMES) + 3)))
            for name, s, g, e in breakdown:
                print(_table_row([name, s, g, *(_pct(e[k]) for k in TWO_OBJECT_OUTCOMES)]))
        print(flush=True)
    if shapes and args.order_n:
        steps = (900, 800, 700, 500, 300)
        print(f"word order (teacher-forced, {args.order_n} two-object renders): fraction of images whose true caption "
              f"gives a lower loss than the swapped one; 50 % = a bag of words\n")
        print(_table_row(["model", *(f"t = {t}" for t in steps)]))
        print(_table_row(["---"] * (len(steps) + 1)), flush=True)
        for name in shapes:
            r = order_sensitivity(load_pretrained(name, device), n=args.order_n, timesteps=steps)
            print(_table_row([name, *(_pct(r[t]["true_better"]) for t in steps)]), flush=True)
        print(flush=True)
    if digits:
        print(_table_row(["model", "guidance", "fidelity", "judge confidence", "samples", "seconds"]))
        print(_table_row(["---"] * 6), flush=True)
        for name in digits:
            model = load_pretrained(name, device)
            for s in args.guidance:
                r = digit_fidelity(model, n=args.n, guidance=s, steps=args.steps, threshold=args.threshold)
                print(_table_row([name, s, _pct(r["fidelity"]), f"{r['confidence']:.3f}", args.n, r["seconds"]]),
                      flush=True)


if __name__ == "__main__":
    main()
