"""DALL-E's token stream: a caption's text tokens followed by an image's grid of codes (chapter 3's tokenizer), as
one sequence.

Ramesh et al. 2021, Sec. 2.2 and Appendix B.1: up to 256 BPE text tokens and 32 x 32 = 1024 image tokens are
concatenated and modelled autoregressively by one transformer. The course's stream:

    position   0 .. T-1                    T .. T + G*G - 1
    token      [CLS] caption [SEP] [PAD]...   image codes in raster order (row by row, left to right)
    id         word id (0 .. V_text - 1)      V_text + code (code in 0 .. V_image - 1)

One vocabulary of V_text + V_image ids: image code c has id V_text + c, so text and image never share an id.
The caption is padded to T tokens with [PAD], and the padding is *attended to* like any token: DALL-E pads with a
learned padding token for each of the 256 text positions (one learned pad token + a learned position embedding
per position is exactly that), so every caption's image part starts at the same position T.

Position embeddings differ by part, as in DALL-E: text tokens get a learned embedding per position (1-D); image
tokens get a learned *row* embedding plus a learned *column* embedding (2-D, factorised), so the model knows which
image token sits above which. :class:`StreamPositions` computes both from the position index; it replaces the
absolute position table of ``transformers``' GPT-2, so GPT-2's own forward, key-value cache and ``generate`` run
unchanged.
"""

from __future__ import annotations

import torch
from torch import nn


class StreamPositions(nn.Module):
    """position index p -> text_position[p] if p < T, else row[(p - T) // G] + column[(p - T) % G]."""

    def __init__(self, text_len: int, grid: int, dim: int):
        super().__init__()
        self.text_len, self.grid = text_len, grid
        self.text = nn.Embedding(text_len, dim)
        self.row = nn.Embedding(grid, dim)
        self.column = nn.Embedding(grid, dim)
        for table in (self.text, self.row, self.column):
            nn.init.normal_(table.weight, std=0.01)

    @property
    def length(self) -> int:
        return self.text_len + self.grid * self.grid

    def forward(self, position_ids: torch.Tensor) -> torch.Tensor:
        if position_ids.numel() and (position_ids.min() < 0 or position_ids.max() >= self.length):
            raise ValueError(f"position_ids: expected 0 .. {self.length - 1} (T = {self.text_len} text tokens + "
                             f"{self.grid} x {self.grid} image tokens), got {position_ids.min().item()} .. "
                             f"{position_ids.max().item()}")
        k = (position_ids - self.text_len).clamp(min=0)
        image = self.row(k // self.grid) + self.column(k % self.grid)
        text = self.text(position_ids.clamp(max=self.text_len - 1))
        return torch.where((position_ids < self.text_len).unsqueeze(-1), text, image)


def image_token_ids(codes: torch.Tensor, text_vocab: int) -> torch.Tensor:
    """Image codes (N, G, G) -> stream ids (N, G*G) in raster order, offset by the text vocabulary."""
    if codes.ndim != 3 or codes.shape[1] != codes.shape[2]:
        raise ValueError(f"codes: expected a square grid (N, G, G), got {tuple(codes.shape)}")
    return codes.reshape(len(codes), -1).long() + text_vocab


def image_codes(ids: torch.Tensor, text_vocab: int, grid: int) -> torch.Tensor:
    """Stream ids of the image part (N, G*G) -> image codes (N, G, G)."""
    codes = ids.long() - text_vocab
    if codes.min() < 0:
        raise ValueError("ids: the image part holds a text token (every id must be >= the text vocabulary size)")
    return codes.reshape(len(ids), grid, grid)
