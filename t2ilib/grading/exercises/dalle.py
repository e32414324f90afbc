"""Exercises of chapter 7b (mini DALL-E): the weighted stream loss, nucleus (top-p) filtering, and classifier-free
guidance for next-token distributions -- checked against the library and, for top-p, against ``transformers``' own
``TopPLogitsWarper``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from t2ilib.grading.core import Mistake, call, exercise, expect, seeded

# The references are imported when an exercise is graded: t2ilib.dalle and transformers take 4 s to import, and
# the grading worker, which starts once per submission, imports every exercise module (2 s with torch alone).


@exercise("7b.1", "my_dalle_loss", "DALL-E's loss: next-token cross-entropy, 1/8 on text and 7/8 on image tokens")
def _dalle_loss(fn):
    from t2ilib.dalle.model import stream_loss

    g = seeded(81)
    n, t, v = 3, 5, 11
    ids = torch.randint(v, (n, t + 9), generator=g)
    logits = torch.randn(n, t + 9, v, generator=g) * 2
    flat = lambda a, b: F.cross_entropy(a.reshape(-1, v), b.reshape(-1))  # noqa: E731
    ce = F.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
    expect(call(fn, logits, ids, t), stream_loss(logits, ids, t), "loss of a stream with T = 5 text tokens", {
        "position i predicts token i + 1: compare logits[:, :-1] with ids[:, 1:] (you compared each position with "
        "its own token)": 1 / 8 * flat(logits[:, :t], ids[:, :t]) + 7 / 8 * flat(logits[:, t:], ids[:, t:]),
        "the weights are 1/8 for text and 7/8 for the image (you swapped them)": 7 / 8 * ce[:, :t - 1].mean()
        + 1 / 8 * ce[:, t - 1:].mean(),
        "average each kind over its own positions, then weight: one mean over all positions lets the 9 image "
        "predictions outvote the 4 text ones by count, not by the 1/8 : 7/8 weights": ce.mean(),
        "the first image token is predicted from the LAST TEXT position (T - 1): the text part is the predictions "
        "at positions 0 .. T-2": 1 / 8 * ce[:, :t].mean() + 7 / 8 * ce[:, t:].mean(),
    })
    return ["T = 5 text + 9 image tokens, 3 streams"]


@exercise("7b.2", "my_top_p_filter", "nucleus (top-p) filtering of next-token logits")
def _top_p(fn):
    from transformers import TopPLogitsWarper

    g = seeded(83)
    logits = torch.randn(5, 12, generator=g) * 2
    cases = []
    for p in (0.5, 0.9):
        want = TopPLogitsWarper(top_p=p, min_tokens_to_keep=1)(None, logits.clone())
        kept = want.isfinite()
        probs = logits.softmax(-1)
        order = probs.argsort(-1, descending=True)
        cum = probs.gather(-1, order).cumsum(-1)
        strict = torch.zeros_like(kept).scatter(-1, order, cum < p)  # stops before the token that crosses p
        strict[torch.arange(5), order[:, 0]] = True
        got = call(fn, logits.clone(), p)
        if not isinstance(got, torch.Tensor) or got.shape != logits.shape:
            expect(got, want, f"filtered logits at p = {p}")
        got_kept = got.isfinite()
        if got_kept.all():
            raise Mistake(f"p = {p}: every logit you returned is finite; set the removed tokens' logits to -inf, so "
                          f"that the softmax gives them probability 0")
        if torch.equal(got_kept, strict) and not torch.equal(strict, kept):
            raise Mistake(f"p = {p}: keep the smallest set of likeliest tokens whose probabilities sum to AT LEAST p, "
                          f"including the token that crosses p (you stopped just before it)")
        if not torch.equal(got_kept, kept):
            r = int((got_kept != kept).any(-1).nonzero()[0])
            raise Mistake(f"p = {p}: row {r}: you kept {int(got_kept[r].sum())} tokens, the nucleus has "
                          f"{int(kept[r].sum())} (sort the probabilities in decreasing order and keep tokens until "
                          f"their running sum reaches p)")
        expect(torch.where(kept, got, 0.0), torch.where(kept, want, 0.0),
               f"kept logits at p = {p} (they stay unchanged)")
        cases.append(f"p = {p}")
    return cases


@exercise("7b.3", "my_guided_log_probs", "classifier-free guidance of a next-token distribution")
def _guided(fn):
    from t2ilib.dalle.sampling import guided_log_probs

    g = seeded(82)
    cond, uncond = torch.randn(4, 9, generator=g) * 2, torch.randn(4, 9, generator=g) * 2
    cases = []
    for s in (1.0, 3.0, 0.0):
        want = guided_log_probs(cond, uncond, s).log_softmax(-1)  # compared as distributions
        got = call(fn, cond, uncond, s)
        lp_c, lp_u = cond.log_softmax(-1), uncond.log_softmax(-1)
        expect(got.log_softmax(-1) if isinstance(got, torch.Tensor) else got, want,
               f"guided distribution at s = {s} (compared after normalising)", {
                   "the guided direction is (conditional - unconditional), added to the UNconditional: you moved "
                   "away from the caption": (lp_u + s * (lp_u - lp_c)).log_softmax(-1),
                   "mix log-probabilities, not probabilities": (lp_u.exp() + s * (lp_c.exp() - lp_u.exp())
                                                                ).clamp_min(1e-12).log().log_softmax(-1),
                   "the unconditional term is missing: s * log p(. | caption) is only a sharper conditional":
                       (s * lp_c).log_softmax(-1),
               })
        cases.append(f"s = {s:g}")
    return cases
