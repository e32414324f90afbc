"""Mini DALL-E: one decoder-only transformer over [caption tokens, image tokens] (Ramesh et al. 2021).

The transformer is ``transformers``' GPT-2 (``GPT2Config`` / ``GPT2LMHeadModel``, random weights), with its
absolute position table replaced by DALL-E's split position embeddings (:class:`t2ilib.dalle.stream.StreamPositions`:
1-D for text, row + column for the image grid). Everything else -- causal self-attention, the key-value cache,
``generate`` with temperature / top-k / top-p and classifier-free guidance -- is GPT-2's and ``transformers``'.

Training maximises the log-likelihood of the whole stream, text and image, with DALL-E's weights (Sec. 2.2: "we
normalize the cross-entropy losses for the text and image tokens by the total number of each kind in a batch of
data ... 1/8 for the text and 7/8 for the image"):

    loss = 1/8 * mean_{text positions} CE(next token) + 7/8 * mean_{image positions} CE(next token)

Images become tokens through a shipped image tokenizer of chapter 3 (32 x 32 RGB -> 8 x 8 codes of 256), which the
model names (``image_tokenizer``: ``shapes_vqvae_ft``, ``shapes_vqvae`` or ``shapes_dvae``) but does not contain: it
is loaded from its own checkpoint, frozen. ``shapes_vqvae_ft`` is ``shapes_vqvae`` with a longer-trained decoder and
the same encoder and codebook: the same codes, drawn more cleanly.

Where the miniature differs: DALL-E has 12 B parameters, 64 layers, 256 BPE text tokens, 32 x 32 image tokens from
a vocabulary of 8192 from a dVAE, sparse (row / column / convolutional) attention masks and 250 M web pairs; this
one has a few million parameters, dense causal attention, word tokens of the course's captions and 8 x 8 image
tokens from a VQ-VAE (the course's dVAE rounds off small shapes, which caps what any model drawing through it can
get right; chapter 3 measures both tokenizers).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel

from t2ilib.dalle.stream import StreamPositions, image_codes, image_token_ids
from t2ilib.model_spec import Describable
from t2ilib.text.encoders import tokenize
from t2ilib.text.tokenizers import SPECIAL_TOKENS, check_prompt, word_tokenizer_from_vocab

TEXT_WEIGHT, IMAGE_WEIGHT = 1 / 8, 7 / 8


def stream_cross_entropy(logits: torch.Tensor, ids: torch.Tensor, text_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(text CE, image CE): next-token cross-entropy on a stream (N, L) with logits (N, L, V), averaged separately
    over the predictions of text tokens (positions 1 .. T-1) and of image tokens (T .. L-1; the first image token
    is predicted from the last text position)."""
    ce = F.cross_entropy(logits[:, :-1].float().transpose(1, 2), ids[:, 1:], reduction="none")  # (N, L - 1)
    t = text_len - 1
    return ce[:, :t].mean(), ce[:, t:].mean()


def stream_loss(logits: torch.Tensor, ids: torch.Tensor, text_len: int) -> torch.Tensor:
    """DALL-E's training loss: 1/8 of the text cross-entropy + 7/8 of the image cross-entropy."""
    text, image = stream_cross_entropy(logits, ids, text_len)
    return TEXT_WEIGHT * text + IMAGE_WEIGHT * image


class MiniDalle(Describable, nn.Module):
    """Caption -> 8 x 8 image tokens, autoregressively. ``text_vocab``: the word tokenizer's words in id order."""

    def __init__(self, text_vocab: tuple[str, ...], text_len: int = 18, grid: int = 8, image_vocab: int = 256,
                 width: int = 256, layers: int = 6, heads: int = 8, image_tokenizer: str = "shapes_vqvae_ft"):
        super().__init__()
        if tuple(text_vocab[:len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(f"text_vocab: expected the special tokens {SPECIAL_TOKENS} first")
        self.tokenizer = word_tokenizer_from_vocab({w: i for i, w in enumerate(text_vocab)})
        self.text_vocab, self.text_len, self.grid, self.image_vocab = tuple(text_vocab), text_len, grid, image_vocab
        self.image_tokenizer_name = image_tokenizer
        config = GPT2Config(vocab_size=len(text_vocab) + image_vocab, n_positions=text_len + grid * grid,
                            n_embd=width, n_layer=layers, n_head=heads, resid_pdrop=0.0, embd_pdrop=0.0,
                            attn_pdrop=0.0, bos_token_id=self.tokenizer.cls_token_id, eos_token_id=None,
                            pad_token_id=self.tokenizer.pad_token_id)
        self.gpt = GPT2LMHeadModel(config)
        self.gpt.transformer.wpe = StreamPositions(text_len, grid, width)
        self.gpt.generation_config.eos_token_id = None
        self.gpt.generation_config.pad_token_id = self.tokenizer.pad_token_id
        # The caption slot always has text_len ids, [PAD] included, and the model attends to all of them in training
        # and sampling alike: no attention mask is wanted. With a pad id in the model's config, transformers would
        # warn on every guided sampling that padded ids came without a mask (it drops the all-ones mask we pass).
        self.gpt.config.pad_token_id = None

    # ------------------------------------------------------------------------------------------- the stream
    @property
    def offset(self) -> int:
        """Stream id of image code 0 (= the size of the text vocabulary)."""
        return len(self.text_vocab)

    @property
    def image_len(self) -> int:
        return self.grid * self.grid

    @property
    def max_tokens(self) -> int:
        """The longest caption, in tokens with [CLS] and [SEP] (the text part of the stream)."""
        return self.text_len

    def check_caption(self, caption: str) -> str:
        return check_prompt(caption, self.tokenizer, self.text_vocab[len(SPECIAL_TOKENS):], self.text_len,
                            examples=("a small red circle on the left",
                                      "a large blue square left of a small green triangle"))

    def text_ids(self, captions: list[str]) -> torch.Tensor:
        """(N, T) ids: [CLS] caption [SEP] padded with [PAD] to T. The empty caption "" is the null condition."""
        if isinstance(captions, str):
            raise TypeError("captions: expected a list of strings, got one string (wrap it in a list)")
        checked = [self.check_caption(c) if c.strip() else "" for c in captions]
        return tokenize(self.tokenizer, checked, self.text_len, self.gpt.device)["input_ids"]

    def stream(self, captions: list[str], codes: torch.Tensor) -> torch.Tensor:
        """(N, T + G*G) ids: the caption's tokens, then the image's codes offset by the text vocabulary."""
        if len(captions) != len(codes):
            raise ValueError(f"codes: expected one grid per caption ({len(captions)}), got {len(codes)}")
        if tuple(codes.shape[1:]) != (self.grid, self.grid):
            raise ValueError(f"codes: expected grids of {self.grid} x {self.grid}, got {tuple(codes.shape[1:])}")
        return torch.cat([self.text_ids(captions), image_token_ids(codes.to(self.gpt.device), self.offset)], 1)

    # ------------------------------------------------------------------------------------------- training
    def logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self.gpt(input_ids=ids).logits

    def loss_terms(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(text CE, image CE) of next-token prediction on a stream batch, each averaged over its own positions."""
        return stream_cross_entropy(self.logits(ids), ids, self.text_len)

    def loss(self, captions: list[str], codes: torch.Tensor) -> tuple[torch.Tensor, dict]:
        text, image = self.loss_terms(self.stream(captions, codes))
        return TEXT_WEIGHT * text + IMAGE_WEIGHT * image, {"text_ce": text.detach(), "image_ce": image.detach()}

    # ------------------------------------------------------------------------------------------- images
    @property
    def image_tokenizer(self) -> nn.Module:
        """The frozen image tokenizer that turns images into codes and back (from its own shipped checkpoint)."""
        from t2ilib.checkpoint import frozen_pretrained

        return frozen_pretrained(self.image_tokenizer_name)

    @torch.no_grad()
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, 32, 32) in [-1, 1] -> (N, G, G) codes."""
        return self.image_tokenizer.encode(images.cpu()).to(self.gpt.device)

    @torch.no_grad()
    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        return self.image_tokenizer.decode(codes.cpu())

    def codes_from_ids(self, ids: torch.Tensor) -> torch.Tensor:
        return image_codes(ids, self.offset, self.grid)
