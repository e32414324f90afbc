"""The exercise checks: a right answer passes, a typical wrong one is caught and explained, bad cells are contained.

Right and wrong answers are written here as a learner would write them (cell source), independently of the
checks' own reference formulas.
"""

from __future__ import annotations

import json
import math
import re
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from t2ilib.grading import REGISTRY, grade
from t2ilib.grading.worker import run_one, static_problems

RIGHT = {
    "1a.1": """
def my_discriminator_loss(real_logits, fake_logits):
    return -(F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean())
""",
    "1a.2": """
def my_generator_loss_nonsaturating(fake_logits):
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
""",
    "1a.3": "def my_optimal_discriminator(p_data, p_g):\n    return p_data / (p_data + p_g)\n",
    "2.1": "def my_reparameterize(mu, logvar, eps):\n    return mu + (0.5 * logvar).exp() * eps\n",
    "2.2": "def my_gaussian_kl(mu, logvar):\n    return -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(-1)\n",
    "2.3": "def my_iwae_bound(log_w):\n    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])\n",
    "3.1": "def my_nearest_code(z, codebook):\n    return ((z[:, None, :] - codebook[None]) ** 2).sum(-1).argmin(1)\n",
    "3.2": "def my_straight_through(z_e, z_q):\n    return z_e + (z_q - z_e).detach()\n",
    "3.3": """
def my_vq_losses(z_e, z_q, beta):
    return ((z_e.detach() - z_q) ** 2).mean(), beta * ((z_e - z_q.detach()) ** 2).mean()
""",
    "3.4": """
def my_gumbel_softmax_sample(logits, u, tau):
    g = -torch.log(-torch.log(u))
    return torch.softmax((logits + g) / tau, dim=-1)
""",
    "4.1": """
def my_alpha_bar_from_betas(betas):
    out, running = [], 1.0
    for b in betas:
        running = running * (1 - b)
        out.append(running)
    return torch.stack(out)
""",
    "4.2": """
def my_q_sample(x0, noise, abar_t):
    a = abar_t[:, None, None, None]
    return torch.sqrt(a) * x0 + torch.sqrt(1 - a) * noise
""",
    "4.3": """
def my_posterior_mean_variance(betas, x0, x_t, t):
    abar = torch.cumprod(1 - betas, 0)
    abar_prev = torch.cat([torch.ones(1), abar[:-1]])
    a_t, a_p, b = abar[t], abar_prev[t], betas[t]
    c0 = (a_p.sqrt() * b / (1 - a_t)).view(-1, 1, 1, 1)
    ct = ((1 - b).sqrt() * (1 - a_p) / (1 - a_t)).view(-1, 1, 1, 1)
    return c0 * x0 + ct * x_t, (1 - a_p) / (1 - a_t) * b
""",
    "5.1": """
def my_x0_from_eps(x_t, eps, abar_t):
    a = abar_t.view(-1, 1, 1, 1)
    return (x_t - (1 - a).sqrt() * eps) / a.sqrt()
""",
    "5.2": """
def my_ddpm_step(eps_hat, x_t, t, betas, z):
    abar = torch.cumprod(1 - betas, 0)
    b, a, ab = betas[t].view(-1, 1, 1, 1), (1 - betas[t]).view(-1, 1, 1, 1), abar[t].view(-1, 1, 1, 1)
    mean = (x_t - b / (1 - ab).sqrt() * eps_hat) / a.sqrt()
    return mean + (t > 0).float().view(-1, 1, 1, 1) * b.sqrt() * z
""",
    "5.3": """
def my_ddim_step(eps_hat, x_t, abar_t, abar_s):
    a_t, a_s = abar_t.view(-1, 1, 1, 1), abar_s.view(-1, 1, 1, 1)
    x0 = (x_t - (1 - a_t).sqrt() * eps_hat) / a_t.sqrt()
    return a_s.sqrt() * x0 + (1 - a_s).sqrt() * eps_hat
""",
    "5.4": "def my_x0_from_v(x_t, v, abar_t):\n    a = abar_t.view(-1, 1, 1, 1)\n    return a.sqrt() * x_t - (1 - a).sqrt() * v\n",
    "6b.1": "def my_classifier_free_guidance(cond, uncond, s):\n    return (1 - s) * uncond + s * cond\n",
    "6b.2": "def my_drop_labels(labels, u, p, null):\n    out = labels.clone()\n    out[u < p] = null\n    return out\n",
    "6b.3": """
def my_implied_classifier_gradient(eps_cond, eps_uncond, abar_t):
    return (eps_uncond - eps_cond) / (1 - abar_t).sqrt().view(-1, 1, 1, 1)
""",
    "6c.1": """
def my_masked_cross_attention(q, k, v, mask):
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
    return torch.softmax(scores, dim=-1) @ v
""",
    "6c.3": "def my_x0_error_weights(abar_t):\n    return abar_t / (1 - abar_t), 1 / (1 - abar_t)\n",
    "6c.2": "def my_v_target(x0, eps, abar_t):\n    a = abar_t.view(-1, 1, 1, 1)\n    return a.sqrt() * eps - (1 - a).sqrt() * x0\n",
    "6d.1": """
def my_dynamic_threshold(x0, p):
    s = torch.quantile(x0.abs().reshape(len(x0), -1), p, dim=1).clamp(min=1).view(-1, 1, 1, 1)
    return x0.clamp(-s, s) / s
""",
    "7a.1": """
def my_patchify(images, p):
    n, c, h, w = images.shape
    x = F.unfold(images, kernel_size=p, stride=p)  # (N, C P P, L), channel-major, raster order
    return x.transpose(1, 2)
""",
    "7a.2": """
def my_clip_loss(image_features, text_features, log_scale):
    u, v = F.normalize(image_features, dim=-1), F.normalize(text_features, dim=-1)
    logits = log_scale.clamp(max=math.log(100)).exp() * u @ v.T
    labels = torch.arange(len(u))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
""",
    "7b.1": """
def my_dalle_loss(logits, ids, text_len):
    ce = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none")
    ce = ce.view(len(ids), -1)
    return ce[:, :text_len - 1].mean() / 8 + 7 * ce[:, text_len - 1:].mean() / 8
""",
    "7b.3": """
def my_guided_log_probs(cond_logits, uncond_logits, scale):
    return (1 - scale) * uncond_logits + scale * cond_logits  # logits: the same distribution after normalising
""",
    "7b.2": """
def my_top_p_filter(logits, p):
    probs, order = logits.softmax(-1).sort(-1, descending=True)
    before = probs.cumsum(-1) - probs  # mass of the likelier tokens
    drop = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order, before >= p)
    return logits.masked_fill(drop, float("-inf"))
""",
    "8.1": """
def my_slerp(a, b, w):
    omega = torch.arccos((a * b).sum(-1, keepdim=True).clamp(-1, 1))
    return (torch.sin((1 - w) * omega) * a + torch.sin(w * omega) * b) / torch.sin(omega)
""",
    "8.2": """
def my_ddim_step_from_x0(z_t, x0_hat, abar_t, abar_s):
    eps = (z_t - abar_t ** 0.5 * x0_hat) / (1 - abar_t) ** 0.5
    return abar_s ** 0.5 * x0_hat + (1 - abar_s) ** 0.5 * eps
""",
    "8.3": """
def my_text_diff(z_i, z_old, z_new, theta):
    z_d = F.normalize(z_new - z_old, dim=-1)
    omega = torch.arccos((z_i * z_d).sum(-1, keepdim=True).clamp(-1, 1))
    return (torch.sin((1 - theta) * omega) * z_i + torch.sin(theta * omega) * z_d) / torch.sin(omega)
""",
    "9.1": """
def my_noise_augment(low_res, level, noise):
    s = 0.008
    f = lambda u: math.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    abar = f(level) / f(0.0)
    return abar ** 0.5 * low_res + (1 - abar) ** 0.5 * noise
""",
    "9.2": """
def my_target_rank(generated, real, targets):
    sim = F.normalize(generated, dim=1) @ F.normalize(real, dim=1).T
    own = sim[torch.arange(len(targets)), targets]
    return (sim > own[:, None]).sum(1) + 1
""",
    "4.q1": "answer_4_q1 = 0.25\n",
    "5.q1": "answer_5_q1 = 0.995\n",
    "6b.q1": "answer_6b_q1 = 50\n",
    "6d.q1": "answer_6d_q1 = 'b'\n",
}

# (cell source, a phrase the explanation must contain): the mistakes learners typically make
WRONG = {
    "1a.1": [("def my_discriminator_loss(r, f):\n    return -(F.logsigmoid(f).mean() + F.logsigmoid(-r).mean())\n",
              "labels are swapped"),
             ("def my_discriminator_loss(r, f):\n    return -(torch.log(torch.sigmoid(r)).mean() + "
              "torch.log(1 - torch.sigmoid(f)).mean())\n", "not finite")],
    "1a.2": [("def my_generator_loss_nonsaturating(f):\n    return torch.log(1 - torch.sigmoid(f)).mean()\n",
              "saturating")],
    "1a.3": [("def my_optimal_discriminator(p_data, p_g):\n    return p_g / (p_data + p_g)\n", "REAL")],
    "2.1": [("def my_reparameterize(mu, logvar, eps):\n    return mu + logvar.exp() * eps\n", "variance")],
    "2.2": [("def my_gaussian_kl(mu, logvar):\n    return 0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(-1)\n",
             "wrong sign"),
            ("def my_gaussian_kl(mu, logvar):\n    return -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).mean(-1)\n",
             "sum them")],
    "2.3": [("def my_iwae_bound(log_w):\n    return log_w.mean(0)\n", "this is the ELBO"),
            ("def my_iwae_bound(log_w):\n    return torch.logsumexp(log_w, 0)\n", "-log K")],
    "3.1": [("def my_nearest_code(z, e):\n    return (z @ e.T).argmax(1)\n", "dot product")],
    "3.2": [("def my_straight_through(z_e, z_q):\n    return z_q\n", "gradient")],
    "3.3": [("def my_vq_losses(z_e, z_q, beta):\n    return ((z_e - z_q) ** 2).mean(), beta * ((z_e - z_q) ** 2).mean()\n",
             "stop its gradient")],
    "3.4": [("def my_gumbel_softmax_sample(logits, u, tau):\n    return torch.softmax((logits - torch.log(u)) / tau, -1)\n",
             "-log(-log u)")],
    "4.1": [("def my_alpha_bar_from_betas(betas):\n    return 1 - torch.cumsum(betas, 0)\n", "PRODUCT")],
    "4.2": [("def my_q_sample(x0, noise, abar_t):\n    a = abar_t.view(-1, 1, 1, 1)\n    return a * x0 + (1 - a) * noise\n",
             "missing square roots")],
    "4.3": [("""
def my_posterior_mean_variance(betas, x0, x_t, t):
    abar = torch.cumprod(1 - betas, 0)
    a_t, a_p, b = abar[t], abar[t - 1], betas[t]
    c0 = (a_p.sqrt() * b / (1 - a_t)).view(-1, 1, 1, 1)
    ct = ((1 - b).sqrt() * (1 - a_p) / (1 - a_t)).view(-1, 1, 1, 1)
    return c0 * x0 + ct * x_t, (1 - a_p) / (1 - a_t) * b
""", "wraps around"), ("""
def my_posterior_mean_variance(betas, x0, x_t, t):
    abar = torch.cumprod(1 - betas, 0)
    a_t, b = abar[t], betas[t]
    c0 = (a_t.sqrt() * b / (1 - a_t)).view(-1, 1, 1, 1)
    ct = ((1 - b).sqrt() * (1 - a_t) / (1 - a_t)).view(-1, 1, 1, 1)
    return c0 * x0 + ct * x_t, (1 - a_t) / (1 - a_t) * b
""", "abar_t where abar_{t-1} belongs")],
    "5.1": [("def my_x0_from_eps(x_t, eps, abar_t):\n    a = abar_t.view(-1, 1, 1, 1)\n    return (x_t - (1 - a) * eps) / a\n",
             "missing square roots")],
    "5.2": [("""
def my_ddpm_step(eps_hat, x_t, t, betas, z):
    abar = torch.cumprod(1 - betas, 0)
    b, a, ab = betas[t].view(-1, 1, 1, 1), (1 - betas[t]).view(-1, 1, 1, 1), abar[t].view(-1, 1, 1, 1)
    return (x_t - b / (1 - ab).sqrt() * eps_hat) / a.sqrt() + b.sqrt() * z
""", "no noise is added at the last step"), ("""
def my_ddpm_step(eps_hat, x_t, t, betas, z):
    abar = torch.cumprod(1 - betas, 0)
    b, ab = betas[t].view(-1, 1, 1, 1), abar[t].view(-1, 1, 1, 1)
    keep = (t > 0).float().view(-1, 1, 1, 1)
    return (x_t - b / (1 - ab).sqrt() * eps_hat) / ab.sqrt() + keep * b.sqrt() * z
""", "not abar_t")],
    "5.3": [("""
def my_ddim_step(eps_hat, x_t, abar_t, abar_s):
    a_t = abar_t.view(-1, 1, 1, 1)
    x0 = (x_t - (1 - a_t).sqrt() * eps_hat) / a_t.sqrt()
    return a_t.sqrt() * x0 + (1 - a_t).sqrt() * eps_hat
""", "abar_t where abar_s belongs")],
    "5.4": [("def my_x0_from_v(x_t, v, abar_t):\n    a = abar_t.view(-1, 1, 1, 1)\n    return a.sqrt() * x_t + (1 - a).sqrt() * v\n",
             "MINUS")],
    "6b.1": [("def my_classifier_free_guidance(cond, uncond, s):\n    return cond + s * (cond - uncond)\n",
              "unconditional")],
    "6b.2": [("def my_drop_labels(labels, u, p, null):\n    return torch.where(u > p, torch.full_like(labels, null), labels)\n",
              "1 - p")],
    "6b.3": [("def my_implied_classifier_gradient(ec, eu, ab):\n    return (eu - ec) * (1 - ab).sqrt().view(-1, 1, 1, 1)\n",
              "divide")],
    "6c.1": [("""
def my_masked_cross_attention(q, k, v, mask):
    w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
    return (w * mask[:, None, None, :]) @ v
""", "AFTER the softmax"), ("""
def my_masked_cross_attention(q, k, v, mask):
    w = q @ k.transpose(-1, -2)
    return torch.softmax(w.masked_fill(~mask[:, None, None, :], -1e9), dim=-1) @ v
""", "1/sqrt(d)")],
    "6c.3": [("def my_x0_error_weights(ab):\n    return (1 - ab) / ab, 1 / (1 - ab)\n", "invert it")],
    "6c.2": [("def my_v_target(x0, eps, ab):\n    a = ab.view(-1, 1, 1, 1)\n    return (1 - a).sqrt() * eps - a.sqrt() * x0\n",
              "swapped")],
    "6d.1": [("""
def my_dynamic_threshold(x0, p):
    s = torch.quantile(x0.abs().flatten(), p).clamp(min=1)
    return x0.clamp(-s, s) / s
""", "per-SAMPLE"), ("""
def my_dynamic_threshold(x0, p):
    s = torch.quantile(x0.abs().reshape(len(x0), -1), p, dim=1).view(-1, 1, 1, 1)
    return torch.maximum(torch.minimum(x0, s), -s) / s
""", "max(1, percentile)")],
    "7a.1": [("""
def my_patchify(images, p):
    n, c, h, w = images.shape
    x = images.reshape(n, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(n, (h // p) * (w // p), -1)
""", "channel-major"), ("""
def my_patchify(images, p):
    n, c, h, w = images.shape
    x = images.reshape(n, c, h // p, p, w // p, p).permute(0, 4, 2, 1, 3, 5)
    return x.reshape(n, (h // p) * (w // p), -1)
""", "raster order")],
    "7a.2": [("""
def my_clip_loss(image_features, text_features, log_scale):
    u, v = F.normalize(image_features, dim=-1), F.normalize(text_features, dim=-1)
    logits = log_scale.clamp(max=math.log(100)).exp() * u @ v.T
    return F.cross_entropy(logits, torch.arange(len(u)))
""", "symmetric"), ("""
def my_clip_loss(image_features, text_features, log_scale):
    u, v = F.normalize(image_features, dim=-1), F.normalize(text_features, dim=-1)
    logits = log_scale.exp() * u @ v.T
    labels = torch.arange(len(u))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
""", "clamp"), ("""
def my_clip_loss(image_features, text_features, log_scale):
    logits = log_scale.clamp(max=math.log(100)).exp() * image_features @ text_features.T
    labels = torch.arange(len(logits))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
""", "normalise")],
    "7b.1": [("""
def my_dalle_loss(logits, ids, text_len):
    ce = F.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
    return ce.mean()
""", "own positions"), ("""
def my_dalle_loss(logits, ids, text_len):
    ce = F.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
    return ce[:, :text_len].mean() / 8 + 7 * ce[:, text_len:].mean() / 8
""", "LAST TEXT position")],
    "7b.3": [("""
def my_guided_log_probs(cond_logits, uncond_logits, scale):
    return scale * cond_logits.log_softmax(-1)
""", "unconditional term is missing"), ("""
def my_guided_log_probs(cond_logits, uncond_logits, scale):
    pc, pu = cond_logits.softmax(-1), uncond_logits.softmax(-1)
    return (pu + scale * (pc - pu)).clamp_min(1e-12).log()
""", "not probabilities")],
    "7b.2": [("""
def my_top_p_filter(logits, p):
    probs, order = logits.softmax(-1).sort(-1, descending=True)
    drop = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order, probs.cumsum(-1) >= p)
    drop[torch.arange(len(logits)), order[:, 0]] = False
    return logits.masked_fill(drop, float("-inf"))
""", "crosses p"), ("""
def my_top_p_filter(logits, p):
    probs, order = logits.softmax(-1).sort(-1, descending=True)
    drop = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order, probs.cumsum(-1) - probs >= p)
    return logits.masked_fill(drop, 0.0)
""", "-inf")],
    "8.1": [("""
def my_slerp(a, b, w):
    return F.normalize((1 - w) * a + w * b, dim=-1)
""", "even pace")],
    "8.2": [("""
def my_ddim_step_from_x0(z_t, x0_hat, abar_t, abar_s):
    return abar_s ** 0.5 * x0_hat
""", "dropped the eps_hat term")],
    "8.3": [("""
def my_text_diff(z_i, z_old, z_new, theta):
    z_d = F.normalize(z_old - z_new, dim=-1)
    omega = torch.arccos((z_i * z_d).sum(-1, keepdim=True).clamp(-1, 1))
    return (torch.sin((1 - theta) * omega) * z_i + torch.sin(theta * omega) * z_d) / torch.sin(omega)
""", "new minus old")],
    "9.1": [("""
def my_noise_augment(low_res, level, noise):
    return (1 - level) ** 0.5 * low_res + level ** 0.5 * noise
""", "linear schedule"), ("""
def my_noise_augment(low_res, level, noise):
    f = math.cos((level + 0.008) / 1.008 * math.pi / 2) ** 2
    return f ** 0.5 * low_res + (1 - f) ** 0.5 * noise
""", "divide by f(0)")],
    "9.2": [("""
def my_target_rank(generated, real, targets):
    sim = generated @ real.T
    return (sim > sim[torch.arange(len(targets)), targets][:, None]).sum(1) + 1
""", "cosine similarity"), ("""
def my_target_rank(generated, real, targets):
    sim = F.normalize(generated, dim=1) @ F.normalize(real, dim=1).T
    return (sim >= sim[torch.arange(len(targets)), targets][:, None]).sum(1)
""", "tie")],
    "4.q1": [("answer_4_q1 = 0.2\n", "not right")],
    "5.q1": [("answer_5_q1 = 0.1\n", "multiplied by")],
    "6b.q1": [("answer_6b_q1 = 25\n", "twice per step")],
    "6d.q1": [("answer_6d_q1 = 'a'\n", "sampler changed")],
}


def _load(id: str, source: str):
    ns = {"torch": torch, "math": math, "np": np, "F": F}
    exec(source, ns)  # noqa: S102 -- test fixtures
    return ns[REGISTRY[id].name]


def test_every_exercise_has_a_right_and_a_typical_wrong_answer_here():
    assert set(RIGHT) == set(REGISTRY) == set(WRONG)


@pytest.mark.parametrize("id", sorted(RIGHT))
def test_a_right_answer_passes(id):
    r = grade(id, _load(id, RIGHT[id]))
    assert r.passed, r.message


@pytest.mark.parametrize("id, source, phrase", [(i, s, p) for i in sorted(WRONG) for s, p in WRONG[i]])
def test_a_typical_mistake_is_caught_and_explained(id, source, phrase):
    r = grade(id, _load(id, source))
    assert r.status == "failed" and phrase in r.message, r.message


def test_an_unwritten_exercise_is_not_done_and_the_check_prints_the_verdict(capsys):
    from t2ilib.grading import check

    def my_q_sample(x0, noise, abar_t):
        raise NotImplementedError("Exercise 4.2")

    assert grade("4.2", my_q_sample).status == "not done" and grade("4.q1", None).status == "not done"
    assert check("4.2", my_q_sample) is None  # it prints; a bare check(...) at the end of a cell displays nothing else
    assert "not done yet" in capsys.readouterr().out
    with pytest.raises(ValueError, match="id: expected one of"):
        grade("99.9", my_q_sample)


def test_generic_explanations_name_shape_sign_and_factor():
    cases = {"def my_q_sample(x0, noise, abar_t):\n    return x0.sum()\n": "expected shape",
             "def my_gaussian_kl(mu, logvar):\n    return (mu ** 2 + logvar.exp() - 1 - logvar).sum(-1)\n": "constant factor",
             "def my_x0_from_v(x_t, v, abar_t):\n    return x_t * 0 + 1\n": "wrong values",
             "def my_x0_from_v(x_t, v, abar_t):\n    return x_t[7]\n": "IndexError"}
    ids = ["4.2", "2.2", "5.4", "5.4"]
    for (src, phrase), id in zip(cases.items(), ids):
        r = grade(id, _load(id, src))
        assert r.status == "failed" and phrase in r.message, (id, r.message)


def test_the_grading_worker_starts_without_transformers():
    """The worker imports every exercise module at start, once per submission: no module may pull in transformers
    at import time (4 s), only when its exercise is graded."""
    import subprocess

    code = "import sys, t2ilib.grading.worker, t2ilib.grading.exercises; print('transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_worker_contains_bad_cells():
    assert static_problems("from t2ilib.diffusion import q_sample") .startswith("the cell imports 't2ilib.diffusion'")
    assert "os" in static_problems("import os\n")
    assert "open" in static_problems("x = open('/etc/passwd').read()")
    assert "__class__" in static_problems("x = ().__class__")
    assert "syntax error" in static_problems("def f(:\n")
    assert static_problems(RIGHT["4.3"]) is None
    loop = "def my_q_sample(x0, noise, abar_t):\n    while True:\n        pass\n"
    r = run_one({"id": "4.2", "source": loop}, time_limit=1.0)
    assert r["status"] == "failed" and "longer than 1 s" in r["message"]
    r = run_one({"id": "4.2", "source": "import sys\nsys.exit(3)\n"}, time_limit=1.0)
    assert r["status"] == "failed" and "imports 'sys'" in r["message"]
    r = run_one({"id": "4.2", "source": "raise SystemExit(3)\n"}, time_limit=1.0)
    assert r["status"] == "failed" and "SystemExit" in r["message"]
    r = run_one({"id": "4.2", "source": "x = 1\n"}, time_limit=1.0)
    assert r["status"] == "failed" and "does not define my_q_sample" in r["message"]


def _notebook(cells: dict[str, str], chapter: str) -> dict:
    return {"cells": [{"cell_type": "code", "metadata": {"tags": [f"exercise-{i}"]}, "source": src, "outputs": [],
                       "execution_count": None} for i, src in cells.items()],
            "metadata": {"t2i_assignment": {"chapter": chapter}}, "nbformat": 4, "nbformat_minor": 5}


def test_bulk_grading_scores_a_folder(tmp_path, capsys):
    from t2ilib.grading.bulk import main

    ch4 = [i for i in REGISTRY if REGISTRY[i].chapter == "4"]
    full = {i: RIGHT[i] for i in ch4}
    mixed = dict(full)
    mixed["4.2"] = WRONG["4.2"][0][0]
    mixed["4.1"] = "import ctypes\n"
    mixed["4.3"] = "def my_posterior_mean_variance(*a):\n    while True:\n        pass\n"
    for student, cells in {"ann": full, "bob": mixed, "dee": {}}.items():
        (tmp_path / student).mkdir()
        (tmp_path / student / "04_diffusion_forward.ipynb").write_text(json.dumps(_notebook(cells, "4")))
    (tmp_path / "eve_04_diffusion_forward.ipynb").write_text("not json")
    out = tmp_path / "scores.csv"
    code = main([str(tmp_path), "--csv", str(out), "--details", "--time-limit", "2"])  # the workers: subprocesses
    stdout = capsys.readouterr().out
    assert code == 0, stdout
    totals = {line.split()[0]: line.split()[-1] for line in stdout.splitlines()
              if line.split() and re.fullmatch(r"\d+/\d+", line.split()[-1])}
    assert totals == {"ann": f"{len(ch4)}/{len(ch4)}", "bob": f"1/{len(ch4)}", "dee": f"0/{len(ch4)}",
                      "eve_04_diffusion_forward": "0/1"}, stdout
    assert "missing square roots" in stdout and "imports 'ctypes'" in stdout and "longer than 2 s" in stdout
    assert "not a readable notebook" in stdout
    rows = out.read_text().splitlines()
    assert rows[0] == "student,notebook,exercise,points,status,message" and len(rows) == 1 + 3 * len(ch4) + 1


def test_a_worker_crash_costs_only_the_exercise_it_was_running():
    from t2ilib.grading.bulk import _run_worker

    fake = ("import json, sys\njobs = json.loads(sys.stdin.read())\n"
            "for j in jobs:\n    print(json.dumps({'event': 'start', 'id': j['id']}), flush=True)\n"
            "    if j['source'] == 'crash':\n        sys.exit(1)\n"
            "    print(json.dumps({'event': 'result', 'id': j['id'], 'status': 'passed', 'message': ''}), flush=True)\n")
    jobs = [{"id": "a", "source": "ok"}, {"id": "b", "source": "crash"}, {"id": "c", "source": "ok"}]
    results = {r["id"]: r for r in _run_worker(jobs, 1.0, [sys.executable, "-c", fake])}
    assert results["a"]["status"] == "passed" and results["c"]["status"] == "passed"
    assert results["b"]["status"] == "failed" and "died" in results["b"]["message"]


@pytest.mark.parametrize("id", sorted(i for i in REGISTRY if REGISTRY[i].kind == "function"))
def test_an_unwritten_exercise_is_reported_not_done(id):
    def unwritten(*args):
        raise NotImplementedError(f"Exercise {id}")

    assert grade(id, unwritten).status == "not done"
