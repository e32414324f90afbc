"""The unCLIP diffusion prior: a caption's CLIP text embedding -> a CLIP *image* embedding (Ramesh et al. 2022, Sec. 2.2).

CLIP puts a caption and its images near each other, but not on the same point: a text embedding z_t is not an
image embedding z_i (the cosine between matching pairs is far below 1). The prior learns p(z_i | caption) so that
the decoder, which was only ever shown image embeddings, receives one. DALL-E 2's diffusion prior is

    "a decoder-only Transformer with a causal attention mask on a sequence consisting of, in order: the encoded
    text, the CLIP text embedding, an embedding for the diffusion timestep, the noised CLIP image embedding, and a
    final embedding whose output from the Transformer is used to predict the unnoised CLIP image embedding."

and it predicts the clean embedding directly with a mean-squared error (the paper's L_prior, Sec. 2.2):

    L_prior = E_{t, z_i^(t) ~ q_t} || f_theta(z_i^(t), t, y) - z_i ||^2

The transformer here is ``transformers``' GPT-2 (``GPT2Model`` from a small ``GPT2Config``, random weights) fed
``inputs_embeds``: the sequence above, each part mapped to the transformer's width by its own linear layer (the
text's token states come from the frozen CLIP's text transformer, padding masked out). The diffusion is the course's
own (schedule, DDIM, :mod:`t2ilib.diffusion`) with ``prediction="sample"`` (x_0). Classifier-free guidance: 10 % of
the training captions are dropped (their token states masked out, their text embedding replaced by a learned null
vector). At sampling time DALL-E 2 draws two image embeddings per caption and keeps the one with the higher dot
product with z_t (``candidates``).

Scale: CLIP embeddings are unit vectors, whose components are ~ 1/sqrt(D) -- tiny next to the unit-variance noise
of the forward process. The prior works on sqrt(D) * z (components of variance ~1), as the open-source DALL-E 2
reimplementation (DALLE2-pytorch's ``image_embed_scale``) does; the paper scales its 1024-dim embeddings by 17.2 "to
match the empirical variance of RGB pixel values" (App. C). :meth:`DiffusionPrior.sample_embeddings` returns unit
vectors again.

Where the miniature differs: the paper's prior is a 1 B-parameter transformer over 256 BPE tokens and the 1024-dim
embeddings of a ViT-H/16 CLIP (reduced to 319 principal components), trained on about 250 million images and
sampled with 64 strided steps (App. C); this one is under a million parameters over the course's CLIP (96-dim,
word tokens), trained on generated shapes scenes, sampled with 25 DDIM steps.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import GPT2Config, GPT2Model

from t2ilib.diffusion.denoiser import DiffusionModel
from t2ilib.nn.embeddings import TimeEmbedding

P_UNCOND = 0.1


class DiffusionPrior(DiffusionModel):
    """f_theta(z_i^(t), t, caption) -> z_i (scaled by sqrt(embed_dim)). ``clip``: the shipped CLIP whose text side
    encodes the captions and whose image embeddings the prior learns (named, not contained: loaded frozen).
    ``text_width`` and ``max_tokens`` are that CLIP's (its text transformer's width and caption length)."""

    def __init__(self, clip: str = "clip", embed_dim: int = 96, text_width: int = 96, max_tokens: int = 20,
                 width: int = 128, layers: int = 4, heads: int = 4, schedule: str = "cosine", num_steps: int = 1000,
                 prediction: str = "sample"):
        super().__init__(schedule, num_steps, prediction)
        self.clip_name, self.embed_dim, self.max_tokens = clip, embed_dim, max_tokens
        self.scale = embed_dim ** 0.5
        self.from_states = nn.Linear(text_width, width)
        self.from_text_embed = nn.Linear(embed_dim, width)
        self.time_embed = TimeEmbedding(width, width)
        self.from_noisy = nn.Linear(embed_dim, width)
        self.query = nn.Parameter(torch.randn(width) * 0.02)
        self.null_text_embed = nn.Parameter(torch.zeros(embed_dim))
        config = GPT2Config(vocab_size=1, n_positions=max_tokens + 4, n_embd=width, n_layer=layers, n_head=heads,
                            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=None, eos_token_id=None)
        self.transformer = GPT2Model(config)
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, embed_dim))

    # -------------------------------------------------------------------------------------------- conditioning
    @property
    def clip(self) -> nn.Module:
        """The frozen CLIP this prior was trained on (from its own shipped checkpoint)."""
        from t2ilib.checkpoint import frozen_pretrained

        return frozen_pretrained(self.clip_name)

    @torch.no_grad()
    def encode(self, captions: list[str], clip: nn.Module | None = None) -> dict[str, torch.Tensor]:
        """The conditioning of ``forward`` for captions: CLIP text embedding (unit vectors), token states, mask."""
        clip = clip or self.clip
        text = clip.encode_text_states(list(captions))
        device = self.query.device
        return {"text_embed": text["embeds"].to(device), "text_states": text["states"].to(device),
                "text_mask": text["mask"].to(device)}

    @staticmethod
    def null_like(cond: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The unconditional input for classifier-free guidance: every caption dropped."""
        return {**cond, "drop": torch.ones(len(cond["text_embed"]), dtype=torch.bool, device=cond["text_embed"].device)}

    # -------------------------------------------------------------------------------------------- the network
    def forward(self, z_t: torch.Tensor, t, text_embed: torch.Tensor, text_states: torch.Tensor,
                text_mask: torch.Tensor, drop: torch.Tensor | None = None) -> torch.Tensor:
        """The predicted clean (scaled) image embedding (N, D) from noisy ones ``z_t`` (N, D) at timesteps ``t``.
        ``drop`` (N,) bool: captions replaced by the null condition (condition dropout / the unconditional half of
        guidance)."""
        n, d = z_t.shape if z_t.ndim == 2 else (None, None)
        if d != self.embed_dim:
            raise ValueError(f"z_t: expected (N, {self.embed_dim}) noisy image embeddings, got {tuple(z_t.shape)}")
        if text_embed.shape != (n, d) or text_states.ndim != 3 or len(text_states) != n or text_mask.shape != \
                text_states.shape[:2] or text_states.shape[1] > self.max_tokens:
            raise ValueError(f"text_embed, text_states, text_mask: expected (N={n}, {d}), (N, L <= {self.max_tokens}, "
                             f"width) and (N, L), got {tuple(text_embed.shape)}, {tuple(text_states.shape)} and "
                             f"{tuple(text_mask.shape)}")
        t = torch.as_tensor(t, device=z_t.device)
        t = t.expand(n) if t.ndim == 0 else t
        mask = text_mask.float()
        if drop is not None:
            keep = (~drop.to(z_t.device)).float()
            text_embed = keep[:, None] * text_embed + (1 - keep[:, None]) * self.null_text_embed.to(text_embed.dtype)
            mask = mask * keep[:, None]
        seq = torch.cat([self.from_states(text_states), self.from_text_embed(text_embed * self.scale)[:, None],
                         self.time_embed(t)[:, None], self.from_noisy(z_t)[:, None],
                         self.query.expand(n, 1, -1).to(z_t.dtype)], 1)
        attention = torch.cat([mask, mask.new_ones(n, 4)], 1)
        h = self.transformer(inputs_embeds=seq, attention_mask=attention).last_hidden_state
        return self.out(h[:, -1])

    # -------------------------------------------------------------------------------------------- training
    def loss(self, image_embeds: torch.Tensor, cond: dict[str, torch.Tensor], generator: torch.Generator,
             p_uncond: float = P_UNCOND) -> torch.Tensor:
        """L_prior: MSE between the prediction and the clean scaled image embedding, t ~ U{0..T-1}, eps ~ N(0, I),
        with condition dropout (``p_uncond`` of the captions), all drawn from ``generator`` (CPU)."""
        from t2ilib.diffusion.forward import q_sample

        n = len(image_embeds)
        t = torch.randint(0, self.num_steps, (n,), generator=generator).to(image_embeds.device)
        eps = torch.randn(image_embeds.shape, generator=generator).to(image_embeds.device)
        drop = (torch.rand(n, generator=generator) < p_uncond).to(image_embeds.device)
        x0 = image_embeds * self.scale
        z_t = q_sample(self.schedule.to(image_embeds.device), x0, t, eps)
        return torch.nn.functional.mse_loss(self(z_t, t, drop=drop, **cond).float(), x0.float())

    # -------------------------------------------------------------------------------------------- sampling
    @torch.no_grad()
    def sample_embeddings(self, captions: list[str], *, guidance: float = 1.0, steps: int = 25, candidates: int = 2,
                          seed: int = 0, cond: dict | None = None) -> torch.Tensor:
        """(N, D) unit image embeddings for N captions: DDIM (eta 0) over the prior, classifier-free ``guidance``
        (1: none), the best of ``candidates`` draws per caption by dot product with the caption's text embedding."""
        from t2ilib.diffusion.guidance import guided_model

        if not (isinstance(candidates, int) and candidates >= 1):
            raise ValueError(f"candidates: expected an int >= 1, got {candidates!r}")
        if not (isinstance(guidance, (int, float)) and guidance >= 0):
            raise ValueError(f"guidance: expected a number >= 0 (1 = no guidance), got {guidance!r}")
        self.eval()
        cond = cond or self.encode(captions)
        n = len(cond["text_embed"])
        rep = {k: v.repeat_interleave(candidates, 0) for k, v in cond.items()}
        model = guided_model(self, {**rep, "drop": torch.zeros(n * candidates, dtype=torch.bool, device=self.device)},
                             self.null_like(rep), float(guidance))
        z = self.sample((n * candidates, self.embed_dim), model=model, sampler="ddim", steps=steps, clip_x0=False,
                        generator=torch.Generator().manual_seed(seed), progress=False)
        z = torch.nn.functional.normalize(z.float(), dim=-1).view(n, candidates, self.embed_dim)
        best = (z * cond["text_embed"].float()[:, None]).sum(-1).argmax(1)
        return z[torch.arange(n), best]
