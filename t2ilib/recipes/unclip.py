"""Recipes for the unCLIP chapter (8): ``unclip_decoder`` and ``unclip_prior``, both on the course's frozen ``clip``.

* ``unclip_decoder`` -- a text-free UNet (the shapes models' size, v-prediction, cosine schedule, T = 1000) that
  paints 32 px shapes-world images from their CLIP image embeddings (added to the time embedding and as 4 context
  tokens), 10 % of the embeddings zeroed for classifier-free guidance. Graded by how often the shapes probe reads
  the decoding of a held-out render's embedding as that render's caption (*variations*: what the embedding keeps).
* ``unclip_prior`` -- the diffusion prior (a 4-layer GPT-2 over [CLIP token states, CLIP text embedding, timestep,
  noised image embedding, query]) that maps captions to CLIP image embeddings, 10 % of the captions dropped.
  Graded by the cosine similarity of its samples to the true image embeddings of held-out renders, beside two
  baselines: the caption's text embedding itself, and the training image embedding nearest to it.

Both see only the ``"train"`` stream of the shapes world: six (colour, shape) pairs never appear.
"""

from __future__ import annotations

import torch

from t2ilib.checkpoint import frozen_pretrained
from t2ilib.diffusion import noised_batches
from t2ilib.precision import autocast
from t2ilib.recipes import Recipe, register
from t2ilib.recipes.diffusion import denoising_loss
from t2ilib.unclip import DiffusionPrior, UnclipDecoder
from t2ilib.unclip.decoder import P_UNCOND

DECODER_MODEL = dict(embed_dim=96, context_tokens=4, context_dim=128, resolution=32, in_channels=3,
                     channels=(32, 64, 128), num_res_blocks=1, attention_levels=(2,), query_position=True,
                     schedule="cosine", num_steps=1000, prediction="v_prediction")
DECODER_CONFIG = dict(steps=6000, lr=1e-3, warmup_steps=200, lr_schedule="cosine", grad_clip=1.0, ema_decay=0.999,
                      log_every=50, checkpoint_every=250)
PRIOR_MODEL = dict(clip="clip", embed_dim=96, text_width=96, max_tokens=20, width=128, layers=4, heads=4,
                   schedule="cosine", num_steps=1000, prediction="sample")
PRIOR_CONFIG = dict(steps=3000, lr=5e-4, warmup_steps=200, lr_schedule="cosine", grad_clip=1.0, ema_decay=0.999,
                    log_every=50, checkpoint_every=250)
BATCH = dict(decoder=64, prior=256)
EVAL = dict(n=500, guidance=3.0, steps=25, prior_steps=25, seed=0)
QUICK = dict(decoder=dict(n=64, steps=10), prior=dict(n=64, bank=1000))  # the test suite's re-measurements


def _clip():
    return frozen_pretrained("clip")


def _device_of(module) -> torch.device:
    return next(module.parameters()).device


def _shapes(batch: int, seed: int = 0):
    from t2ilib.data.shapes import ShapesWorld

    return ShapesWorld(10**8, 32, seed, "train").batches(batch)


def decoder_batches(model, device):
    """Step -> (x_0, t, eps, image embeddings with 10 % zeroed): training scenes and their CLIP image embeddings."""
    clip, scenes = _clip(), _shapes(BATCH["decoder"])

    def at(step: int):
        images = scenes(step).images
        with torch.no_grad(), autocast(_device_of(clip)):  # the frozen CLIP in the precision policy's dtype
            z = clip.encode_images(images)  # float32 unit vectors
        z = UnclipDecoder.drop_embeddings(z, P_UNCOND, torch.Generator().manual_seed(step + 17))
        return images.to(device), z.to(device)
    return noised_batches(at, model.num_steps)


def prior_batches(model, device, batch_size: int | None = None):
    """Step -> (CLIP image embeddings, the captions' CLIP conditioning, a generator seeded by the step);
    ``batch_size`` scenes per step (default: the recipe's)."""
    clip, scenes = _clip(), _shapes(batch_size or BATCH["prior"], seed=1)

    def at(step: int):
        b = scenes(step)
        with torch.no_grad(), autocast(_device_of(clip)):  # the frozen CLIP in the precision policy's dtype
            z = clip.encode_images(b.images).to(device)  # float32, as are the caption's states
            cond = {k: v.to(device) for k, v in model.encode(b.captions, clip).items()}
        return z, cond, torch.Generator().manual_seed(step + 29)
    return at


def prior_loss(model, device):
    return lambda m, batch: m.loss(*batch)


def evaluate_decoder(model, device, n: int = EVAL["n"], steps: int = EVAL["steps"]) -> dict:
    from t2ilib.eval.unclip_benchmark import variation_fidelity

    return variation_fidelity(model, _clip(), n_per_group=n // 4, guidance=EVAL["guidance"], steps=steps,
                              seed=EVAL["seed"])


def evaluate_prior(model, device, n: int = EVAL["n"], bank: int = 10_000) -> dict:
    from t2ilib.eval.unclip_benchmark import prior_similarity

    return prior_similarity(model, _clip(), n=n, steps=EVAL["prior_steps"], seed=EVAL["seed"], bank=bank)


register(Recipe(name="unclip_decoder", description="unCLIP decoder: CLIP image embedding -> 32 px shapes image (v-pred UNet)",
                build=lambda: UnclipDecoder(**DECODER_MODEL), config=DECODER_CONFIG, loss=denoising_loss,
                batches=decoder_batches, evaluate=evaluate_decoder, metric="fidelity", tolerance=0.05,
                quick=QUICK["decoder"], requires=("clip", "shapes_probe")))
register(Recipe(name="unclip_prior", description="unCLIP diffusion prior: caption -> CLIP image embedding (GPT-2, x_0)",
                build=lambda: DiffusionPrior(**PRIOR_MODEL), config=PRIOR_CONFIG, loss=prior_loss,
                batches=prior_batches, evaluate=evaluate_prior, metric="cosine to the true embedding",
                tolerance=0.02, quick=QUICK["prior"], requires=("clip",)))
