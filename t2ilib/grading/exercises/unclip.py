"""Exercises of chapter 8 (mini DALL-E 2, unCLIP): spherical interpolation, the DDIM step of an x_0-predicting prior,
and a text diff -- checked against the library (:func:`t2ilib.unclip.slerp`, :func:`t2ilib.diffusion.ddim_step`
with ``prediction="sample"``, :func:`t2ilib.unclip.text_diff`'s formula)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from t2ilib.diffusion.samplers import ddim_step
from t2ilib.diffusion.schedules import NoiseSchedule
from t2ilib.grading.core import call, exercise, expect, seeded

# slerp is imported when an exercise is graded: t2ilib.unclip imports transformers (4 s), and the grading worker,
# which starts once per submission, imports every exercise module (2 s with torch alone).


def _units(g, n, d):
    return F.normalize(torch.randn(n, d, generator=g), dim=-1)


@exercise("8.1", "my_slerp", "spherical interpolation between unit vectors")
def _slerp(fn):
    from t2ilib.unclip.pipeline import slerp

    g = seeded(91)
    a, b = _units(g, 4, 6), _units(g, 4, 6)
    cases = []
    for w in (0.3, 0.8):
        lerp = (1 - w) * a + w * b
        expect(call(fn, a, b, w), slerp(a, b, w), f"slerp at w = {w}", {
            "that is the straight line (1 - w) a + w b: it cuts through the sphere, its points are shorter than 1. "
            "Walk along the arc: sin((1 - w) W) / sin W * a + sin(w W) / sin W * b, W = the angle between a and b":
                lerp,
            "normalising the straight line (1 - w) a + w b lands on the sphere, but not at an even pace along the "
            "arc (it matches slerp only at w = 0, 1/2 and 1): use the angle W between a and b": F.normalize(lerp, dim=-1),
            "w = 0 must give a and w = 1 give b (you swapped the endpoints)": slerp(b, a, w),
        })
        cases.append(f"w = {w}")
    return cases


@exercise("8.2", "my_ddim_step_from_x0", "one deterministic DDIM step of a prior that predicts x_0")
def _ddim_x0(fn):
    g = seeded(92)
    schedule = NoiseSchedule.cosine(1000)
    x0, z_t = torch.randn(3, 8, generator=g), torch.randn(3, 8, generator=g) * 1.3
    cases = []
    for t, s in ((700, 500), (300, 100)):
        a_t, a_s = float(schedule.alpha_bar(t)), float(schedule.alpha_bar(s))
        want, _ = ddim_step(schedule, x0, z_t, t, s, eta=0.0, prediction="sample")
        eps = (z_t - a_t ** 0.5 * x0) / (1 - a_t) ** 0.5
        expect(call(fn, z_t, x0, a_t, a_s), want.float(), f"z_s from z_t at t = {t}, s = {s}", {
            "the step keeps the noise the prediction implies: z_s = sqrt(abar_s) x0_hat + sqrt(1 - abar_s) eps_hat, "
            "with eps_hat = (z_t - sqrt(abar_t) x0_hat) / sqrt(1 - abar_t) (you dropped the eps_hat term)":
                a_s ** 0.5 * x0,
            "eps_hat divides by sqrt(1 - abar_t), the noise's standard deviation (you divided by its variance)":
                a_s ** 0.5 * x0 + (1 - a_s) ** 0.5 * (z_t - a_t ** 0.5 * x0) / (1 - a_t),
            "abar_t belongs to z_t (the noisier point) and abar_s to the result (you swapped them)":
                a_t ** 0.5 * x0 + (1 - a_t) ** 0.5 * (z_t - a_s ** 0.5 * x0) / (1 - a_s) ** 0.5,
            "the coefficients are square roots: sqrt(abar_s) and sqrt(1 - abar_s)": a_s * x0 + (1 - a_s) * eps,
        })
        cases.append(f"t = {t} -> {s}")
    return cases


@exercise("8.3", "my_text_diff", "a text diff: turn an image embedding towards the difference of two captions")
def _text_diff(fn):
    from t2ilib.unclip.pipeline import slerp

    g = seeded(93)
    z_i, z_old, z_new = _units(g, 1, 6)[0], _units(g, 1, 6)[0], _units(g, 1, 6)[0]
    cases = []
    for theta in (0.25, 0.5):
        z_d = F.normalize(z_new - z_old, dim=-1)
        expect(call(fn, z_i, z_old, z_new, theta), slerp(z_i, z_d, theta), f"the edited embedding at theta = {theta}", {
            "the direction is new minus old (towards the new caption): z_d = normalise(z_new - z_old)":
                slerp(z_i, -z_d, theta),
            "rotate along the sphere (slerp of z_i and z_d), not along a straight line":
                (1 - theta) * z_i + theta * z_d,
            "the edit rotates towards the text *diff* z_d, not towards the new caption's embedding itself":
                slerp(z_i, z_new, theta),
        })
        cases.append(f"theta = {theta}")
    return cases
