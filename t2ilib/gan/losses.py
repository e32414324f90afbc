"""GAN objectives, written on discriminator *logits* l = D_logit(x), with D(x) = sigmoid(l).

Goodfellow et al. 2014, "Generative Adversarial Nets", Eq. 1 -- the value function of the two-player game

    min_G max_D  V(D, G) = E_{x~p_data}[log D(x)] + E_{z~p_z}[log(1 - D(G(z)))].

Working on logits keeps every log finite: log D = logsigmoid(l) and log(1 - D) = logsigmoid(-l).

* The discriminator maximises V, i.e. minimises the binary cross-entropy  -V  (:func:`discriminator_loss`;
  at the equilibrium D = 1/2 everywhere, so the loss is 2 log 2 = log 4).
* The generator of the minimax game minimises E[log(1 - D(G(z)))] (:func:`generator_loss_saturating`); its
  gradient vanishes when D confidently rejects the fakes, which is exactly the situation early in training.
  Goodfellow et al. (Sec. 3) therefore train G to maximise E[log D(G(z))] instead
  (:func:`generator_loss_nonsaturating`): same fixed point, strong gradients when G is bad.
* WGAN-GP (Gulrajani et al. 2017, Eq. 3): a critic f with E[f(fake)] - E[f(real)] + lambda E[(||grad f(x_hat)|| - 1)^2]
  and a generator minimising -E[f(G(z))] (:func:`critic_loss_wgan`, :func:`gradient_penalty`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG4 = math.log(4.0)


def value_function(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Monte-Carlo estimate of V(D, G) = E[log D(x)] + E[log(1 - D(G(z)))] (Goodfellow et al. 2014, Eq. 1)."""
    return F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0) -> torch.Tensor:
    """Binary cross-entropy of D on a real and a fake batch, summed: equals -V(D, G) when ``real_label`` is 1.

    ``real_label < 1`` is one-sided label smoothing (Salimans et al. 2016, Sec. 3.4): the targets of real samples
    become ``real_label`` (e.g. 0.9) while fakes keep the target 0.
    """
    if not 0.5 < real_label <= 1.0:
        raise ValueError(f"real_label: expected a float in (0.5, 1], got {real_label!r}")
    real_target = torch.full_like(real_logits, real_label)
    return (F.binary_cross_entropy_with_logits(real_logits, real_target)
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_loss_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The minimax generator loss E[log(1 - D(G(z)))] (minimised). d/dl = -D: vanishes as D(G(z)) -> 0."""
    return F.logsigmoid(-fake_logits).mean()


def generator_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss -E[log D(G(z))] (Goodfellow et al. 2014, Sec. 3). d/dl = -(1 - D)."""
    return -F.logsigmoid(fake_logits).mean()


def generator_logit_gradient(d_fake: torch.Tensor, loss: str) -> torch.Tensor:
    """Analytic derivative of the per-sample generator loss with respect to the fake logit l, at D = sigmoid(l).

    saturating:      d/dl log(1 - sigmoid(l)) = -sigmoid(l)      = -D
    non-saturating:  d/dl -log sigmoid(l)     = -(1 - sigmoid(l)) = -(1 - D)
    Both are negative (G pushes the logit of its samples up); only the second stays large when D ~ 0.
    """
    if loss == "saturating":
        return -d_fake
    if loss == "nonsaturating":
        return -(1.0 - d_fake)
    raise ValueError(f"loss: expected 'saturating' or 'nonsaturating', got {loss!r}")


def critic_loss_wgan(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN critic loss E[f(fake)] - E[f(real)] (Arjovsky et al. 2017, Eq. 3; minimised by the critic)."""
    return fake_scores.mean() - real_scores.mean()


def generator_loss_wgan(fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN generator loss -E[f(G(z))]."""
    return -fake_scores.mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, *cond) -> torch.Tensor:
    """E[(||grad_x f(x_hat)||_2 - 1)^2] at x_hat = eps x + (1 - eps) x_fake, eps ~ U[0, 1] per sample
    (Gulrajani et al. 2017, Eq. 3 and Algorithm 1). ``cond`` (e.g. labels) is passed on to the critic."""
    if real.shape != fake.shape:
        raise ValueError(f"fake: expected the shape of real {tuple(real.shape)}, got {tuple(fake.shape)}")
    eps_shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    eps = torch.rand(eps_shape, device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat, *cond)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1.0) ** 2).mean()


def discriminator_accuracy(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Fraction of a real and an equally large fake batch that D classifies correctly (threshold D = 1/2)."""
    return 0.5 * ((real_logits > 0).float().mean() + (fake_logits < 0).float().mean())
