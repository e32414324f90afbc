"""Text encoders: captions -> per-token states (for cross-attention) and one pooled vector (for the time embedding).

Two kinds, both through ``transformers``:

* :class:`FrozenPretrainedEncoder` -- all-MiniLM-L6-v2 (6-layer BERT, 384 dims, 22.7 M parameters, trained on
  ~1 billion English sentence pairs; Reimers & Gurevych 2019, Wang et al. 2020), loaded offline and *frozen*.
  Imagen's central finding (Saharia et al. 2022, Sec. 4.4) is that a large frozen language model (T5-XXL)
  improves text-image alignment more than a bigger diffusion model does: the text encoder already knows
  language, so the denoiser only learns to draw. This is that idea at toy scale.
* :class:`ScratchTextEncoder` -- a 2-layer BERT built from a ``BertConfig`` over the course's word tokenizer,
  trained jointly with the denoiser from random weights (as GLIDE's text transformer was; Nichol et al. 2021).

Pooling is the mean of the token states over the attention mask, (sum_i m_i h_i) / (sum_i m_i); MiniLM's
sentence vector is that mean divided by its L2 norm (its sentence-transformers ``Pooling`` + ``Normalize``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn
from transformers import AutoModel, BertConfig, BertModel

from t2ilib.precision import autocast, check_precision
from t2ilib.text.tokenizers import course_tokenizer, pretrained_model_path, pretrained_tokenizer


@dataclass
class TextEncoding:
    states: torch.Tensor  # (N, L, D) one vector per token
    mask: torch.Tensor  # (N, L) 1 = token, 0 = padding
    pooled: torch.Tensor  # (N, D) one vector per caption


def mean_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token states over the real (mask = 1) tokens."""
    m = mask.to(states.dtype).unsqueeze(-1)
    return (states * m).sum(1) / m.sum(1).clamp_min(1.0)


def tokenize(tokenizer, captions: list[str], max_tokens: int, device) -> dict[str, torch.Tensor]:
    """Pad every caption to ``max_tokens`` (a fixed length, so conditional and null encodings batch together)."""
    if isinstance(captions, str) or not all(isinstance(c, str) for c in captions):
        raise TypeError("captions: expected a list of strings")
    enc = tokenizer(list(captions), padding="max_length", truncation=True, max_length=max_tokens,
                    return_tensors="pt")
    return {"input_ids": enc["input_ids"].to(device), "attention_mask": enc["attention_mask"].to(device)}


@lru_cache(maxsize=1)
def _pretrained_model() -> nn.Module:
    from transformers.utils import logging

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.disable_progress_bar()
    return AutoModel.from_pretrained(pretrained_model_path()).eval().requires_grad_(False)


class FrozenPretrainedEncoder:
    """all-MiniLM-L6-v2, frozen. Not an ``nn.Module`` on purpose: its 22.7 M weights are not trained, not part
    of a denoiser's checkpoint and not copied by EMA; every model shares the one instance.

    ``precision`` (None: the course policy of :mod:`t2ilib.precision`) is bf16 autocast or fp32. A denoiser
    trained on bf16 states reads fp32 states just as well (the shipped MiniLM models are re-measured in both;
    the states differ by bf16's rounding, ~0.4 % relative). ``cache_size`` keeps the encodings of recently seen captions (useful when a dataset has few distinct ones).
    """

    dim = 384
    name = "minilm"

    def __init__(self, max_tokens: int = 32, cache_size: int = 0, precision: str | None = None):
        self.tokenizer = pretrained_tokenizer()
        self.precision = check_precision(precision)
        self.max_tokens = max_tokens
        self.cache_size = cache_size
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    @property
    def model(self) -> nn.Module:
        return _pretrained_model()

    @torch.no_grad()
    def _encode(self, captions: list[str], device) -> TextEncoding:
        model = self.model
        if next(model.parameters()).device != torch.device(device):
            model.to(device)
        batch = tokenize(self.tokenizer, captions, self.max_tokens, device)
        with autocast(torch.device(device), self.precision):
            states = model(**batch).last_hidden_state.float()
        pooled = nn.functional.normalize(mean_pool(states, batch["attention_mask"]), dim=-1)
        return TextEncoding(states, batch["attention_mask"], pooled)

    def __call__(self, captions: list[str], device="cpu") -> TextEncoding:
        if not self.cache_size:
            return self._encode(captions, device)
        todo = sorted({c for c in captions if c not in self._cache})
        fresh = {}
        if todo:
            enc = self._encode(todo, "cpu" if torch.device(device).type == "cpu" else device)
            fresh = {c: (enc.states[i], enc.mask[i], enc.pooled[i]) for i, c in enumerate(todo)}
        rows = [fresh[c] if c in fresh else self._cache[c] for c in captions]
        for c, row in fresh.items():
            if len(self._cache) >= self.cache_size:
                self._cache.pop(next(iter(self._cache)))  # forget the oldest
            self._cache[c] = row
        s, m, p = (torch.stack(x).to(device) for x in zip(*rows))
        return TextEncoding(s, m, p)


def small_bert(vocab_size: int, dim: int, layers: int, heads: int, max_tokens: int, pad_token_id: int = 0) -> BertModel:
    """A randomly initialised BERT from a ``BertConfig``: feed-forward width 4 x dim, no dropout, no pooler."""
    config = BertConfig(vocab_size=vocab_size, hidden_size=dim, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=4 * dim, max_position_embeddings=max_tokens, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0, pad_token_id=pad_token_id)
    return BertModel(config, add_pooling_layer=False)


class ScratchTextEncoder(nn.Module):
    """A small BERT (``BertConfig``: 2 layers, 4 heads, 128 dims), randomly initialised and trained with the
    denoiser. ``tokenizer``: ``"course"`` (the course's word tokenizer: shapes-world and digit words) or
    ``"wordpiece"`` (all-MiniLM-L6-v2's WordPiece vocabulary, any English text; only the vocabulary is borrowed, no
    weights), so a scratch encoder can read captions outside the course's words, e.g. emoji names, with the same
    tokens a frozen MiniLM reads."""

    name = "scratch"
    TOKENIZERS = ("course", "wordpiece")

    def __init__(self, dim: int = 128, layers: int = 2, heads: int = 4, max_tokens: int = 32,
                 tokenizer: str = "course"):
        super().__init__()
        if tokenizer not in self.TOKENIZERS:
            raise ValueError(f"tokenizer: expected one of {self.TOKENIZERS}, got {tokenizer!r}")
        self.tokenizer = course_tokenizer() if tokenizer == "course" else pretrained_tokenizer()
        self.max_tokens, self.dim = max_tokens, dim
        self.bert = small_bert(len(self.tokenizer), dim, layers, heads, max_tokens, self.tokenizer.pad_token_id)

    def forward(self, captions: list[str], device=None) -> TextEncoding:
        device = device or next(self.parameters()).device
        batch = tokenize(self.tokenizer, captions, self.max_tokens, device)
        states = self.bert(**batch).last_hidden_state
        return TextEncoding(states, batch["attention_mask"], mean_pool(states, batch["attention_mask"]))


class TextAdapter(nn.Module):
    """A small trainable transformer on top of frozen token states: ``Linear(in_dim -> dim)``, then a 2-layer BERT
    (``BertConfig``, fed through ``inputs_embeds``) whose self-attention can combine words.

    Why: a frozen encoder's states are fixed features, and cross-attention reads them through *linear* key and
    value maps. Whether the colour word in "a red circle right of a blue square" belongs to the left or the right
    object depends on other words (the relation, the template), and MiniLM's state of that word does not hold
    the answer linearly (a linear probe gets ~71 %, a small MLP ~94 %). The adapter lets the denoiser compute
    such features while the language knowledge stays frozen. Imagen's frozen T5-XXL (4.6 B parameters) needs no
    adapter; a 22 M-parameter MiniLM at toy scale does. The adapter has the scratch encoder's size (2 x 128), so
    ``shapes_minilm`` vs ``shapes_scratch`` compares frozen pretrained features vs learned word embeddings.
    """

    def __init__(self, in_dim: int, dim: int = 128, layers: int = 2, heads: int = 4, max_tokens: int = 32):
        super().__init__()
        self.dim = dim
        self.project = nn.Linear(in_dim, dim)
        self.bert = small_bert(1, dim, layers, heads, max_tokens)  # fed inputs_embeds: one unused word embedding

    def forward(self, enc: TextEncoding) -> TextEncoding:
        states = self.bert(inputs_embeds=self.project(enc.states.float()),
                           attention_mask=enc.mask).last_hidden_state
        return TextEncoding(states, enc.mask, enc.pooled)
