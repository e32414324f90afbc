"""Exercises of chapter 9 (mini Imagen): noise conditioning augmentation and the open-vocabulary rank -- checked
against the library (:func:`t2ilib.imagen.noise_augment` with the continuous cosine schedule,
:func:`t2ilib.eval.open_vocabulary.target_ranks`)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from t2ilib.diffusion.schedules import cosine_alpha_bar
from t2ilib.grading.core import call, exercise, expect, seeded

# noise_augment and target_ranks are imported when an exercise is graded: t2ilib.imagen and t2ilib.eval import
# transformers (4 s), and the grading worker, which starts once per submission, imports every exercise module.


@exercise("9.1", "my_noise_augment", "noise conditioning augmentation at a level a in [0, 1]")
def _noise_augment(fn):
    from t2ilib.imagen import noise_augment

    g = seeded(101)
    x, eps = torch.rand(2, 3, 4, 4, generator=g) * 2 - 1, torch.randn(2, 3, 4, 4, generator=g)
    cases = []
    for a in (0.2, 0.6):
        abar = float(cosine_alpha_bar(a))
        f = lambda u: math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
        expect(call(fn, x, a, eps), noise_augment(x, a, eps), f"z_a at a = {a}", {
            "abar is the continuous cosine schedule at a, f(a) / f(0) with f(u) = cos^2((u + s) / (1 + s) * pi / 2), "
            "s = 0.008; abar = 1 - a is a linear schedule":
                (1 - a) ** 0.5 * x + a ** 0.5 * eps,
            "abar(a) = f(a) / f(0): divide by f(0) so that a = 0 leaves the image untouched":
                f(a) ** 0.5 * x + (1 - f(a)) ** 0.5 * eps,
            "the image is scaled by sqrt(abar) and the noise by sqrt(1 - abar) (you swapped them)":
                (1 - abar) ** 0.5 * x + abar ** 0.5 * eps,
            "the coefficients are square roots, so that the variance stays 1: sqrt(abar) and sqrt(1 - abar)":
                abar * x + (1 - abar) * eps,
            "a is the noise level (0 = clean, 1 = pure noise), not a timestep: abar(a) with a in [0, 1], not a * 1000":
                noise_augment(x, min(1.0, a * 1000), eps),
        })
        cases.append(f"a = {a}")
    expect(call(fn, x, 0.0, eps), x, "z_a at a = 0 (must be the clean image)", {})
    cases.append("a = 0")
    return cases


@exercise("9.2", "my_target_rank", "the rank of a name's real emoji among all emoji, by cosine similarity")
def _target_rank(fn):
    from t2ilib.eval.open_vocabulary import target_ranks

    g = seeded(102)
    real = torch.randn(30, 8, generator=g) * torch.linspace(0.2, 5.0, 30)[:, None]  # feature vectors of many lengths
    real[7] = real[3]  # a tie: an identical twin of the target must not push it down
    targets = torch.tensor([3, 12, 20])
    spread = torch.tensor([0.3, 0.8, 1.2])[:, None]
    generated = F.normalize(real[targets], dim=1) + spread * torch.randn(3, 8, generator=g)
    want = target_ranks(generated, real, targets)
    dot = generated @ real.T
    sim = F.normalize(generated, dim=1) @ F.normalize(real, dim=1).T
    own = sim.gather(1, targets[:, None])
    expect(call(fn, generated, real, targets), want, "the ranks of three targets among 30 real feature vectors", {
        "compare by cosine similarity (normalise both sides), not by the raw dot product: a long real vector would "
        "win against every generated image": (dot > dot.gather(1, targets[:, None])).sum(1) + 1,
        "ranks start at 1 (the most similar), not 0": (sim > own).sum(1),
        "count only the real images strictly more similar than the target: an identical twin ties, and a tie must "
        "not push the target down": (sim >= own).sum(1),
        "rank 1 is the *most* similar (you counted the less similar ones)": (sim < own).sum(1) + 1,
    })
    return ["3 targets (ranks 1, 21 and 7), one with an identical twin"]
