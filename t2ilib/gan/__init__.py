"""Generative adversarial networks: the losses, the theory on toy densities, DCGAN and the alternating loop."""

from t2ilib.gan.dcgan import DCGANDiscriminator, DCGANGenerator
from t2ilib.gan.losses import (LOG4, critic_loss_wgan, discriminator_accuracy, discriminator_loss,
                               generator_logit_gradient, generator_loss_nonsaturating, generator_loss_saturating,
                               generator_loss_wgan, gradient_penalty, value_function)
from t2ilib.gan.theory import (criterion_from_jsd, jensen_shannon_divergence, kl_divergence, optimal_discriminator,
                               value_by_quadrature, virtual_training_criterion)
from t2ilib.gan.toys import (MinibatchStd, density_on_grid, mixture_1d, mlp_discriminator, mlp_generator,
                             mode_coverage, ring_batches, ring_centres, sample_ring)
from t2ilib.gan.trainer import GAN, GANConfig, GANTrainer, sample, split_batch

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "LOG4", "critic_loss_wgan", "discriminator_accuracy",
           "discriminator_loss", "generator_logit_gradient", "generator_loss_nonsaturating",
           "generator_loss_saturating", "generator_loss_wgan", "gradient_penalty", "value_function",
           "criterion_from_jsd", "jensen_shannon_divergence", "kl_divergence", "optimal_discriminator",
           "value_by_quadrature", "virtual_training_criterion", "MinibatchStd", "density_on_grid", "mixture_1d",
           "mlp_discriminator", "mlp_generator", "mode_coverage", "ring_batches", "ring_centres", "sample_ring",
           "GAN", "GANConfig", "GANTrainer", "sample", "split_batch"]
