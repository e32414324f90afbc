"""Latent-variable models: the VAE and its ELBO, and images as grids of tokens (VQ-VAE, DALL-E's dVAE).

Both discrete models are *image tokenizers* with the same interface, which the DALL-E chapter uses:
``encode(images) -> (N, h, w) int64 tokens``, ``decode(tokens) -> images in [-1, 1]``, ``vocab_size``.
"""

from t2ilib.vae.conv import ConvDecoder, ConvEncoder, ResidualBlock
from t2ilib.vae.dvae import (DiscreteVAE, annealed_batches, cosine_anneal, dvae_loss, gumbel_softmax,
                             kl_to_uniform)
from t2ilib.vae.estimators import (gradient_estimator_stats, reparameterization_gradients,
                                   score_function_gradients)
from t2ilib.vae.gaussian import (gaussian_kl, gaussian_kl_monte_carlo, gaussian_log_density, reparameterize)
from t2ilib.vae.linear_gaussian import LinearGaussianModel
from t2ilib.vae.vae import (ConvVAE, bernoulli_log_likelihood, binarize, binarized_batches, binarized_test_digits,
                            bits_per_dim, elbo_terms, importance_weighted_bound, vae_loss)
from t2ilib.vae.vq import (VQVAE, Quantized, RestartingVQLoss, VectorQuantizer, decoder_loss, freeze_tokens,
                           perplexity, vqvae_loss)

__all__ = ["ConvDecoder", "ConvEncoder", "ResidualBlock", "DiscreteVAE", "annealed_batches", "cosine_anneal",
           "dvae_loss", "gumbel_softmax", "kl_to_uniform", "gradient_estimator_stats",
           "reparameterization_gradients", "score_function_gradients", "gaussian_kl", "gaussian_kl_monte_carlo",
           "gaussian_log_density", "reparameterize", "LinearGaussianModel", "ConvVAE", "bernoulli_log_likelihood",
           "binarize", "binarized_batches", "binarized_test_digits", "bits_per_dim", "elbo_terms",
           "importance_weighted_bound", "vae_loss",
           "VQVAE", "Quantized", "RestartingVQLoss", "VectorQuantizer", "decoder_loss", "freeze_tokens", "perplexity",
           "vqvae_loss"]
