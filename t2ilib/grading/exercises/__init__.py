"""Every graded exercise, registered on import (see :mod:`t2ilib.grading.core`)."""

from t2ilib.grading.exercises import clip, dalle, diffusion, gan_vae_vq, imagen, questions, unclip  # noqa: F401
