"""What each part of mini DALL-E 2 buys, measured on the shapes world.

* :func:`variation_fidelity` -- the decoder alone: held-out renders -> CLIP image embedding -> decoder; how often
  the shapes probe reads the decoding as the render's own caption (what survives the embedding: unCLIP's ceiling).
* :func:`prior_similarity` -- the prior alone: cosine similarity of its sampled image embeddings to the true image
  embeddings of held-out renders of the same captions, beside two baselines that need no prior (the caption's
  text embedding itself; the training image embedding nearest to it).
"""

from __future__ import annotations

import torch

from t2ilib.data.shapes import ShapesWorld
from t2ilib.eval.fidelity import CAPTION_SEED, GROUPS

SPLITS = {"seen": "test", "held-out": "held_out"}


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
