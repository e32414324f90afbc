"""Neural-network building blocks shared by the diffusion chapters: time embedding, residual blocks, attention,
and the UNet."""

from t2ilib.nn.attention import SelfAttention2d, attention, masked_attention
from t2ilib.nn.cross_attention import CrossAttention2d
from t2ilib.nn.blocks import Downsample, ResBlock, Upsample
from t2ilib.nn.embeddings import TimeEmbedding, sinusoidal_embedding
from t2ilib.nn.unet import UNet

__all__ = ["SelfAttention2d", "CrossAttention2d", "masked_attention", "attention", "Downsample", "ResBlock", "Upsample", "TimeEmbedding",
           "sinusoidal_embedding", "UNet"]
