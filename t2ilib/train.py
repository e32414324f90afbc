"""The one training loop of the course.

Every chapter trains its models with :class:`Trainer`: a chapter supplies a model, a ``loss_fn(model, batch)``
and a ``batch_at(step)`` function; the loop adds what every run needs:

* ``tqdm.auto`` progress with the running loss, and a loss history;
* an EMA of the weights (``ema_decay``), bf16 autocast or fp32 (``precision``, :mod:`t2ilib.precision`), gradient clipping (``grad_clip``),
  linear learning-rate warm-up;
* a periodic ``sample_fn`` callback (e.g. draw a grid of samples);
* a clear :class:`NonFiniteLossError` when the loss becomes NaN/inf;
* a ``max_minutes`` budget: training stops cleanly when time is up;
* exact resume: :meth:`Trainer.save_state` writes model, EMA, optimizer, RNG and history to safetensors, and a
  resumed run continues bit-for-bit as if it had never stopped (batches are a function of the step).
"""

from __future__ import annotations

import json
import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from t2ilib.checkpoint import load_checkpoint, load_state_strict, run_info, save_checkpoint
from t2ilib.ema import EMA
from t2ilib.precision import autocast, check_precision, resolve_precision


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite."""


@dataclass
class TrainConfig:
    steps: int
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 0
    lr_schedule: str = "constant"  # or "cosine": decay to 0 at `steps` after warm-up
    grad_clip: float | None = 1.0
    ema_decay: float | None = None
    precision: str | None = None  # None: the course policy (T2I_PRECISION, else bf16 only where native)
    max_minutes: float | None = None
    log_every: int = 10
    sample_every: int | None = None
    checkpoint_every: int | None = None

    def __post_init__(self):
        def need(name, ok, what):
            if not ok:
                raise ValueError(f"{name}: expected {what}, got {getattr(self, name)!r}")
        need("steps", isinstance(self.steps, int) and self.steps >= 0, "an int >= 0")
        need("lr", isinstance(self.lr, (int, float)) and self.lr > 0, "a float > 0")
        need("warmup_steps", isinstance(self.warmup_steps, int) and self.warmup_steps >= 0, "an int >= 0")
        need("lr_schedule", self.lr_schedule in ("constant", "cosine"), "'constant' or 'cosine'")
        need("grad_clip", self.grad_clip is None or self.grad_clip > 0, "None or a float > 0")
        need("ema_decay", self.ema_decay is None or 0 < self.ema_decay < 1, "None or a float in (0, 1)")
        need("max_minutes", self.max_minutes is None or self.max_minutes > 0, "None or a float > 0")
        need("log_every", isinstance(self.log_every, int) and self.log_every > 0, "an int > 0")
        self.precision = check_precision(self.precision, "precision")
        self.betas = tuple(self.betas)


@dataclass
class History:
    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    logs: dict[str, list[float]] = field(default_factory=dict)
    wall_seconds: float = 0.0


def _flatten_optimizer(state: dict, prefix: str = "optim") -> tuple[dict[str, torch.Tensor], dict]:
    tensors, scalars = {}, {}
    for pid, s in state["state"].items():
        for k, v in s.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}.{pid}.{k}"] = v
            else:
                scalars[f"{pid}.{k}"] = v
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict, prefix: str = "optim") -> dict:
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        if key.startswith(prefix + "."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    for key, v in meta["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    return {"state": state, "param_groups": meta["param_groups"]}



@contextmanager
def evaluating(model: torch.nn.Module):
    """``model.eval()`` inside the block (dropout off, BatchNorm on running statistics), the previous mode restored
    afterwards, also after an exception: for measuring or sampling in the middle of training."""
    was = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was)

class Trainer:
    """Train ``model`` by minimising ``loss_fn(model, batch_at(step))``.

    ``loss_fn`` returns a scalar loss, or ``(loss, {"name": value, ...})`` to log extra numbers.
    ``sample_fn(trainer, step)`` is called every ``config.sample_every`` steps (use ``trainer.eval_model``).
    With ``checkpoint_path`` set, the state is saved every ``config.checkpoint_every`` steps and when training
    stops, and ``resume=True`` continues from it if it exists.
    """

    def __init__(self, model: torch.nn.Module, loss_fn: Callable, batch_at: Callable[[int], Any],
                 config: TrainConfig, *, optimizer: torch.optim.Optimizer | None = None,
                 sample_fn: Callable | None = None, checkpoint_path: str | Path | None = None,
                 resume: bool = False, progress: bool = True, seed: int = 0):
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config: expected a TrainConfig, got {type(config).__name__}")
        self.model, self.loss_fn, self.batch_at, self.config = model, loss_fn, batch_at, config
        self.device = next(model.parameters()).device
        self.precision = resolve_precision(config.precision, self.device)  # "fp32" or "bf16", fixed for the run
        self.optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=config.lr, betas=config.betas,
                                                        weight_decay=config.weight_decay)
        self.ema = EMA(model, config.ema_decay) if config.ema_decay else None
        self.sample_fn, self.progress, self.seed = sample_fn, progress, seed
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.step = 0
        self.history = History()
        self.stopped_early = False
        if resume and self.checkpoint_path and self.checkpoint_path.exists():
            self.load_state(self.checkpoint_path)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimizer whose state a resume needs, by name (subclasses with several override this)."""
        return {"optim": self.optimizer}

    @property
    def eval_model(self) -> torch.nn.Module:
        """The weights to evaluate and sample with: the EMA copy when there is one."""
        return self.ema.model if self.ema else self.model

    def lr_at(self, step: int) -> float:
        if self.config.warmup_steps and step < self.config.warmup_steps:
            return self.config.lr * (step + 1) / self.config.warmup_steps
        if self.config.lr_schedule == "cosine":
            span = max(1, self.config.steps - self.config.warmup_steps)
            progress = min(1.0, (step - self.config.warmup_steps) / span)
            return self.config.lr * 0.5 * (1 + math.cos(math.pi * progress))
        return self.config.lr

    def _record(self, step: int, loss: float, logs: dict) -> None:
        if not math.isfinite(loss):
            last = self.history.loss[-1] if self.history.loss else None
            raise NonFiniteLossError(
                f"loss became {loss} at step {step} (last finite loss: {last}). Try a lower lr "
                f"(now {self.config.lr}), gradient clipping (grad_clip, now {self.config.grad_clip}), or check the "
                f"batch for NaN/inf values.")
        self.history.step.append(step)
        self.history.loss.append(loss)
        for k, v in logs.items():
            self.history.logs.setdefault(k, []).append(float(v))

    def train_step(self, batch) -> tuple[torch.Tensor, dict]:
        self.model.train()
        for g in self.optimizer.param_groups:
            g["lr"] = self.lr_at(self.step)
        with autocast(self.device, self.precision):
            out = self.loss_fn(self.model, batch)
        loss, logs = out if isinstance(out, tuple) else (out, {})
        if loss.ndim != 0:
            raise ValueError(f"loss_fn must return a scalar loss, got shape {tuple(loss.shape)}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.float().backward()
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        if self.ema:
            self.ema.update(self.model)
        return loss.detach(), logs

    def fit(self, steps: int | None = None) -> History:
        """Train until ``steps`` total steps (default ``config.steps``) or the ``max_minutes`` budget."""
        target = self.config.steps if steps is None else steps
        start, start_step = time.perf_counter(), self.step
        wall_before = self.history.wall_seconds
        budget = self.config.max_minutes * 60 if self.config.max_minutes else math.inf
        pending: list[tuple[int, torch.Tensor, dict]] = []
        cpu = self.device.type == "cpu"
        # at most one redraw a second: in Jupyter each redraw is a widget message, and a long cell that floods the
        # kernel's output channel can lose its last messages (nbval then reports a timeout waiting for output)
        bar = tqdm(total=target, initial=self.step, disable=not self.progress, desc="train", leave=True,
                   mininterval=1.0)
        try:
            while self.step < target:
                loss, logs = self.train_step(self.batch_at(self.step))
                pending.append((self.step, loss, logs))
                self.step += 1
                # CPU: check every step (free); GPU: every log_every steps (avoids a sync per step)
                if cpu or self.step % self.config.log_every == 0 or self.step == target:
                    for s, l, lg in pending:
                        self._record(s, float(l), {k: float(v) for k, v in lg.items()})
                    pending.clear()
                if self.step % self.config.log_every == 0:
                    bar.set_postfix(loss=f"{self.history.loss[-1]:.4f}", refresh=False)
                bar.update(1)
                self.history.wall_seconds = wall_before + time.perf_counter() - start
                if self.sample_fn and self.config.sample_every and self.step % self.config.sample_every == 0:
                    self.sample_fn(self, self.step)
                if (self.checkpoint_path and self.config.checkpoint_every
                        and self.step % self.config.checkpoint_every == 0):
                    self.save_state(self.checkpoint_path)
                if time.perf_counter() - start > budget and self.step < target:
                    self.stopped_early = True
                    bar.write(f"max_minutes={self.config.max_minutes} reached after {self.step - start_step} "
                              f"steps (step {self.step}/{target}); stopping.")
                    break
            for s, l, lg in pending:
                self._record(s, float(l), {k: float(v) for k, v in lg.items()})
        finally:
            bar.close()
        if self.checkpoint_path:
            self.save_state(self.checkpoint_path)
        return self.history

    # ---------------------------------------------------------------------------------------- save / resume
    def save_state(self, path: str | Path) -> Path:
        """Everything needed to resume exactly: model, EMA, optimizer, RNG state, step and history."""
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        if self.ema:
            tensors.update({f"ema.{k}": v for k, v in self.ema.model.state_dict().items()})
        opt_meta = {}
        for name, opt in self.optimizers().items():
            opt_tensors, opt_meta[name] = _flatten_optimizer(opt.state_dict(), name)
            tensors.update(opt_tensors)
        tensors["rng.cpu"] = torch.get_rng_state()
        if torch.cuda.is_available():
            for i, s in enumerate(torch.cuda.get_rng_state_all()):
                tensors[f"rng.cuda.{i}"] = s
        manifest = {"kind": "training_state", "step": self.step, "config": asdict(self.config),
                    "optimizers": opt_meta, "ema_updates": self.ema.updates if self.ema else None, "precision": self.precision,
                    "history": asdict(self.history), "seed": self.seed, **run_info(self.device)}
        json.dumps(manifest)  # fail here, not half-way through writing, if something is not JSON-serialisable
        return save_checkpoint(path, tensors, manifest)

    def load_state(self, path: str | Path) -> None:
        tensors, manifest = load_checkpoint(path, self.device)
        if manifest.get("kind") != "training_state":
            raise ValueError(f"{path} is not a training state (kind={manifest.get('kind')!r}); "
                             f"use t2ilib.checkpoint.load_model for model weights")
        load_state_strict(self.model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(path))
        if self.ema:
            load_state_strict(self.ema.model, {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")},
                              f"{path} (EMA)")
            self.ema.updates = manifest["ema_updates"] or 0
        for name, opt in self.optimizers().items():
            opt.load_state_dict(_unflatten_optimizer(tensors, manifest["optimizers"][name], name))
        torch.set_rng_state(tensors["rng.cpu"].cpu())
        cuda_states = [tensors[f"rng.cuda.{i}"].cpu() for i in range(torch.cuda.device_count())
                       if f"rng.cuda.{i}" in tensors]
        if cuda_states:
            torch.cuda.set_rng_state_all(cuda_states)
        self.step = manifest["step"]
        h = manifest["history"]
        self.history = History(h["step"], h["loss"], h["logs"], h["wall_seconds"])
