"""Training a GAN with the course's one loop: alternating discriminator and generator updates.

:class:`GANTrainer` is a :class:`t2ilib.train.Trainer` whose model is a :class:`GAN` (generator + discriminator)
and whose step is the alternating update of Goodfellow et al. 2014, Algorithm 1: ``d_steps`` discriminator
updates (each on a fresh real batch), then one generator update. Everything else -- progress, history, EMA (of
the generator), the precision policy (bf16 autocast or fp32), lr warm-up/cosine, ``max_minutes`` and exact resume -- comes from the base loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn

from t2ilib.ema import EMA
from t2ilib.gan import losses
from t2ilib.precision import autocast
from t2ilib.train import TrainConfig, Trainer, evaluating

GAN_LOSSES = ("nonsaturating", "saturating", "wgan-gp")


@dataclass
class GANConfig(TrainConfig):
    lr_d: float | None = None  # discriminator learning rate (default: lr, the generator's)
    loss: str = "nonsaturating"  # or "saturating" (the minimax loss) or "wgan-gp"
    real_label: float = 1.0  # < 1: one-sided label smoothing
    d_steps: int = 1  # discriminator (critic) updates per generator update
    gp_weight: float = 10.0  # lambda of WGAN-GP
    grad_clip: float | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.loss not in GAN_LOSSES:
            raise ValueError(f"loss: expected one of {GAN_LOSSES}, got {self.loss!r}")
        if self.lr_d is not None and not self.lr_d > 0:
            raise ValueError(f"lr_d: expected None or a float > 0, got {self.lr_d!r}")
        if not (isinstance(self.d_steps, int) and self.d_steps >= 1):
            raise ValueError(f"d_steps: expected an int >= 1, got {self.d_steps!r}")
        if not 0.5 < self.real_label <= 1.0:
            raise ValueError(f"real_label: expected a float in (0.5, 1], got {self.real_label!r}")


class GAN(nn.Module):
    """A generator and a discriminator, saved and loaded together."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, z_dim: int):
        super().__init__()
        self.generator, self.discriminator, self.z_dim = generator, discriminator, z_dim


def split_batch(batch) -> tuple[torch.Tensor, tuple]:
    """``real`` or ``(real, condition...)`` -> (real, (condition...))."""
    if torch.is_tensor(batch):
        return batch, ()
    return batch[0], tuple(batch[1:])


@torch.no_grad()
def sample(generator: nn.Module, n: int, z_dim: int, *cond, seed: int | None = 0,
           device: torch.device | None = None) -> torch.Tensor:
    """n samples G(z, cond) with z ~ N(0, I) drawn from a seeded CPU generator (same z on every device)."""
    device = device or next(generator.parameters()).device
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    z = torch.randn(n, z_dim, generator=g).to(device)
    with evaluating(generator):
        out = generator(z, *[c.to(device) for c in cond])
    return out


class GANTrainer(Trainer):
    """Alternating GAN updates. ``batch_at(i)`` returns real data (or ``(real, labels)`` for a conditional GAN,
    in which case G and D are called as ``G(z, labels)`` and ``D(x, labels)``).

    By default both players use Adam with ``config.lr`` (G) and ``config.lr_d`` (D); pass ``optimizer_g`` /
    ``optimizer_d`` to use others (their own learning rates are then scaled by the warm-up/cosine schedule).
    """

    def __init__(self, gan: GAN, batch_at: Callable[[int], Any], config: GANConfig, *,
                 optimizer_g: torch.optim.Optimizer | None = None, optimizer_d: torch.optim.Optimizer | None = None,
                 sample_fn: Callable | None = None, checkpoint_path: str | Path | None = None,
                 resume: bool = False, progress: bool = True, seed: int = 0):
        if not isinstance(gan, GAN):
            raise TypeError(f"gan: expected a t2ilib.gan.GAN, got {type(gan).__name__}")
        if not isinstance(config, GANConfig):
            raise TypeError(f"config: expected a GANConfig, got {type(config).__name__}")
        self.opt_g = optimizer_g or torch.optim.Adam(gan.generator.parameters(), lr=config.lr, betas=config.betas)
        self.opt_d = optimizer_d or torch.optim.Adam(gan.discriminator.parameters(), lr=config.lr_d or config.lr,
                                                     betas=config.betas)
        self._base_lr = {id(o): [g["lr"] for g in o.param_groups] for o in (self.opt_g, self.opt_d)}
        k = config.d_steps
        super().__init__(gan, None, lambda step: [batch_at(step * k + i) for i in range(k)],
                         config, optimizer=self.opt_g, sample_fn=sample_fn, checkpoint_path=checkpoint_path,
                         resume=False, progress=progress, seed=seed)
        self.ema = EMA(gan.generator, config.ema_decay) if config.ema_decay else None
        if resume and self.checkpoint_path and self.checkpoint_path.exists():
            self.load_state(self.checkpoint_path)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"optim_g": self.opt_g, "optim_d": self.opt_d}

    @property
    def eval_model(self) -> nn.Module:
        """The generator to sample with: its EMA copy when there is one."""
        return self.ema.model if self.ema else self.model.generator

    def _clip(self, module: nn.Module) -> None:
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(module.parameters(), self.config.grad_clip)

    def train_step(self, batches) -> tuple[torch.Tensor, dict]:
        cfg, G, D = self.config, self.model.generator, self.model.discriminator
        self.model.train()
        scale = self.lr_at(self.step) / cfg.lr  # warm-up / cosine factor, applied to both optimizers' own lr
        for opt in (self.opt_g, self.opt_d):
            for group, base in zip(opt.param_groups, self._base_lr[id(opt)]):
                group["lr"] = base * scale
        wgan = cfg.loss == "wgan-gp"
        for batch in batches:  # d_steps discriminator updates, each on its own real batch
            real, cond = split_batch(batch)
            z = torch.randn(real.shape[0], self.model.z_dim, device=real.device)
            with autocast(self.device, self.precision):
                with torch.no_grad():
                    fake = G(z, *cond)
                real_logits, fake_logits = D(real, *cond).float(), D(fake, *cond).float()
            if wgan:
                gp = losses.gradient_penalty(D, real, fake.float(), *cond)
                d_loss = losses.critic_loss_wgan(real_logits, fake_logits) + cfg.gp_weight * gp
            else:
                d_loss = losses.discriminator_loss(real_logits, fake_logits, cfg.real_label)
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self._clip(D)
            self.opt_d.step()
        z = torch.randn(real.shape[0], self.model.z_dim, device=real.device)
        with autocast(self.device, self.precision):
            gen_logits = D(G(z, *cond), *cond).float()
        if wgan:
            g_loss = losses.generator_loss_wgan(gen_logits)
        elif cfg.loss == "saturating":
            g_loss = losses.generator_loss_saturating(gen_logits)
        else:
            g_loss = losses.generator_loss_nonsaturating(gen_logits)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self._clip(G)
        self.opt_g.step()
        if self.ema:
            self.ema.update(G)
        real_logits, fake_logits = real_logits.detach(), fake_logits.detach()
        logs = {"d_loss": d_loss.detach(), "d_accuracy": losses.discriminator_accuracy(real_logits, fake_logits)}
        if not wgan:
            logs.update(d_real=torch.sigmoid(real_logits).mean(), d_fake=torch.sigmoid(fake_logits).mean())
        return g_loss.detach(), logs
