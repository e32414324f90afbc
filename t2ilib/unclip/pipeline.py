"""unCLIP end to end, and what only unCLIP can do (Ramesh et al. 2022, Sec. 2-3).

    caption --CLIP text encoder--> z_t --prior--> z_i --decoder--> image

* :func:`generate`: a caption's image, through the prior (or, ``use_prior=False``, with the text embedding fed to
  the decoder in place of an image embedding -- what the prior is for).
* :func:`variations` (Sec. 3.1): encode an image with CLIP, decode its embedding again: the same "meaning" drawn
  again, the details the embedding does not hold left free. The paper starts from the image's own DDIM-inverted
  x_T and samples with DDIM eta > 0 (eta = 0 would give the image back); this miniature, whose decoder is not
  inverted, starts each variation from fresh noise.
* :func:`slerp` and :func:`interpolate` (Sec. 3.2): spherical interpolation between two image embeddings,
  decoded from one fixed x_T so only the embedding changes along the row.
* :func:`text_diff` (Sec. 3.3): move an image's embedding towards the difference of two captions' embeddings,
  z_d = normalise(z_t(new) - z_t(old)), z_theta = slerp(z_i, z_d, theta). The paper decodes every z_theta from the
  image's DDIM-inverted x_T, so theta = 0 gives the image back; decoded from one fixed random x_T instead (as here),
  theta = 0 gives a variation of it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def slerp(a: torch.Tensor, b: torch.Tensor, w: float | torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of unit vectors (Shoemake 1985): sin((1-w) W) / sin W * a + sin(w W) / sin W * b,
    W = angle(a, b); w = 0 gives a, w = 1 gives b, and every point stays on the unit sphere."""
    a, b = F.normalize(a.float(), dim=-1), F.normalize(b.float(), dim=-1)
    w = torch.as_tensor(w, dtype=torch.float32, device=a.device)
    w = w[..., None] if w.ndim else w
    omega = torch.arccos((a * b).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    return (torch.sin((1 - w) * omega) * a + torch.sin(w * omega) * b) / torch.sin(omega)


@torch.no_grad()
def generate(prior, decoder, captions: list[str], *, use_prior: bool = True, prior_guidance: float = 1.0,
             decoder_guidance: float = 3.0, prior_steps: int = 25, steps: int = 25, candidates: int = 2,
             seed: int = 0) -> torch.Tensor:
    """Images (N, 3, R, R) for N captions: prior -> image embeddings -> decoder. ``use_prior=False`` decodes the
    captions' CLIP *text* embeddings directly (no prior)."""
    if isinstance(captions, str) or not captions:
        raise ValueError("captions: expected a non-empty list of strings")
    if use_prior:
        z = prior.sample_embeddings(list(captions), guidance=prior_guidance, steps=prior_steps,
                                    candidates=candidates, seed=seed)
    else:
        z = prior.clip.encode_text(list(captions))
    return decoder.generate(z, guidance=decoder_guidance, steps=steps, seed=seed)


class Unclip(nn.Module):
    """The prior and the decoder as one text-to-image model (each half is its own checkpoint):
    ``Unclip.pretrained()`` loads the shipped ``unclip_prior`` and ``unclip_decoder``."""

    def __init__(self, prior, decoder):
        super().__init__()
        if prior.embed_dim != decoder.embed_dim:
            raise ValueError(f"decoder: expected CLIP embeddings of the prior's size {prior.embed_dim}, got a decoder "
                             f"for {decoder.embed_dim}")
        self.prior, self.decoder = prior, decoder

    @classmethod
    def pretrained(cls, device: torch.device | str = "cpu") -> "Unclip":
        from t2ilib.checkpoint import load_pretrained

        return cls(load_pretrained("unclip_prior", device), load_pretrained("unclip_decoder", device)).eval()

    @property
    def tokenizer(self):
        return self.prior.clip.tokenizer

    @property
    def max_tokens(self) -> int:
        return self.prior.max_tokens

    def generate(self, captions: list[str], **options) -> torch.Tensor:
        """:func:`generate` with this prior and decoder."""
        return generate(self.prior, self.decoder, captions, **options)


@torch.no_grad()
def variations(decoder, clip, images: torch.Tensor, n: int = 4, *, guidance: float = 3.0, steps: int = 25,
               seed: int = 0) -> torch.Tensor:
    """(len(images) * n, 3, R, R): ``n`` decodings of each image's CLIP embedding, each from its own noise."""
    z = clip.encode_images(images).repeat_interleave(n, 0)
    return decoder.generate(z, guidance=guidance, steps=steps, seed=seed)


@torch.no_grad()
def interpolate(decoder, z_a: torch.Tensor, z_b: torch.Tensor, points: int = 7, *, guidance: float = 3.0,
                steps: int = 25, seed: int = 0) -> torch.Tensor:
    """(points, 3, R, R): the decodings of slerp(z_a, z_b, w) for w from 0 to 1, all from the same x_T."""
    w = torch.linspace(0, 1, points)
    z = slerp(z_a.reshape(1, -1).expand(points, -1), z_b.reshape(1, -1).expand(points, -1), w)
    r, c = decoder.resolution, decoder.unet.config["in_channels"]
    noise = torch.randn((1, c, r, r), generator=torch.Generator().manual_seed(seed)).expand(points, -1, -1, -1)
    return decoder.generate(z, guidance=guidance, steps=steps, noise=noise.contiguous())


def text_diff(clip, image_embed: torch.Tensor, old_caption: str, new_caption: str,
              thetas=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5)) -> torch.Tensor:
    """(len(thetas), D): slerp(z_i, z_d, theta) with z_d = normalise(z_t(new) - z_t(old)) (Sec. 3.3; the paper
    takes theta up to 0.25-0.5)."""
    z_old, z_new = clip.encode_text([old_caption, new_caption])
    z_d = F.normalize(z_new - z_old, dim=-1)
    t = torch.as_tensor(thetas, dtype=torch.float32)
    return slerp(image_embed.reshape(1, -1).expand(len(t), -1), z_d.reshape(1, -1).expand(len(t), -1), t)
