"""What a frozen pretrained text encoder buys, measured on the emoji names (chapter 9).

Imagen conditions on a frozen T5-XXL that was trained on text alone, and reports that scaling this text encoder
improved its samples more than scaling the diffusion model. One thing a frozen language model can bring that no
image-text training set of this size can: words the image model never saw with a picture. The emoji set has 1910
distinct names ("an emoji of a strawberry"); :func:`emoji_split` holds out 10 % of them, with their images, so a
model trained on the rest meets each held-out name for the first time at sampling. A model whose text encoder is
frozen MiniLM gets a meaningful embedding of "strawberry" anyway (near "cherries", "red apple"); the same model with
a text encoder trained from scratch on the training names has never trained the word's embedding.
"""

from __future__ import annotations

import torch

from t2ilib.data import load_emoji
from t2ilib.diffusion import drop_condition

HELD_OUT_FRACTION = 0.1
SPLIT_SEED = 0


def emoji_split(fraction: float = HELD_OUT_FRACTION, seed: int = SPLIT_SEED) -> tuple[list[int], list[int]]:
    """(training image indices, held-out image indices): ``fraction`` of the distinct names, drawn by ``seed``, are
    held out with every image that carries them."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction: expected a fraction in (0, 1), got {fraction!r}")
    captions = load_emoji(16).captions
    names = sorted(set(captions))
    order = torch.randperm(len(names), generator=torch.Generator().manual_seed(seed)).tolist()
    held = {names[i] for i in order[:round(fraction * len(names))]}
    train = [i for i, c in enumerate(captions) if c not in held]
    return train, [i for i, c in enumerate(captions) if c in held]


def captioned_emoji(device, batch: int = 64, resolution: int = 32, seed: int = 0, p_uncond: float = 0.1,
                    null: str = ""):
    """Step -> (images in [-1, 1], captions) from the *training* names only, each epoch in a fresh order, with
    condition dropout (a caption becomes ``null`` with probability ``p_uncond``). A pure function of the step."""
    data = load_emoji(resolution)
    train, _ = emoji_split()
    images = data.images[train].float().div(127.5).sub(1)
    captions = [data.captions[i] for i in train]

    def at(step: int):
        per_epoch = len(images) // batch
        epoch, k = divmod(step, per_epoch)
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        idx = order[k * batch:(k + 1) * batch]
        g = torch.Generator().manual_seed(seed * 7_000_003 + step + 31)
        return images[idx].to(device), drop_condition([captions[i] for i in idx.tolist()], p_uncond, null, g)
    return at
