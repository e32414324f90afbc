"""Command line of the course: ``python -m t2ilib COMMAND``.

    python -m t2ilib data                     # the datasets on this machine, with sizes
    python -m t2ilib render "a red circle left of a blue square" --out scene.png
    python -m t2ilib generate "a red circle left of a blue square" --out img.png   # text -> image
    python -m t2ilib generate --model dalle --candidates 8 "a red circle left of a blue square"
    python -m t2ilib generate --model unclip "a red circle left of a blue square"   # mini DALL-E 2
    python -m t2ilib generate --model imagen --save-stages "a red circle left of a blue square"  # mini Imagen
    python -m t2ilib train digit_classifier   # retrain one shipped checkpoint from its recipe
    python -m t2ilib train --all              # retrain every shipped checkpoint (make checkpoints)
    python -m t2ilib verify                   # re-measure every shipped checkpoint's recorded metric
    python -m t2ilib verify --quick           # the same, with the quick checks of sampling-based metrics
    python -m t2ilib migrate digit_ddpm       # bring an older manifest up to date (weights unchanged)

``generate``, ``train`` and ``verify`` take ``--precision auto|fp32|bf16`` (default: ``$T2I_PRECISION``, else auto:
bf16 autocast only where the hardware runs bf16 natively; see :mod:`t2ilib.precision`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from t2ilib.precision import add_precision_argument, apply_precision_argument


def _cmd_data(args) -> int:
    from t2ilib.data import DATASETS, load_dataset
    from t2ilib.data.paths import data_dir

    print(f"data folder: {data_dir()}")
    for name in DATASETS:
        for split in (("train",) if name == "emoji" else ("train", "test")):
            ds = load_dataset(name, split)
            print(f"  {name:14s} {split:5s} {len(ds):6d} images {tuple(ds.images.shape[1:])}  e.g. {ds.captions[0]!r}")
    print("  shapes world   any split/resolution, generated on the fly (t2ilib.data.ShapesWorld)")
    return 0


def _cmd_render(args) -> int:
    from t2ilib.data.shapes import render_scenes, scene_for_caption
    from t2ilib.viz import save_grid

    try:
        scenes = [scene_for_caption(args.caption, seed=args.seed + i) for i in range(args.n)]
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    path = save_grid(render_scenes(scenes, args.resolution), args.out, nrow=min(args.n, 8))
    print(f"wrote {path}: {args.n} rendering(s) of {scenes[0].caption!r} at {args.resolution} px")
    return 0


def _cmd_generate(args) -> int:
    import time

    import torch

    from t2ilib.checkpoint import load_pretrained
    from t2ilib.dalle import DALLE_SAMPLING, MiniDalle
    from t2ilib.dalle import generate as generate_tokens
    from t2ilib.data.paths import checkpoint_dir
    from t2ilib.imagen import Cascade
    from t2ilib.precision import resolve_precision
    from t2ilib.text.denoiser import generate
    from t2ilib.text.prompts import TEXT_MODELS, check_model_prompt, model_for_prompt
    from t2ilib.unclip import Unclip
    from t2ilib.viz import save_grid

    name = model_for_prompt(args.prompt) if args.model == "auto" else args.model
    if name not in TEXT_MODELS:
        print(f"error: --model: expected auto or one of {list(TEXT_MODELS)}, got {name!r}", file=sys.stderr)
        return 2
    if args.save_stages and name != "imagen":
        print(f"error: --save-stages: only for --model imagen (a cascade), got --model {name}", file=sys.stderr)
        return 2
    parts = {"unclip": ("unclip_prior", "unclip_decoder"), "imagen": ("imagen_base", "imagen_sr")}.get(name, (name,))
    for part in parts:
        path = checkpoint_dir() / f"{part}.safetensors"
        if not path.exists():
            print(f"error: the checkpoint {path} is missing; train it with `python -m t2ilib train {part}`",
                  file=sys.stderr)
            return 2
    pretrained = {"unclip": Unclip.pretrained, "imagen": Cascade.pretrained}.get(name)
    model = pretrained(args.device or "cpu") if pretrained else load_pretrained(name, args.device or "cpu")
    try:
        prompt = check_model_prompt(model, name, args.prompt)
    except ValueError as e:
        print(f"error ({name}): {e}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        with torch.inference_mode():
            if isinstance(model, MiniDalle):
                guidance = DALLE_SAMPLING["guidance"] if args.guidance is None else args.guidance
                top_p = DALLE_SAMPLING["top_p"] if args.top_p is None else args.top_p
                images = generate_tokens(model, [prompt] * args.n, guidance=guidance, seed=args.seed,
                                         temperature=args.temperature, top_k=args.top_k, top_p=top_p,
                                         candidates=args.candidates,
                                         clip=load_pretrained("clip", args.device or "cpu") if args.candidates > 1
                                         else None)
                how = (f"{model.image_len} image tokens, temperature {args.temperature}, top-k {args.top_k}, "
                       f"top-p {top_p}, best of {args.candidates} by CLIP")
                device = model.gpt.device
            elif isinstance(model, Unclip):
                guidance = 3.0 if args.guidance is None else args.guidance
                images = model.generate([prompt] * args.n, decoder_guidance=guidance, steps=args.steps,
                                        seed=args.seed)
                how = f"prior: 25 DDIM steps, best of 2 embeddings; decoder: {args.steps} DDIM steps"
                device = model.decoder.device
            elif isinstance(model, Cascade):
                from t2ilib.imagen.cascade import LEVEL

                guidance = 3.0 if args.guidance is None else args.guidance
                out = model.generate([prompt] * args.n, guidance=(guidance, guidance), steps=(args.steps, args.steps),
                                     level=LEVEL, threshold=(args.threshold, args.threshold), seed=args.seed,
                                     stages=True)
                images = out["final"]
                if args.save_stages:
                    base = args.out.with_name(f"{args.out.stem}_base{args.out.suffix or '.png'}")
                    print(f"wrote {save_grid(out['base'], base, nrow=min(args.n, 8))}: the base model's "
                          f"{out['base'].shape[-1]} px images")
                how = (f"{args.steps} DDIM steps per stage, base {out['base'].shape[-1]} px -> upsampler "
                       f"{images.shape[-1]} px at noise level {LEVEL}")
                device = model.base.vocab_checksum.device
            else:
                guidance = 3.0 if args.guidance is None else args.guidance
                images = generate(model, [prompt] * args.n, guidance=guidance, steps=args.steps,
                                  seed=args.seed, threshold=args.threshold)
                how, device = f"{args.steps} DDIM steps", model.vocab_checksum.device
    except ValueError as e:
        print(f"error ({name}): {e}", file=sys.stderr)
        return 2
    path = save_grid(images, args.out, nrow=min(args.n, 8))
    print(f"wrote {path}: {args.n} image(s) of {prompt!r} from {name} (guidance {guidance}, {how}, seed "
          f"{args.seed}, {resolve_precision(None, device)}) in {time.perf_counter() - t0:.1f} s")
    return 0


def _cmd_train(args) -> int:
    from t2ilib.recipes import RECIPES, load_all, run_recipe
    from t2ilib.recipes.registry import training_order

    load_all()
    names = training_order(RECIPES) if args.all else args.recipes
    if not names:
        print(f"error: name a recipe ({', '.join(sorted(RECIPES))}) or pass --all", file=sys.stderr)
        return 2
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        print(f"error: unknown recipe(s) {unknown}; known: {sorted(RECIPES)}", file=sys.stderr)
        return 2
    for name in names:
        path = run_recipe(name, out_dir=args.out_dir, device=args.device, max_minutes=args.max_minutes)
        print(f"wrote {path}")
    return 0


def _cmd_verify(args) -> int:
    from t2ilib.precision import describe_precision
    from t2ilib.recipes import RECIPES, checkpoint_path, load_all, verify

    load_all()
    names = args.recipes or sorted(n for n in RECIPES if checkpoint_path(n).exists())
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        print(f"error: unknown recipe(s) {unknown}; known: {sorted(RECIPES)}", file=sys.stderr)
        return 2
    print(f"re-measuring on cpu, precision {describe_precision(None, 'cpu')}", flush=True)
    failed = 0
    for name in names:
        recorded, measured, ok = verify(name, quick=args.quick)
        failed += not ok
        print(f"{name:24s} recorded {recorded:.4f}  measured {measured:.4f}  {'ok' if ok else 'FAILED'}", flush=True)
    return 1 if failed else 0


def _cmd_migrate(args) -> int:
    from t2ilib.recipes import RECIPES, load_all, migrate_manifest

    load_all()
    unknown = [n for n in args.recipes if n not in RECIPES]
    if unknown or not args.recipes:
        print(f"error: name recipe checkpoints to migrate, from {sorted(RECIPES)}; got {args.recipes}", file=sys.stderr)
        return 2
    for name in args.recipes:
        print(f"{migrate_manifest(name, out_dir=args.out_dir)}: manifest up to date")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m t2ilib", description="The t2i course command line.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("data", help="list the datasets on this machine")
    s.set_defaults(fn=_cmd_data)
    s = sub.add_parser("render", help="render the shapes-world scene a caption describes (ground truth)")
    s.add_argument("caption")
    s.add_argument("--out", type=Path, default=Path("scene.png"))
    s.add_argument("--resolution", type=int, default=64)
    s.add_argument("--n", type=int, default=1, help="number of renderings (different placements)")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(fn=_cmd_render)
    s = sub.add_parser("generate", help="generate images from a caption with the course's text-to-image models")
    s.add_argument("prompt")
    s.add_argument("--out", type=Path, default=Path("generated.png"))
    s.add_argument("--model", default="auto", help="shapes_minilm, shapes_scratch, dalle, unclip, imagen, digit_text, "
                   "or auto "
                   "(digits if the prompt names one, else shapes_scratch, the better shapes model)")
    s.add_argument("--n", type=int, default=4, help="number of images")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--guidance", type=float, default=None,
                   help="classifier-free guidance scale (1 = none; default 3, dalle 1.5; unclip: the decoder's)")
    s.add_argument("--steps", type=int, default=25,
                   help="diffusion models: DDIM steps (unclip: the decoder's; imagen: per stage)")
    s.add_argument("--save-stages", action="store_true",
                   help="imagen: also save the base model's low-resolution images (OUT with _base before the suffix)")
    s.add_argument("--threshold", default="static", choices=["static", "dynamic", "none"],
                   help="diffusion models: clipping of the predicted image")
    s.add_argument("--temperature", type=float, default=1.0, help="dalle: softmax temperature of each image token")
    s.add_argument("--top-k", type=int, default=None, help="dalle: sample each token from the k likeliest")
    s.add_argument("--top-p", type=float, default=None,
                   help="dalle: nucleus sampling, keep probability mass p (default 0.9; 1 = none)")
    s.add_argument("--candidates", type=int, default=1,
                   help="dalle: draw this many per image and keep the one the course's CLIP rates best")
    s.add_argument("--device", default=None)
    add_precision_argument(s)
    s.set_defaults(fn=_cmd_generate)
    s = sub.add_parser("train", help="train shipped checkpoints from their recipes")
    s.add_argument("recipes", nargs="*")
    s.add_argument("--all", action="store_true")
    s.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    s.add_argument("--max-minutes", type=float, default=None)
    s.add_argument("--out-dir", type=Path, default=None)
    add_precision_argument(s)
    s.set_defaults(fn=_cmd_train)
    s = sub.add_parser("verify", help="re-measure shipped checkpoints against their manifests")
    s.add_argument("recipes", nargs="*")
    s.add_argument("--quick", action="store_true", help="the recorded quick check (fewer samples, fp32) for "
                   "sampling-based metrics, as the test suite runs it")
    add_precision_argument(s)
    s.set_defaults(fn=_cmd_verify)
    s = sub.add_parser("migrate", help="bring a recipe checkpoint's manifest to the current format (weights unchanged)")
    s.add_argument("recipes", nargs="*")
    s.add_argument("--out-dir", type=Path, default=None, help="where the checkpoint is (default: data/checkpoints)")
    s.set_defaults(fn=_cmd_migrate)
    args = p.parse_args(argv)
    if getattr(args, "resolution", 64) < 8 or getattr(args, "n", 1) < 1:
        p.error("--resolution must be >= 8 and --n >= 1")
    if args.command == "generate" and not (1 <= args.steps <= 1000 and args.n <= 64
                                           and (args.guidance is None or args.guidance >= 0)):
        p.error("generate: --steps must be in 1..1000, --n in 1..64 and --guidance >= 0")
    apply_precision_argument(args)  # every library call below follows it
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
