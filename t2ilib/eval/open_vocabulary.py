"""Open-vocabulary retrieval: does a picture drawn for a never-seen name look like that name's real emoji?

For each held-out name, the model's image is compared with all real emoji (one per distinct name: 1910) in a feature
space; the rank of the name's own emoji among them is recorded (1 = the most similar). Reported: the fraction of
names whose emoji ranks first (top-1) and in the top 10 % (top-10 %), and the same for a *shuffled* baseline -- each
image scored against another held-out name's emoji -- which gives what chance and a generic "emoji-looking" picture
get.

    python -m t2ilib.eval.open_vocabulary            # emoji_minilm vs emoji_scratch, held-out and seen names, 3 seeds
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F


def target_ranks(generated: torch.Tensor, real: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(N,) ranks (1 = best) of ``real[targets[i]]`` among all ``real`` by cosine similarity to ``generated[i]``;
    ``generated`` (N, D) and ``real`` (M, D) are feature vectors."""
    if generated.ndim != 2 or real.ndim != 2 or generated.shape[1] != real.shape[1]:
        raise ValueError(f"generated, real: expected (N, D) and (M, D) features, got {tuple(generated.shape)} and "
                         f"{tuple(real.shape)}")
    if targets.shape != (len(generated),) or bool((targets < 0).any()) or bool((targets >= len(real)).any()):
        raise ValueError(f"targets: expected {len(generated)} indices into the {len(real)} real images")
    sim = F.normalize(generated.float(), dim=1) @ F.normalize(real.float(), dim=1).T
    own = sim.gather(1, targets[:, None])
    return (sim > own).sum(1) + 1


def hit_rates(ranks: torch.Tensor, pool: int, top_fraction: float = 0.1) -> dict[str, float]:
    """The fraction of ranks equal to 1 and within the top ``top_fraction`` of a pool of ``pool`` images."""
    k = max(1, round(top_fraction * pool))
    return {"top-1": round(float((ranks == 1).float().mean()), 4),
            f"top-{round(100 * top_fraction)} %": round(float((ranks <= k).float().mean()), 4),
            "median rank": int(ranks.float().median())}


def shuffled_targets(targets: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """The targets rotated by a random non-zero offset: every image is scored against another name's emoji."""
    if len(targets) < 2:
        raise ValueError("targets: the shuffled baseline needs at least two names")
    shift = int(torch.randint(1, len(targets), (1,), generator=torch.Generator().manual_seed(seed)))
    return targets.roll(shift)


def emoji_pool(resolution: int = 32) -> tuple[torch.Tensor, list[str]]:
    """The real emoji, one per distinct caption (the first image that carries it): uint8 images and captions."""
    from t2ilib.data import load_emoji

    data = load_emoji(resolution)
    first: dict[str, int] = {}
    for i, c in enumerate(data.captions):
        first.setdefault(c, i)
    return data.images[list(first.values())], list(first)


def emoji_names(which: str, n: int | None = None, seed: int = 0) -> list[str]:
    """Captions of the ``"held-out"`` names (all of them, sorted, or the first ``n``) or of ``n`` training names
    drawn by ``seed`` (``"seen"``)."""
    from t2ilib.data import load_emoji
    from t2ilib.imagen.open_vocabulary import emoji_split

    captions = load_emoji(16).captions
    train, held = emoji_split()
    if which == "held-out":
        names = sorted({captions[i] for i in held})
        return names[:n] if n else names
    if which == "seen":
        names = sorted({captions[i] for i in train})
        order = torch.randperm(len(names), generator=torch.Generator().manual_seed(seed)).tolist()
        return [names[i] for i in order[:n or len(held)]]
    raise ValueError(f"which: expected 'held-out' or 'seen', got {which!r}")


@torch.no_grad()
def open_vocabulary(model, features, *, which: str = "held-out", n: int | None = None, guidance: float = 3.0,
                    steps: int = 25, seed: int = 0) -> dict:
    """Draw one image per name (held-out or seen) with a text-to-image ``model`` and rank the name's real emoji
    among all real emoji by cosine similarity in the ``features`` autoencoder's code (centred on the real emoji's
    mean code). Returns :func:`hit_rates` for the true names and for :func:`shuffled_targets`."""
    from t2ilib.text.denoiser import generate

    real, pool = emoji_pool()
    captions = emoji_names(which, n, seed)
    images = generate(model, captions, guidance=guidance, steps=steps, seed=seed)
    real_f = features.features(real.float().div(127.5).sub(1))
    gen_f = features.features(images.float().clamp(-1, 1))
    centre = real_f.mean(0)
    targets = torch.tensor([pool.index(c) for c in captions])
    out = hit_rates(target_ranks(gen_f - centre, real_f - centre, targets), len(pool))
    shuffled = hit_rates(target_ranks(gen_f - centre, real_f - centre, shuffled_targets(targets, seed)), len(pool))
    out.update({f"shuffled {k}": v for k, v in shuffled.items()})
    out.update(names=which, n=len(captions), pool=len(pool), guidance=guidance, steps=steps)
    return out


def _spread(values: list[float], pct: bool = True) -> str:
    t = torch.tensor(values, dtype=torch.float64)
    scale, unit = (100, " %") if pct else (1, "")
    mean = f"{scale * float(t.mean()):.1f}"
    return mean + unit if len(t) == 1 else f"{mean} ± {scale * float(t.std()):.1f}{unit}"


def main(argv=None) -> None:
    from t2ilib.checkpoint import load_pretrained
    from t2ilib.device import get_device
    from t2ilib.precision import add_precision_argument, apply_precision_argument, describe_precision

    p = argparse.ArgumentParser(prog="python -m t2ilib.eval.open_vocabulary", description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["emoji_minilm", "emoji_scratch"], help="shipped emoji models")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="one sampling run (one image per name) each")
    p.add_argument("--n", type=int, default=None, help="names per set (default: all 191 held-out, as many seen)")
    p.add_argument("--guidance", type=float, default=3.0)
    p.add_argument("--steps", type=int, default=25, help="DDIM steps")
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    add_precision_argument(p)
    args = p.parse_args(argv)
    if args.steps < 1 or (args.n is not None and args.n < 2):
        p.error("--steps must be >= 1 and --n >= 2")
    apply_precision_argument(args)
    device = torch.device(args.device) if args.device else get_device()
    features = load_pretrained("emoji_features", device)
    print(f"guidance {args.guidance}, {args.steps} DDIM steps, one image per name per seed, seeds {args.seeds} (mean "
          f"± std over seeds); device {device}, precision {describe_precision(None, device)}")
    cols = ["model", "names", "n", "top-1", "top-10 %", "median rank", "shuffled top-1", "shuffled top-10 %",
            "shuffled median rank"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for name in args.models:
        model = load_pretrained(name, device).eval()
        for which in ("held-out", "seen"):
            runs = [open_vocabulary(model, features, which=which, n=args.n, guidance=args.guidance, steps=args.steps,
                                    seed=s) for s in args.seeds]
            row = [name, which, str(runs[0]["n"])]
            for key in cols[3:]:
                row.append(_spread([r[key] for r in runs], pct="rank" not in key))
            print("| " + " | ".join(row) + " |", flush=True)
    print(f"pool: {runs[0]['pool']} real emoji (one per name); top-10 % = rank <= {round(0.1 * runs[0]['pool'])}; "
          "chance: top-1 0.05 %, top-10 % 10 %, median rank 955")


if __name__ == "__main__":
    main()
