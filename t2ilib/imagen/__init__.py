"""Mini Imagen (chapter 9): a cascade of a base text-to-image model and a text-conditioned super-resolution model
trained with noise conditioning augmentation."""

from t2ilib.imagen.augmentation import downsample, noise_augment, upsample
from t2ilib.imagen.cascade import Cascade, generate_cascade
from t2ilib.imagen.superres import SuperResUNet, superres_batches, upscale

__all__ = ["Cascade", "SuperResUNet", "downsample", "generate_cascade", "noise_augment", "superres_batches", "upsample",
           "upscale"]
