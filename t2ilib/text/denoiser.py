"""A text-conditioned denoiser: text encoder + UNet, with the null caption for classifier-free guidance.

    caption --tokenizer--> ids, mask --text encoder--> token states (N, L, D), pooled vector (N, D)
    UNet(x_t, t, cond=pooled, context=states, context_mask=mask) -> eps (or v, or x_0) prediction

``prediction`` says what the UNet outputs; :func:`generate` passes it to the sampler.

``conditioning`` chooses the mechanisms: ``"pooled"`` (sentence vector added to the time embedding, as GLIDE and
Imagen do besides cross-attention), ``"tokens"`` (cross-attention only) or ``"pooled+tokens"``.

Classifier-free guidance needs an unconditional model too. Here the "null" condition is the encoding of the
empty caption ``""`` (just [CLS] [SEP]): training replaces a fraction ``p_uncond`` of the captions by ``""``
(:func:`t2ilib.diffusion.drop_condition` with ``null=NULL_CAPTION``), and sampling runs the model on the caption and on ``""`` (:meth:`guided`).
"""

from __future__ import annotations

import zlib

import torch

from t2ilib.diffusion.guidance import guided_model
from t2ilib.diffusion.denoiser import DiffusionModel
from t2ilib.nn import UNet
from t2ilib.text.encoders import FrozenPretrainedEncoder, ScratchTextEncoder, TextAdapter

ENCODERS = ("minilm", "scratch")
CONDITIONINGS = ("pooled", "tokens", "pooled+tokens")
NULL_CAPTION = ""


def vocabulary_checksum(tokenizer) -> int:
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    return zlib.crc32(" ".join(w for w, _ in vocab).encode())


class TextConditionedUNet(DiffusionModel):
    """A caption-conditioned denoiser: text encoder (+ adapter) and UNet, with the schedule it was trained under
    and what the UNet outputs (eps, x_0 or v): everything :func:`generate` needs."""

    def __init__(self, encoder: str = "minilm", conditioning: str = "pooled+tokens", max_tokens: int = 32,
                 encoder_cache: int = 0, resolution: int = 32, adapter_layers: int = 0, prediction: str = "epsilon",
                 schedule: str = "cosine", num_steps: int = 1000, scratch_tokenizer: str = "course", **unet_kwargs):
        super().__init__(schedule, num_steps, prediction)
        if encoder not in ENCODERS:
            raise ValueError(f"encoder: expected one of {ENCODERS}, got {encoder!r}")
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning: expected one of {CONDITIONINGS}, got {conditioning!r}")
        if scratch_tokenizer != "course" and encoder != "scratch":
            raise ValueError(f"scratch_tokenizer: only for encoder='scratch' (MiniLM brings its own), got "
                             f"{scratch_tokenizer!r} with encoder={encoder!r}")
        if not isinstance(adapter_layers, int) or adapter_layers < 0 or (adapter_layers and encoder != "minilm"):
            raise ValueError(f"adapter_layers: expected a non-negative int, and 0 unless encoder='minilm' (the "
                             f"scratch encoder is trained already), got {adapter_layers!r} with encoder={encoder!r}")
        self.encoder_name, self.conditioning, self.max_tokens = encoder, conditioning, max_tokens
        if encoder == "minilm":
            self._frozen = FrozenPretrainedEncoder(max_tokens, cache_size=encoder_cache)  # not a submodule
            self.text_encoder = None
            dim, tokenizer = FrozenPretrainedEncoder.dim, self._frozen.tokenizer
        else:
            self._frozen = None
            self.text_encoder = ScratchTextEncoder(max_tokens=max_tokens, tokenizer=scratch_tokenizer)
            dim, tokenizer = self.text_encoder.dim, self.text_encoder.tokenizer
        self.tokenizer = tokenizer
        # optional trainable transformer over the frozen token states (the pooled vector stays MiniLM's own)
        self.text_adapter = TextAdapter(dim, layers=adapter_layers, max_tokens=max_tokens) if adapter_layers else None
        context_dim = self.text_adapter.dim if self.text_adapter else dim
        # the checkpoint remembers which vocabulary its token ids meant
        self.register_buffer("vocab_checksum", torch.tensor(vocabulary_checksum(tokenizer), dtype=torch.int64))
        self.unet = UNet(cond_dim=dim if "pooled" in conditioning else None,
                         context_dim=context_dim if "tokens" in conditioning else None, **unet_kwargs)
        self.config = dict(encoder=encoder, conditioning=conditioning, max_tokens=max_tokens, resolution=resolution,
                           **({"adapter_layers": adapter_layers} if adapter_layers else {}),
                           **({"prediction": prediction} if prediction != "epsilon" else {}),
                           **({"scratch_tokenizer": scratch_tokenizer} if scratch_tokenizer != "course" else {}),
                           **self.unet.config)

    def encode(self, captions: list[str]) -> dict[str, torch.Tensor]:
        """The UNet's conditioning keyword arguments for a list of captions."""
        device = self.vocab_checksum.device
        enc = self._frozen(captions, device) if self._frozen is not None else self.text_encoder(captions, device)
        if self.text_adapter is not None:
            enc = self.text_adapter(enc)
        out = {}
        if "pooled" in self.conditioning:
            out["cond"] = enc.pooled
        if "tokens" in self.conditioning:
            out["context"], out["context_mask"] = enc.states, enc.mask
        return out

    def forward(self, x: torch.Tensor, t, captions: list[str] | None = None, **encoded) -> torch.Tensor:
        """``model(x_t, t, captions)`` or ``model(x_t, t, **model.encode(captions))``."""
        return self.unet(x, t, **self.encoded(x, captions, encoded))

    def encoded(self, x: torch.Tensor, captions: list[str] | None, encoded: dict) -> dict:
        """The caption conditioning of a forward call: ``encode(captions)``, or ``encoded`` as given (exactly one)."""
        if (captions is None) == (not encoded):
            raise ValueError("pass either captions (a list of strings) or the output of encode(captions)")
        if captions is None:
            return encoded
        if isinstance(captions, str) or len(captions) != len(x):
            raise ValueError(f"captions: expected a list of {len(x)} strings (one per image)")
        return self.encode(captions)

    def guided(self, captions: list[str], scale: float):
        """``model(x, t)`` with classifier-free guidance at Imagen/diffusers ``scale`` towards ``captions``."""
        with torch.no_grad():
            cond = self.encode(list(captions))
            null = self.encode([NULL_CAPTION] * len(captions))
        return guided_model(self, cond, null, scale)

    def check_vocabulary(self) -> None:
        """After loading weights: the tokenizer must be the one the checkpoint was trained with."""
        if int(self.vocab_checksum) != vocabulary_checksum(self.tokenizer):
            raise ValueError("the tokenizer's vocabulary differs from the one this checkpoint was trained with "
                             "(token ids would mean other words); retrain the checkpoint")


def threshold_rule(threshold):
    """The sampler's ``clip_x0`` for ``threshold``: "static" (clip x0_hat to [-1, 1]), "dynamic" (Imagen, p = 99.5 %),
    a float percentile for dynamic thresholding, "none", or a function of x0_hat (applied at every step)."""
    from t2ilib.diffusion.guidance import dynamic_threshold

    if threshold == "static":
        return True
    if threshold == "none":
        return False
    if callable(threshold):
        return threshold
    if threshold == "dynamic" or (isinstance(threshold, float) and 0.0 < threshold <= 1.0):
        p = 0.995 if threshold == "dynamic" else threshold
        return lambda x0: dynamic_threshold(x0, p)
    raise ValueError(f"threshold: expected 'static', 'dynamic', 'none' or a percentile in (0, 1] or a function, got "
                     f"{threshold!r}")


def sample_with_threshold(model, guided, shape: tuple[int, ...], *, steps: int, threshold, generator,
                          sampler: str = "ddim", eta: float = 0.0, precision: str | None = None,
                          progress: bool = False) -> torch.Tensor:
    """``model.sample`` (the model's own schedule and prediction) through the guided call ``guided(x, t)``."""
    return model.sample(shape, model=guided, sampler=sampler, steps=steps, eta=eta, clip_x0=threshold_rule(threshold),
                        generator=generator, device=model.vocab_checksum.device, precision=precision,
                        progress=progress)


@torch.no_grad()
def generate(model: TextConditionedUNet, captions: list[str], *, guidance: float = 3.0, steps: int = 25,
             sampler: str = "ddim", eta: float = 0.0, seed: int = 0, threshold="static", batch: int = 250,
             precision: str | None = None, resolution: int | None = None, progress: bool = False) -> torch.Tensor:
    """Images (N, C, R, R) in [-1, 1] for ``captions``, with classifier-free guidance at Imagen/diffusers scale
    ``guidance`` and ``threshold`` (:func:`threshold_rule`: "static", "dynamic", "none", a percentile or a function
    of x0_hat). ``precision``: see :mod:`t2ilib.precision` (None: the policy).
    The noise schedule and prediction target are the model's own (:class:`t2ilib.diffusion.DiffusionModel`)."""
    if isinstance(captions, str) or not captions:
        raise ValueError("captions: expected a non-empty list of strings")
    threshold_rule(threshold)  # bad values fail before any sampling
    cfg = model.config
    r = resolution or cfg.get("resolution", 32)
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(0, len(captions), batch):
        chunk = list(captions[i:i + batch])
        out.append(sample_with_threshold(model, model.guided(chunk, guidance), (len(chunk), cfg["in_channels"], r, r),
                                         steps=steps, threshold=threshold, generator=g, sampler=sampler, eta=eta,
                                         precision=precision, progress=progress).cpu())
    return torch.cat(out).clamp(-1, 1)
