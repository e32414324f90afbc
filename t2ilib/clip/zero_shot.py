"""Using a trained CLIP without training anything else: zero-shot classification, retrieval, CLIPScore, reranking.

* **Zero-shot classification** (Radford et al. 2021, Sec. 3.1.2): write one caption per class, embed them, and give
  an image the class whose caption embedding is most similar to its embedding. *Prompt ensembling* (Sec. 3.1.4)
  embeds several captions per class and averages their unit vectors (then re-normalises): the class embedding no
  longer depends on one wording.
* **Retrieval**: rank all captions for an image (or all images for a caption) by cosine similarity; recall@k is
  the fraction of queries whose match is among the top k.
* **CLIPScore** (Hessel et al. 2021, Eq. 1): CLIPScore(image, caption) = w * max(cos(E_I, E_C), 0), w = 2.5, a
  reference-free score of how well an image fits its caption.
* **Reranking** (Ramesh et al. 2021, Sec. 2.6): draw N images for a caption and keep those CLIP scores highest.
"""

from __future__ import annotations

from typing import Hashable, Sequence

import torch
import torch.nn.functional as F

CLIPSCORE_WEIGHT = 2.5  # Hessel et al. 2021: rescales cosines of ViT-B/32 to roughly [0, 1]


@torch.no_grad()
def embed_in_batches(encode, items, batch: int = 500) -> torch.Tensor:
    return torch.cat([encode(items[i:i + batch]) for i in range(0, len(items), batch)])


@torch.no_grad()
def class_embeddings(model, prompts: Sequence[Sequence[str]]) -> torch.Tensor:
    """(K, D) unit vectors: for each class, the re-normalised mean of its prompts' embeddings."""
    if not prompts or any(not p for p in prompts):
        raise ValueError("prompts: expected at least one caption for every class")
    flat = [c for p in prompts for c in p]
    emb = embed_in_batches(model.encode_text, flat)
    sizes = [len(p) for p in prompts]
    return F.normalize(torch.stack([e.mean(0) for e in emb.split(sizes)]), dim=-1)


@torch.no_grad()
def zero_shot_predict(model, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """The class (row of ``classes``, from :func:`class_embeddings`) each image is most similar to."""
    return (embed_in_batches(model.encode_images, images) @ classes.T).argmax(1)


def recall_at_k(similarity: torch.Tensor, relevant: torch.Tensor, ks: Sequence[int] = (1, 5)) -> dict[int, float]:
    """Fraction of queries (rows) with a relevant item (``relevant[q, i]`` True) among their top k by similarity."""
    if similarity.shape != relevant.shape:
        raise ValueError(f"relevant: expected shape {tuple(similarity.shape)}, got {tuple(relevant.shape)}")
    order = similarity.argsort(1, descending=True)
    hits = relevant.gather(1, order)
    return {k: hits[:, :k].any(1).float().mean().item() for k in ks}


def same_meaning(a: Sequence[Hashable], b: Sequence[Hashable]) -> torch.Tensor:
    """(len(a), len(b)) bool: a_i == b_j."""
    ids: dict[Hashable, int] = {}
    ca = torch.tensor([ids.setdefault(x, len(ids)) for x in a])
    cb = torch.tensor([ids.setdefault(x, len(ids)) for x in b])
    return ca[:, None] == cb[None, :]


@torch.no_grad()
def clip_score(model, images: torch.Tensor, captions: Sequence[str], w: float = CLIPSCORE_WEIGHT) -> torch.Tensor:
    """CLIPScore of each (image i, caption i) pair: w * max(cos, 0) (Hessel et al. 2021, Eq. 1)."""
    if len(images) != len(captions):
        raise ValueError(f"captions: expected one per image ({len(images)}), got {len(captions)}")
    img = embed_in_batches(model.encode_images, images)
    txt = embed_in_batches(model.encode_text, list(captions))
    return w * (img * txt).sum(1).clamp_min(0)


@torch.no_grad()
def rerank(model, images: torch.Tensor, caption: str, keep: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``keep`` images (of N candidates for one caption) CLIP finds most similar to it, best first, with their
    cosine similarities."""
    sims = embed_in_batches(model.encode_images, images) @ model.encode_text([caption])[0]
    order = sims.argsort(descending=True)[:keep]
    return images[order], sims[order]
