"""t2ilib: the shared library of the t2i course.

The notebooks import everything they share from here: data (MNIST, Fashion-MNIST, emoji, the shapes world),
the one training loop, checkpoints, plotting, and (chapter by chapter) the models.
"""

from t2ilib.device import get_device, seed_everything
from t2ilib.images import to_image_range, to_uint8

__all__ = ["get_device", "seed_everything", "to_image_range", "to_uint8"]
__version__ = "0.1.0"
