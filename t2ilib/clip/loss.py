"""CLIP's training objective: a symmetric InfoNCE loss over the batch's image-caption pairs, with a learned
temperature.

Radford et al. 2021, "Learning Transferable Visual Models From Natural Language Supervision", Sec. 2.3 and Fig. 3
(InfoNCE: van den Oord et al. 2018). For N images and their N captions, with L2-normalised embeddings u_i (image)
and v_j (text) and a learned scale s = exp(t) (the inverse temperature):

    logits  L_ij = s * <u_i, v_j>                                     (cosine similarity times s)
    loss    = 1/2 [ CE_rows(L, targets = i) + CE_columns(L, targets = j) ]
            = -1/(2N) sum_i [ log softmax_j(L_ij)|_{j=i} + log softmax_i(L_ij)|_{i=j} ]

Each image must pick its own caption out of the N, and each caption its own image. t is initialised at
log(1 / 0.07) (s = 14.3) and s is clamped at 100 "to prevent scaling the logits by more than 100, which we found
necessary to prevent training instability" (Sec. 2.5). At initialisation the embeddings are nearly unrelated, every
softmax is close to uniform, and the loss is close to ln N.

Two generalisations the course uses, both reducing to the loss above in the plain case:

* ``positives``: a batch can hold two captions that say the same thing ("a handwritten digit seven" twice). The
  plain loss calls the second one a wrong answer. With a boolean matrix P_ij = "caption j describes image i", the
  target of row i is uniform over its positives (as UniCL does with labels, Yang et al. 2022): cross-entropy against soft
  targets. P = identity is CLIP.
* extra captions beyond the N paired ones: *hard negatives* (the caption with the two objects swapped, as in
  NegCLIP, Yuksekgonul et al. 2023; or with one shape replaced). They are columns of L that images must rank below
  their own caption; a caption with no image in the batch has no column-wise term.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

INIT_TEMPERATURE = 0.07  # s = 1 / 0.07 at initialisation
MAX_LOGIT_SCALE = 100.0  # s is clamped here


def logit_scale_value(log_scale: torch.Tensor, max_scale: float = MAX_LOGIT_SCALE) -> torch.Tensor:
    """s = exp(t), clamped at ``max_scale`` (no gradient pushes t further up once the clamp is active)."""
    return log_scale.clamp(max=math.log(max_scale)).exp()


def clip_loss(image_embeds: torch.Tensor, text_embeds: torch.Tensor, logit_scale: torch.Tensor,
              positives: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE of N images against M >= N captions (caption i is image i's for i < N).

    ``image_embeds`` (N, D) and ``text_embeds`` (M, D) must be L2-normalised; ``logit_scale`` is s itself (already
    exponentiated and clamped: :func:`logit_scale_value`). ``positives`` (N, M) bool: which captions describe which
    image (default: caption i for image i). Every image needs at least one positive.
    """
    n, m = len(image_embeds), len(text_embeds)
    if image_embeds.ndim != 2 or text_embeds.ndim != 2 or image_embeds.shape[1] != text_embeds.shape[1]:
        raise ValueError(f"embeddings: expected (N, D) images and (M, D) captions, got {tuple(image_embeds.shape)} "
                         f"and {tuple(text_embeds.shape)}")
    if m < n:
        raise ValueError(f"text_embeds: expected at least one caption per image ({n}), got {m}")
    if positives is None:
        positives = torch.eye(n, m, dtype=torch.bool, device=image_embeds.device)
    if positives.shape != (n, m):
        raise ValueError(f"positives: expected shape {(n, m)}, got {tuple(positives.shape)}")
    if not positives.any(1).all():
        raise ValueError("positives: every image needs at least one caption that describes it")
    logits = logit_scale * image_embeds.float() @ text_embeds.float().T  # (N, M)
    p = positives.float()
    image_to_text = F.cross_entropy(logits, p / p.sum(1, keepdim=True))
    described = positives.any(0)  # captions with an image in the batch
    pt = p[:, described].T
    text_to_image = F.cross_entropy(logits[:, described].T, pt / pt.sum(1, keepdim=True))
    return (image_to_text + text_to_image) / 2


def batch_loss(model, batch) -> tuple[torch.Tensor, dict]:
    """The training loss of a :class:`t2ilib.clip.model.CLIP` on a :class:`t2ilib.clip.data.CaptionedBatch`
    (images, their captions, hard negatives, and which caption means what), with the logged numbers: the scale s
    and the in-batch accuracy of picking an image's own caption (or one that means the same)."""
    images = model.encode_images(batch.images)
    texts = model.encode_text(batch.captions + batch.negatives)
    positives = batch.positives().to(images.device)
    scale = model.logit_scale
    loss = clip_loss(images, texts, scale, positives)
    with torch.no_grad():
        picked = (images @ texts.T).argmax(1)
        accuracy = positives[torch.arange(len(images)), picked].float().mean()
    return loss, {"logit_scale": scale.detach(), "batch_accuracy": accuracy}
