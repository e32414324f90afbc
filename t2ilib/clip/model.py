"""A small CLIP: a text transformer and a Vision Transformer trained to embed matching captions and images close
together (Radford et al. 2021).

The networks are ``transformers``' own :class:`~transformers.CLIPModel`, built from a small ``CLIPConfig`` and
trained from random weights (no pretrained CLIP exists offline, and at this size nothing would transfer anyway):

* the **image encoder** is a ViT (Dosovitskiy et al. 2021, Eq. 1-4): the image is cut into P x P patches, each
  flattened and mapped by one linear layer to a D-dim token (a Conv2d with kernel = stride = P is exactly that
  linear map), a learned class token is put in front, learned position embeddings are added, and a stack of
  transformer encoder layers (bidirectional self-attention + MLP) mixes the tokens. The class token's final state,
  layer-normed and linearly projected, is the image embedding. A ViT is an encoder: it maps an image to vectors
  and generates nothing.
* the **text encoder** is a causal transformer over the course's word tokens ([CLS] caption [SEP]); its state at
  [SEP] (the first end-of-text token, as in CLIP) projected to the shared space is the caption embedding.

Both embeddings are L2-normalised; their dot product is the cosine similarity the loss
(:func:`t2ilib.clip.loss.clip_loss`) and every use of CLIP (zero-shot classification, retrieval, reranking,
CLIPScore) read. The one thing the course adds to ``CLIPModel`` is the clamp of the logit scale at 100 (the original
clamps the parameter after each optimiser step; ``CLIPModel`` itself does not clamp).

Where the miniature differs from CLIP: ~1 M parameters instead of 150-430 M; 32 x 32 images, 4 x 4 patches (CLIP:
224 px, 14-32 px patches); a word-level vocabulary of the course's captions instead of a 49 152-piece BPE; a few
hundred thousand synthetic pairs instead of 400 million web pairs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import CLIPConfig, CLIPModel

from t2ilib.clip.loss import INIT_TEMPERATURE, MAX_LOGIT_SCALE, logit_scale_value
from t2ilib.model_spec import Describable
from t2ilib.text.encoders import tokenize
from t2ilib.text.tokenizers import SPECIAL_TOKENS, check_prompt, word_tokenizer_from_vocab


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, (H/P)(W/P), C P P): the image cut into P x P patches in raster order (left to right, top
    to bottom), each flattened channel-major, as ViT's patch embedding reads them (Dosovitskiy et al. 2021, Eq. 1:
    x_p in R^{N x (P^2 C)})."""
    n, c, h, w = images.shape
    if h % patch_size or w % patch_size:
        raise ValueError(f"patch_size: expected a divisor of the image size {h} x {w}, got {patch_size}")
    grid = images.reshape(n, c, h // patch_size, patch_size, w // patch_size, patch_size)
    return grid.permute(0, 2, 4, 1, 3, 5).reshape(n, (h // patch_size) * (w // patch_size), c * patch_size ** 2)


class ConvStem(nn.Module):
    """A *hybrid* ViT's patch embedding (Dosovitskiy et al. 2021, Sec. 3.1, "Hybrid Architecture"): two 3 x 3
    convolutions read each pixel's neighbourhood before a P x P, stride-P convolution cuts the feature map into the
    same grid of tokens as the plain patch embedding. ``weight`` is the last layer's (``transformers`` reads its
    dtype)."""

    def __init__(self, channels: int, width: int, patch_size: int):
        super().__init__()
        hidden = width // 2
        self.layers = nn.Sequential(nn.Conv2d(channels, hidden, 3, padding=1), nn.GELU(),
                                    nn.Conv2d(hidden, hidden, 3, padding=1), nn.GELU(),
                                    nn.Conv2d(hidden, width, patch_size, stride=patch_size))

    @property
    def weight(self) -> torch.Tensor:
        return self.layers[-1].weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class CLIP(Describable, nn.Module):
    """Captions and images -> L2-normalised embeddings in one ``embed_dim``-dim space.

    ``vocab`` lists the words of the word-level tokenizer in id order (it starts with the special tokens), so the
    checkpoint's manifest alone rebuilds the tokenizer too. Images are float ``(N, channels, image_size,
    image_size)`` in [-1, 1].
    """

    def __init__(self, vocab: tuple[str, ...], image_size: int = 32, patch_size: int = 4, channels: int = 3,
                 width: int = 128, layers: int = 4, heads: int = 4, text_width: int = 128, text_layers: int = 3,
                 text_heads: int = 4, max_tokens: int = 24, embed_dim: int = 128, stem: str = "patch"):
        super().__init__()
        if stem not in ("patch", "conv"):
            raise ValueError(f"stem: expected 'patch' (ViT's linear patch embedding) or 'conv' (a hybrid ViT's "
                             f"convolutional stem), got {stem!r}")
        if tuple(vocab[:len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(f"vocab: expected the special tokens {SPECIAL_TOKENS} first, got {tuple(vocab[:4])}")
        if image_size % patch_size:
            raise ValueError(f"patch_size: expected a divisor of image_size={image_size}, got {patch_size}")
        self.tokenizer = word_tokenizer_from_vocab({w: i for i, w in enumerate(vocab)})
        self.vocab, self.max_tokens, self.image_size, self.channels = tuple(vocab), max_tokens, image_size, channels
        config = CLIPConfig(
            text_config=dict(vocab_size=len(vocab), hidden_size=text_width, intermediate_size=4 * text_width,
                             num_hidden_layers=text_layers, num_attention_heads=text_heads,
                             max_position_embeddings=max_tokens, pad_token_id=self.tokenizer.pad_token_id,
                             bos_token_id=self.tokenizer.cls_token_id, eos_token_id=self.tokenizer.sep_token_id),
            vision_config=dict(hidden_size=width, intermediate_size=4 * width, num_hidden_layers=layers,
                               num_attention_heads=heads, image_size=image_size, patch_size=patch_size,
                               num_channels=channels),
            projection_dim=embed_dim, logit_scale_init_value=math.log(1 / INIT_TEMPERATURE))
        self.clip = CLIPModel(config)
        self.stem = stem
        if stem == "conv":
            self.clip.vision_model.embeddings.patch_embedding = ConvStem(channels, width, patch_size)

    @property
    def logit_scale(self) -> torch.Tensor:
        """s = exp(t), clamped at 100: the inverse temperature of the contrastive softmax."""
        return logit_scale_value(self.clip.logit_scale, MAX_LOGIT_SCALE)

    def check_caption(self, caption: str) -> str:
        """The caption stripped, or one clear error (empty, unknown words, too long)."""
        return check_prompt(caption, self.tokenizer, self.vocab[len(SPECIAL_TOKENS):], self.max_tokens,
                            examples=("a small red circle on the left", "a handwritten digit seven"))

    def tokens(self, captions: list[str]) -> dict[str, torch.Tensor]:
        if isinstance(captions, str):
            raise TypeError("captions: expected a list of strings, got one string (wrap it in a list)")
        device = self.clip.logit_scale.device
        return tokenize(self.tokenizer, [self.check_caption(c) for c in captions], self.max_tokens, device)

    def encode_text(self, captions: list[str]) -> torch.Tensor:
        """(N, embed_dim) unit vectors, one per caption."""
        return F.normalize(self.clip.get_text_features(**self.tokens(captions)).pooler_output.float(), dim=-1)

    def encode_text_states(self, captions: list[str]) -> dict[str, torch.Tensor]:
        """The caption embeddings (``embeds``, as :meth:`encode_text`) with the text transformer's final token states
        (``states``, (N, max_tokens, text_width)) and their ``mask`` (1 = token, 0 = padding): what unCLIP's prior
        reads ("the encoded text" and "the CLIP text embedding")."""
        tokens = self.tokens(captions)
        out = self.clip.get_text_features(**tokens)
        return {"embeds": F.normalize(out.pooler_output.float(), dim=-1), "states": out.last_hidden_state.float(),
                "mask": tokens["attention_mask"]}

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """(N, embed_dim) unit vectors, one per image (float (N, C, H, W) in [-1, 1])."""
        expected = (self.channels, self.image_size, self.image_size)
        if not torch.is_tensor(images) or images.ndim != 4 or tuple(images.shape[1:]) != expected:
            got = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
            raise ValueError(f"images: expected a float tensor (N, {', '.join(map(str, expected))}) in [-1, 1], "
                             f"got {got}")
        images = images.to(self.clip.logit_scale.device, torch.float32)
        return F.normalize(self.clip.get_image_features(pixel_values=images).pooler_output.float(), dim=-1)

    @torch.no_grad()
    def similarity(self, images: torch.Tensor, captions: list[str]) -> torch.Tensor:
        """(N images, M captions) cosine similarities."""
        return self.encode_images(images) @ self.encode_text(captions).T
