"""Recipes for the latent-variable chapter's shipped checkpoints.

* ``digit_vae`` -- the convolutional VAE (16-d latent, Bernoulli decoder) on dynamically binarised MNIST; graded by
  test-set bits per dimension from the importance-weighted bound (Burda et al. 2016), lower is better.
* ``shapes_dvae`` -- DALL-E's discrete VAE on the 32 px shapes world: every image becomes an 8 x 8 grid of tokens
  from a vocabulary of 256. This is the image tokenizer of the DALL-E chapter (load it with
  ``load_pretrained("shapes_dvae")``). Graded by the PSNR of images rebuilt from their tokens, on test scenes.
* ``shapes_vqvae`` -- a VQ-VAE with the same grid and vocabulary (8 x 8 tokens of 256), trained with dead-code
  restarts. Graded the same way. The judge reads its round trips right far more often than the dVAE's (the dVAE
  rounds off corners: squares and hexagons come back as circles).
* ``shapes_vqvae_ft`` -- ``shapes_vqvae`` with its decoder alone fine-tuned for four times as many steps (encoder and
  codebook frozen, like Stable Diffusion's fine-tuned VAE decoders): every image keeps exactly the tokens it had, so
  a model trained on ``shapes_vqvae`` tokens draws through it unchanged, and the judge reads more of its images
  right. The DALL-E chapter decodes through it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from t2ilib.data import ShapesWorld, load_dataset
from t2ilib.eval.metrics import psnr
from t2ilib.recipes import Recipe, register
from t2ilib.vae import (VQVAE, ConvVAE, DiscreteVAE, RestartingVQLoss, annealed_batches, binarized_batches,
                        binarized_test_digits, bits_per_dim, dvae_loss, elbo_terms, importance_weighted_bound,
                        decoder_loss, freeze_tokens, perplexity, vae_loss)

DIGIT_VAE_CONFIG = dict(steps=12000, lr=1e-3, warmup_steps=200, lr_schedule="cosine", grad_clip=5.0, log_every=50,
                        checkpoint_every=1000)
DIGIT_VAE_BATCH = 128
SHAPES_DVAE_CONFIG = dict(steps=6000, lr=1e-3, warmup_steps=200, lr_schedule="cosine", grad_clip=1.0,
                          log_every=50, checkpoint_every=500)
SHAPES_DVAE = dict(vocab_size=256, embed_dim=32, width=64, batch=128, tau_start=1.0, tau_end=1 / 16, kl_weight=1.0,
                   kl_warmup=0)  # constant KL weight: warming it up from 0 (as DALL-E does) collapsed the codebook
SHAPES_VQVAE_CONFIG = dict(steps=5000, lr=1e-3, warmup_steps=200, lr_schedule="cosine", grad_clip=1.0,
                           log_every=50, checkpoint_every=500)
SHAPES_VQVAE_FT_CONFIG = dict(steps=20000, lr=3e-4, warmup_steps=50, lr_schedule="cosine", grad_clip=1.0,
                              log_every=50, checkpoint_every=500)
SHAPES_VQVAE_FT_SEED = 1  # a scene stream the tokenizer was not trained on (shapes_vqvae: seed 0)
SHAPES_VQVAE = dict(n_codes=256, code_dim=32, width=64, res_blocks=3, batch=128, restart_every=100,
                    restart_until=0.8)  # no restarts in the last fifth of training: the codebook settles


def build_digit_vae() -> ConvVAE:
    return ConvVAE(latent_dim=16, width=32)


def digit_vae_batches(model, device):
    return binarized_batches(load_dataset("mnist", "train").tensors(device)[0], DIGIT_VAE_BATCH)


@torch.no_grad()
def evaluate_digit_vae(model, device, n_iwae: int = 1000, k: int = 64) -> dict:
    """Test ELBO and importance-weighted log-likelihood bound, in nats and bits per dimension (fixed seeds)."""
    model.eval()
    x = binarized_test_digits(device=device)
    g = torch.Generator().manual_seed(0)
    terms = [elbo_terms(model, x[i:i + 1000], g) for i in range(0, len(x), 1000)]
    elbo = torch.cat([t["elbo"] for t in terms]).mean().item()
    kl = torch.cat([t["kl"] for t in terms]).mean().item()
    iw = torch.cat([importance_weighted_bound(model, x[i:i + 250], k, g) for i in range(0, n_iwae, 250)])
    return {"test_elbo_nats": round(elbo, 3), "test_kl_nats": round(kl, 3),
            "test_elbo_bits_per_dim": round(bits_per_dim(-elbo, 784), 5),
            f"test_iwae{k}_nats": round(iw.mean().item(), 3),
            "test_bits_per_dim": round(bits_per_dim(-iw.mean().item(), 784), 5), "n_iwae": n_iwae}


def build_shapes_dvae() -> DiscreteVAE:
    c = SHAPES_DVAE
    return DiscreteVAE(channels=3, vocab_size=c["vocab_size"], embed_dim=c["embed_dim"], width=c["width"])


def shapes_dvae_batches(model, device):
    """Shapes-world images (no captions) with the Gumbel-softmax temperature and KL weight of each step."""
    c = SHAPES_DVAE
    scenes = ShapesWorld(size=1_000_000, resolution=32, seed=0).batches(c["batch"])
    return annealed_batches(lambda step: (scenes(step).images.to(device),), SHAPES_DVAE_CONFIG["steps"],
                            c["tau_start"], c["tau_end"], c["kl_weight"], kl_warmup=c["kl_warmup"])


def build_shapes_vqvae() -> VQVAE:
    c = SHAPES_VQVAE
    return VQVAE(channels=3, n_codes=c["n_codes"], code_dim=c["code_dim"], width=c["width"], res_blocks=c["res_blocks"])


def shapes_vqvae_batches(model, device):
    """Shapes-world images (no captions) and the step, which the loss needs to time its dead-code restarts."""
    scenes = ShapesWorld(size=1_000_000, resolution=32, seed=0).batches(SHAPES_VQVAE["batch"])
    return lambda step: (scenes(step).images.to(device), step)


def shapes_vqvae_loss(model, device) -> RestartingVQLoss:
    c = SHAPES_VQVAE
    return RestartingVQLoss(c["restart_every"], int(c["restart_until"] * SHAPES_VQVAE_CONFIG["steps"]))


def build_shapes_vqvae_ft() -> VQVAE:
    """The shipped ``shapes_vqvae`` with its encoder and codebook frozen: the decoder is the part left to train."""
    from t2ilib.checkpoint import load_pretrained

    return freeze_tokens(load_pretrained("shapes_vqvae", "cpu").train())


def shapes_vqvae_ft_batches(model, device):
    scenes = ShapesWorld(size=1_000_000, resolution=32, seed=SHAPES_VQVAE_FT_SEED).batches(SHAPES_VQVAE["batch"])
    return lambda step: scenes(step).images.to(device)


@torch.no_grad()
def evaluate_tokenizer(model, device, n: int = 2000, split: str = "test", n_judged: int = 500) -> dict:
    """Round trip image -> tokens -> image on fixed shapes-world scenes: PSNR, MSE, code usage; and the fraction of
    ``n_judged`` one-object and two-object scenes whose rebuilt image the shapes judge still reads exactly as the
    caption says (it reads every original render right): the ceiling of any generator drawing through these tokens."""
    from t2ilib.checkpoint import load_pretrained
    from t2ilib.eval.shapes_probe import caption_matches

    model.eval()
    round_trip = lambda x: torch.cat([model.decode(model.encode(x[i:i + 500])) for i in range(0, len(x), 500)])  # noqa: E731
    images = ShapesWorld(size=n, resolution=32, split=split).batch(0, n).images.to(device)
    tokens = torch.cat([model.encode(images[i:i + 500]) for i in range(0, n, 500)])
    recon = torch.cat([model.decode(tokens[i:i + 500]) for i in range(0, n, 500)])
    out = {"token_psnr_db": round(psnr(recon, images), 3), "token_mse": round(F.mse_loss(recon, images).item(), 6),
           "codes_used": int(tokens.unique().numel()),
           "perplexity": round(perplexity(tokens, model.vocab_size).item(), 2),
           "grid": list(tokens.shape[1:]), "n_images": n}
    probe = load_pretrained("shapes_probe", "cpu")
    for k in (1, 2):
        b = ShapesWorld(size=n_judged, resolution=32, split=split, n_objects=k).batch(0, n_judged)
        ok = caption_matches(probe, round_trip(b.images.to(device)).cpu(), b.captions)
        out[f"judged round trip, {k} object{'s' if k > 1 else ''}"] = round(sum(ok) / n_judged, 4)
    out["n_judged"] = n_judged
    return out


register(Recipe(name="digit_vae", description="convolutional VAE on binarised MNIST (16-d latent)",
                build=build_digit_vae, config=DIGIT_VAE_CONFIG, loss=lambda model, device: vae_loss,
                batches=digit_vae_batches, evaluate=evaluate_digit_vae,
                metric="test_bits_per_dim", tolerance=0.002, higher_is_better=False))
register(Recipe(name="shapes_dvae", description="DALL-E-style dVAE tokenizer for the 32 px shapes world (8x8 tokens)",
                build=build_shapes_dvae, config=SHAPES_DVAE_CONFIG, loss=lambda model, device: dvae_loss,
                batches=shapes_dvae_batches, evaluate=evaluate_tokenizer,
                metric="token_psnr_db", tolerance=0.1, requires=("shapes_probe",)))
register(Recipe(name="shapes_vqvae", description="VQ-VAE tokenizer for the 32 px shapes world (8x8 tokens of 256)",
                build=build_shapes_vqvae, config=SHAPES_VQVAE_CONFIG, loss=shapes_vqvae_loss,
                batches=shapes_vqvae_batches, evaluate=evaluate_tokenizer,
                metric="token_psnr_db", tolerance=0.1, requires=("shapes_probe",)))
register(Recipe(name="shapes_vqvae_ft", description="shapes_vqvae with its decoder alone fine-tuned (same tokens)",
                build=build_shapes_vqvae_ft, config=SHAPES_VQVAE_FT_CONFIG, loss=lambda model, device: decoder_loss,
                batches=shapes_vqvae_ft_batches, evaluate=evaluate_tokenizer,
                metric="token_psnr_db", tolerance=0.1, requires=("shapes_vqvae", "shapes_probe")))
