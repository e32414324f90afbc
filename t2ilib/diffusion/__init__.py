"""Diffusion models: noise schedules, the forward process and its posterior, what the network predicts, the
training objective, the DDPM / DDIM samplers, classifier-free guidance and thresholding. Timesteps use the ``diffusers`` convention (0..T-1)."""

from t2ilib.diffusion.denoiser import Denoiser, DiffusionModel
from t2ilib.diffusion.forward import expand_like, posterior_mean_variance, q_sample, q_step
from t2ilib.diffusion.guidance import (classifier_free_guidance, drop_condition, dynamic_threshold, guidance_scale,
                                       guided_model, static_threshold)
from t2ilib.diffusion.parameterization import (PREDICTIONS, eps_from_v, eps_from_x0, prediction_target, velocity,
                                               x0_and_eps, x0_from_eps, x0_from_v)
from t2ilib.diffusion.samplers import ddim_sigma, ddim_step, ddpm_step, sample
from t2ilib.diffusion.schedules import NoiseSchedule, cosine_alpha_bar, cosine_betas, linear_betas
from t2ilib.diffusion.training import diffusion_loss, noised_batches

__all__ = ["Denoiser", "DiffusionModel", "classifier_free_guidance", "drop_condition", "dynamic_threshold", "guidance_scale", "guided_model",
           "static_threshold", "expand_like", "posterior_mean_variance", "q_sample", "q_step", "PREDICTIONS", "eps_from_v",
           "eps_from_x0", "prediction_target", "velocity", "x0_and_eps", "x0_from_eps", "x0_from_v", "ddim_sigma",
           "ddim_step", "ddpm_step", "sample", "NoiseSchedule", "cosine_alpha_bar", "cosine_betas", "linear_betas",
           "diffusion_loss", "noised_batches"]
