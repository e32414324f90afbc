"""Exercises of chapters 1a (GAN minimax), 2 (VAE ELBO) and 3 (discrete latents).

Each check compares the learner's function with the library's tested one on random inputs (and on inputs where
a typical mistake shows), and lists the typical mistakes it recognises, each as the wrong formula it computes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from t2ilib.gan.losses import discriminator_loss, generator_loss_nonsaturating
from t2ilib.gan.theory import optimal_discriminator
from t2ilib.grading.core import Mistake, call, exercise, expect, seeded
from t2ilib.vae.gaussian import gaussian_kl



# ------------------------------------------------------------------------------------------------ chapter 1a
@exercise("1a.1", "my_discriminator_loss", "the discriminator's loss -V(D, G) from logits")
def _discriminator_loss(fn):
    g = seeded(1)
    real, fake = 2 * torch.randn(64, generator=g), 2 * torch.randn(64, generator=g)
    want = discriminator_loss(real, fake)
    sig_r, sig_f = torch.sigmoid(real), torch.sigmoid(fake)
    expect(call(fn, real, fake), want, "loss on random logits", {
        "the labels are swapped: real samples must have target 1 (log D(x)), fakes target 0 (log(1 - D(G(z))))":
            F.softplus(real).mean() + F.softplus(-fake).mean(),
        "you maximise V instead of minimising -V: the loss is -E[log D(x)] - E[log(1 - D(G(z)))]":
            -(F.softplus(-real).mean() + F.softplus(fake).mean()),
        "the fake term uses log D(G(z)); the discriminator wants D(G(z)) -> 0, so it is -log(1 - D(G(z)))":
            F.softplus(-real).mean() + F.softplus(-fake).mean(),
        "you averaged the two terms; the loss is their sum (-V(D, G) = -E[log D(x)] - E[log(1 - D(G(z)))])":
            (F.softplus(-real).mean() + F.softplus(fake).mean()) / 2,
        "a probability is not a log-probability: use log D = logsigmoid(logit)": -(sig_r.mean() + (1 - sig_f).mean()),
    })
    big = torch.tensor([60.0, -60.0])
    got = call(fn, big, -big)
    if not torch.isfinite(torch.as_tensor(got)).all():
        raise Mistake("with logits of +-60 your loss is not finite: log(sigmoid(l)) underflows; use "
                      "F.logsigmoid or F.binary_cross_entropy_with_logits, which work on logits directly")
    expect(got, discriminator_loss(big, -big), "loss on logits of +-60")
    return ["random logits", "large logits (numerical stability)"]


@exercise("1a.2", "my_generator_loss_nonsaturating", "the non-saturating generator loss")
def _generator_loss(fn):
    fake = 3 * torch.randn(64, generator=seeded(2))
    expect(call(fn, fake), generator_loss_nonsaturating(fake), "loss on random logits", {
        "this is the saturating (minimax) loss E[log(1 - D(G(z)))]; the non-saturating one is -E[log D(G(z))]":
            -F.softplus(fake).mean(),
        "this is the discriminator's fake term; the generator wants D(G(z)) -> 1: minimise -E[log D(G(z))]":
            F.softplus(fake).mean(),
    })
    fake = fake.clone().requires_grad_(True)
    with torch.enable_grad():
        out = call(fn, fake, grad=True)
        if not (isinstance(out, torch.Tensor) and out.requires_grad):
            raise Mistake("no gradient flows from your loss to the logits (did you detach or use .item()?)")
        (grad,) = torch.autograd.grad(out, fake)
    expect(grad, -(1 - torch.sigmoid(fake.detach())) / 64, "gradient with respect to the logits")
    return ["random logits", "its gradient -(1 - D)/N"]


@exercise("1a.3", "my_optimal_discriminator", "the optimal discriminator D*(x)")
def _optimal_discriminator(fn):
    x = torch.linspace(-4, 4, 101)
    p_data = torch.exp(-0.5 * (x - 1) ** 2) / math.sqrt(2 * math.pi)
    p_g = torch.exp(-0.5 * ((x + 1) / 1.5) ** 2) / (1.5 * math.sqrt(2 * math.pi))
    expect(call(fn, p_data, p_g), optimal_discriminator(p_data, p_g), "D* on two Gaussians", {
        "D*(x) is the probability that x is REAL: p_data / (p_data + p_g), not p_g / (p_data + p_g)":
            p_g / (p_data + p_g),
        "p_data / p_g is a density ratio, not a probability; D* = p_data / (p_data + p_g)": p_data / p_g,
    })
    same = call(fn, p_data, p_data)
    expect(same, torch.full_like(p_data, 0.5), "D* when p_g = p_data (the generator has won: D* = 1/2 everywhere)")
    return ["two Gaussians", "p_g = p_data gives 1/2"]


# ------------------------------------------------------------------------------------------------- chapter 2
@exercise("2.1", "my_reparameterize", "the reparameterisation z = mu + sigma * eps")
def _reparameterize(fn):
    g = seeded(3)
    mu, logvar, eps = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
    want = mu + torch.exp(0.5 * logvar) * eps
    expect(call(fn, mu, logvar, eps), want, "z", {
        "exp(logvar) is the variance; z = mu + sigma * eps needs the standard deviation sigma = exp(logvar / 2)":
            mu + torch.exp(logvar) * eps,
        "logvar is log(sigma^2): sigma = exp(logvar / 2), not logvar itself": mu + logvar * eps,
        "sigma = exp(logvar / 2), not sqrt(logvar) (logvar can be negative)": mu + logvar.abs().sqrt() * eps,
    })
    mu_, logvar_ = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    with torch.enable_grad():
        z = call(fn, mu_, logvar_, eps, grad=True)
        if not (isinstance(z, torch.Tensor) and z.requires_grad):
            raise Mistake("no gradient flows from z to mu and logvar: the point of the trick is that it does")
        gm, gl = torch.autograd.grad(z.sum(), (mu_, logvar_))
    expect(gm, torch.ones_like(mu), "dz/dmu")
    expect(gl, 0.5 * torch.exp(0.5 * logvar) * eps, "dz/dlogvar")
    return ["values", "gradients to mu and logvar"]


@exercise("2.2", "my_gaussian_kl", "KL(N(mu, sigma^2) || N(0, I)) in closed form")
def _gaussian_kl(fn):
    g = seeded(4)
    mu, logvar = torch.randn(16, 5, generator=g), torch.randn(16, 5, generator=g)
    want = gaussian_kl(mu, logvar)
    per_dim = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)
    expect(call(fn, mu, logvar), want, "KL per sample (summed over latent dimensions)", {
        "average over latent dimensions is not the KL of the joint Gaussian: sum them (KL of independent "
        "dimensions adds up)": per_dim.mean(-1),
        "the sign of logvar: per dimension 1/2 (mu^2 + sigma^2 - 1 - log sigma^2)":
            (0.5 * (mu ** 2 + logvar.exp() - 1 + logvar)).sum(-1),
        "exp(logvar) is sigma^2 already; you used sigma^4 = exp(2 logvar)":
            (0.5 * (mu ** 2 + (2 * logvar).exp() - 1 - logvar)).sum(-1),
    })
    zero = call(fn, torch.zeros(3, 5), torch.zeros(3, 5))
    expect(zero, torch.zeros(3), "KL of N(0, I) to itself")
    return ["random mu, logvar", "KL(p || p) = 0"]


@exercise("2.3", "my_iwae_bound", "the importance-weighted bound L_K from log-weights")
def _iwae_bound(fn):
    g = seeded(5)
    log_w = -90 + 5 * torch.randn(64, 10, generator=g)  # (K samples, N images): log p(x, z_k) - log q(z_k | x)
    want = torch.logsumexp(log_w, 0) - math.log(64)
    expect(call(fn, log_w), want, "L_K per image", {
        "this is the ELBO (the mean of log w); L_K = log of the MEAN of w = logsumexp(log w) - log K":
            log_w.mean(0),
        "missing the -log K: L_K is the log of the mean of the weights, not of their sum":
            torch.logsumexp(log_w, 0),
        "log w is around -90: exp underflows to 0 in float32. Use torch.logsumexp":
            torch.log(log_w.exp().mean(0)),
    })
    expect(call(fn, torch.full((5, 3), -7.0)), torch.full((3,), -7.0),
           "L_K when all K weights are equal (it must equal their log w)")
    return ["64 samples x 10 images", "equal weights"]


# ------------------------------------------------------------------------------------------------- chapter 3
@exercise("3.1", "my_nearest_code", "vector quantisation: the nearest codebook vector")
def _nearest_code(fn):
    g = seeded(6)
    codebook = torch.randn(32, 8, generator=g) * torch.rand(32, 1, generator=g) * 3  # codes of different norms
    z = torch.randn(200, 8, generator=g)
    want = torch.cdist(z, codebook).argmin(1)
    got = call(fn, z, codebook)
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        raise Mistake(f"expected (N,) = {tuple(want.shape)} indices, got "
                      f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}")
    if torch.equal(got, (z @ codebook.T).argmax(1)) and not torch.equal(got, want):
        raise Mistake("the largest dot product is not the nearest code when codes have different norms: "
                      "use the distance ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2")
    if torch.equal(got, torch.cdist(z, codebook).argmax(1)):
        raise Mistake("argmax picks the FARTHEST code; the nearest is the argmin of the distance")
    if not torch.equal(got.long(), want):
        raise Mistake(f"{int((got.long() != want).sum())} of 200 vectors got a code that is not the nearest")
    return ["200 vectors, 32 codes of different norms"]


@exercise("3.2", "my_straight_through", "the straight-through estimator")
def _straight_through(fn):
    g = seeded(7)
    z_e = torch.randn(4, 8, generator=g).requires_grad_(True)
    z_q = torch.randn(4, 8, generator=g).requires_grad_(True)
    with torch.enable_grad():
        out = call(fn, z_e, z_q, grad=True)
        expect(out, z_q.detach(), "forward value (must be z_q: the decoder sees the quantised vector)",
               {"you returned z_e: the decoder must see the quantised z_q in the forward pass": z_e.detach()})
        if not out.requires_grad:
            raise Mistake("no gradient flows back: the point is to copy the decoder's gradient to z_e")
        w = torch.randn(4, 8, generator=g)
        ge, gq = torch.autograd.grad((out * w).sum(), (z_e, z_q), allow_unused=True)
    if ge is None or not torch.allclose(ge, w):
        raise Mistake("the gradient must pass to z_e unchanged (identity): z_e + (z_q - z_e).detach()")
    if gq is not None and gq.abs().max() > 0:
        raise Mistake("gradient reaches z_q through the straight-through path: detach (z_q - z_e); the codebook "
                      "learns from its own loss instead")
    return ["forward = z_q", "backward: identity to z_e, nothing to z_q"]


@exercise("3.3", "my_vq_losses", "VQ-VAE's codebook and commitment losses")
def _vq_losses(fn):
    g = seeded(8)
    z_e = torch.randn(6, 4, generator=g).requires_grad_(True)
    z_q = torch.randn(6, 4, generator=g).requires_grad_(True)
    beta = 0.25
    with torch.enable_grad():
        out = call(fn, z_e, z_q, beta, grad=True)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise Mistake("return two numbers: (codebook_loss, commitment_loss)")
        codebook, commitment = out
        mse = F.mse_loss(z_e.detach(), z_q.detach())
        expect(codebook, mse, "codebook loss ||sg[z_e] - e||^2 (mean)",
               {"beta belongs to the commitment loss, not to the codebook loss": beta * mse})
        expect(commitment, beta * mse, "commitment loss beta ||z_e - sg[e]||^2 (mean)",
               {"the commitment loss is weighted by beta": mse})
        gce = torch.autograd.grad(codebook, (z_e, z_q), allow_unused=True)
        gco = torch.autograd.grad(commitment, (z_e, z_q), allow_unused=True)
    nonzero = lambda t: t is not None and t.abs().max() > 0  # noqa: E731
    if nonzero(gce[0]):
        raise Mistake("the codebook loss moves the encoder: stop its gradient to z_e (z_e.detach())")
    if not nonzero(gce[1]):
        raise Mistake("the codebook loss must move the codes: no gradient reaches z_q")
    if nonzero(gco[1]):
        raise Mistake("the commitment loss moves the codes: stop its gradient to z_q (z_q.detach())")
    if not nonzero(gco[0]):
        raise Mistake("the commitment loss must pull the encoder to its code: no gradient reaches z_e")
    return ["values", "which side each loss trains (stop-gradients)"]


@exercise("3.4", "my_gumbel_softmax_sample", "a Gumbel-softmax sample from uniform noise")
def _gumbel_softmax(fn):
    g = seeded(9)
    logits, u = torch.randn(5, 7, generator=g), torch.rand(5, 7, generator=g).clamp(1e-6, 1 - 1e-6)
    tau = 0.5
    gumbel = -torch.log(-torch.log(u))
    want = F.softmax((logits + gumbel) / tau, dim=-1)
    expect(call(fn, logits, u, tau), want, "relaxed sample", {
        "Gumbel noise is -log(-log u); -log u alone is exponential noise": F.softmax((logits - torch.log(u)) / tau, -1),
        "the temperature divides the noisy logits (logits + g) / tau, not the logits alone":
            F.softmax(logits / tau + gumbel, -1),
        "the softmax runs over the categories (the last dimension)": F.softmax((logits + gumbel) / tau, 0),
    })
    hard = call(fn, logits, u, 1e-3)
    expect(hard, F.one_hot((logits + gumbel).argmax(-1), 7).float(), "tau -> 0 gives the Gumbel-max one-hot",
           atol=1e-3)
    return ["tau = 0.5", "tau -> 0 is Gumbel-max"]
