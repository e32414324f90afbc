"""Drawing images from mini DALL-E: ``transformers``' ``generate`` over the image part of the stream, classifier-free
guidance for autoregressive decoding, and reranking by CLIP.

* **Decoding.** The caption's T tokens are the prompt; ``generate`` samples the G*G image tokens one at a time,
  each from softmax(logits / temperature) restricted to the top-k ids and / or the smallest set of ids with
  probability >= top-p (Holtzman et al. 2020), reusing the keys and values of earlier positions (the key-value
  cache: each step runs the transformer on one new token instead of the whole prefix). Only image ids can be drawn
  (:class:`ImageTokensOnly`).
* **Classifier-free guidance** (Ho & Salimans 2022, used for autoregressive image models by Make-A-Scene, Gafni et
  al. 2022): the model is also trained on empty captions (condition dropout), and at each step the next-token
  log-probabilities of the captioned and of the empty prompt are combined,

      log p_guided = log p(. | empty) + s * (log p(. | caption) - log p(. | empty)),

  s = 1 is plain sampling; s > 1 sharpens towards what the caption adds. ``transformers`` implements exactly this
  (``guidance_scale`` with ``negative_prompt_ids``: :func:`guided_log_probs` is the formula, checked against it).
* **Reranking** (DALL-E, Sec. 2.6: 512 samples per caption, the best 32 by a contrastive model, CLIP): draw
  ``candidates`` images per caption and keep the one the course's CLIP scores highest.
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor, LogitsProcessorList


# How the shipped ``dalle`` draws by default (the command line, the benchmark): chosen after training on captions the
# reported numbers do not use (guidance 1, 1.5, 2, 3, with and without top-p 0.9; :mod:`t2ilib.recipes.dalle`)
DALLE_SAMPLING = dict(guidance=1.5, top_p=0.9)


class ImageTokensOnly(LogitsProcessor):
    """Sets the scores of every text id (ids below ``offset``) to -inf: the image part holds only image codes."""

    def __init__(self, offset: int):
        self.offset = offset

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.clone()
        scores[:, :self.offset] = float("-inf")
        return scores


def guided_log_probs(cond_logits: torch.Tensor, uncond_logits: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance for next-token distributions: log p_u + s (log p_c - log p_u), over the last dim."""
    cond, uncond = cond_logits.float().log_softmax(-1), uncond_logits.float().log_softmax(-1)
    return uncond + scale * (cond - uncond)


def _check_sampling(guidance, temperature, top_k, top_p) -> None:
    if not (isinstance(guidance, (int, float)) and guidance >= 0):
        raise ValueError(f"guidance: expected a number >= 0 (1 = no guidance), got {guidance!r}")
    if not (isinstance(temperature, (int, float)) and temperature > 0):
        raise ValueError(f"temperature: expected a number > 0, got {temperature!r}")
    if top_k is not None and not (isinstance(top_k, int) and top_k >= 1):
        raise ValueError(f"top_k: expected None or an int >= 1, got {top_k!r}")
    if top_p is not None and not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise ValueError(f"top_p: expected None or a number in (0, 1], got {top_p!r}")


@torch.no_grad()
def sample_codes(model, captions: list[str], guidance: float = 1.0, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, seed: int = 0, use_cache: bool = True) -> torch.Tensor:
    """(N, G, G) image codes, one grid per caption, drawn by ``generate`` (seeded; the global RNG is left as it was)."""
    _check_sampling(guidance, temperature, top_k, top_p)
    model.eval()
    ids = model.text_ids(list(captions))
    guided = guidance != 1
    options = dict(do_sample=True, max_new_tokens=model.image_len, min_new_tokens=model.image_len,
                   temperature=float(temperature), top_k=top_k or 0, top_p=float(top_p or 1.0), use_cache=use_cache,
                   logits_processor=LogitsProcessorList([ImageTokensOnly(model.offset)]))
    if guided:
        null = model.text_ids([""] * len(ids))
        options.update(guidance_scale=float(guidance), negative_prompt_ids=null,
                       negative_prompt_attention_mask=torch.ones_like(null))
    devices = [ids.device] if ids.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        out = model.gpt.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **options)
    return model.codes_from_ids(out[:, model.text_len:])


@torch.no_grad()
def generate(model, captions: list[str], guidance: float = 1.0, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, seed: int = 0, candidates: int = 1, clip=None,
             use_cache: bool = True) -> torch.Tensor:
    """Images (N, 3, 32, 32) in [-1, 1] for N captions. ``candidates`` > 1 with a ``clip``: draw that many per
    caption and keep, for each caption, the one CLIP finds most similar to it (DALL-E's reranking)."""
    if not (isinstance(candidates, int) and candidates >= 1):
        raise ValueError(f"candidates: expected an int >= 1, got {candidates!r}")
    if candidates > 1 and clip is None:
        raise ValueError("candidates > 1 needs a clip model to rerank them (e.g. load_pretrained('clip'))")
    captions = list(captions)
    repeated = [c for c in captions for _ in range(candidates)]
    images = model.decode_codes(sample_codes(model, repeated, guidance, temperature, top_k, top_p, seed, use_cache))
    if candidates == 1:
        return images
    from t2ilib.clip.zero_shot import rerank

    device = clip.logit_scale.device
    groups = images.to(device).split(candidates)
    return torch.cat([rerank(clip, group, caption)[0] for group, caption in zip(groups, captions)]).cpu()
