"""Mini DALL-E 2 (chapter 8): unCLIP = the course's CLIP + a diffusion prior (caption -> CLIP image embedding) + a
diffusion decoder (CLIP image embedding -> image)."""

from t2ilib.unclip.decoder import UnclipDecoder
from t2ilib.unclip.pipeline import Unclip, generate, interpolate, slerp, text_diff, variations
from t2ilib.unclip.prior import DiffusionPrior

__all__ = ["DiffusionPrior", "Unclip", "UnclipDecoder", "generate", "interpolate", "slerp", "text_diff", "variations"]
