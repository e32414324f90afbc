"""CLIP (chapter 7a): a ViT and a text transformer trained contrastively into one embedding space.

``load_pretrained("clip")`` gives the shipped model; :func:`clip_score` and :func:`rerank` are what the capstones
and the evaluation use.
"""

from t2ilib.clip.loss import clip_loss, logit_scale_value
from t2ilib.clip.model import CLIP, patchify
from t2ilib.clip.zero_shot import class_embeddings, clip_score, recall_at_k, rerank, zero_shot_predict

__all__ = ["CLIP", "class_embeddings", "clip_loss", "clip_score", "logit_scale_value", "patchify", "recall_at_k",
           "rerank", "zero_shot_predict"]
