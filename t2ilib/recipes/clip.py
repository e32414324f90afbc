"""Recipes for the CLIP chapter (7a): two CLIPs trained the same way except for hard negatives and image twins.

* ``clip`` -- *hard negatives* in every batch: each shapes scene adds its caption with one object's shape replaced
  (with that scene's image, rendered with the one shape changed: an *image twin*), and each two-object scene its
  captions with the objects swapped and with their colours swapped (NegCLIP, Yuksekgonul et al. 2023). The course's
  CLIP: DALL-E's reranker, the capstones' CLIPScore, unCLIP's embedding space.
* ``clip_plain`` -- plain contrastive training (Radford et al. 2021), for the binding comparison.

Both: a hybrid ViT (a convolutional stem, then 4 x 4 patches of 32 x 32 images, 3 layers x 96) and a 2-layer text
transformer, 96-dim joint space, trained on the shapes world (train stream) with captioned digits and clothes
(:mod:`t2ilib.clip.data`). The stem is there because ViT's plain linear patch embedding left the shapes poorly read:
in 1000-step runs from scratch (one run each, 500 scenes per split), zero-shot shape accuracy was 75.6 % seen /
57.0 % held-out with it, 96.6 % / 90.4 % with the stem, and 98.8 % / 87.0 % with the stem and image twins. Graded by
the benchmark of :mod:`t2ilib.eval.clip_benchmark` (deterministic: no sampling), verified on its worst zero-shot
attribute accuracy (the test suite: that part alone, on 300 scenes instead of 1000).
"""

from __future__ import annotations

from t2ilib.clip.data import clip_batches, clip_vocabulary
from t2ilib.clip.loss import batch_loss
from t2ilib.clip.model import CLIP
from t2ilib.recipes import Recipe, register

CLIP_MODEL = dict(image_size=32, patch_size=4, channels=3, width=96, layers=3, heads=4, text_width=96,
                  text_layers=2, text_heads=4, max_tokens=20, embed_dim=96, stem="conv")
CLIP_CONFIG = dict(steps=4000, lr=1e-3, warmup_steps=200, lr_schedule="cosine", grad_clip=1.0, log_every=50,
                   checkpoint_every=250)
CLIP_BATCH = 128
EVAL_N = 1000
QUICK = dict(n=300, attributes_only=True)  # the test suite: the verified part alone, same seeds, fewer scenes


def build_clip() -> CLIP:
    return CLIP(clip_vocabulary(), **CLIP_MODEL)


def evaluate_clip(model, device, n: int = EVAL_N, attributes_only: bool = False) -> dict:
    from t2ilib.eval.clip_benchmark import attribute_metrics, clip_benchmark

    return (attribute_metrics if attributes_only else clip_benchmark)(model.to(device), n)


for _name, _hard, _desc in (("clip", True, "with swapped-caption hard negatives"),
                            ("clip_plain", False, "plain contrastive training")):
    register(Recipe(name=_name, description=f"CLIP (hybrid ViT + text transformer) on shapes, digits, clothes; {_desc}",
                    build=build_clip, config=CLIP_CONFIG, loss=lambda model, device: batch_loss,
                    batches=lambda model, device, _h=_hard: clip_batches(CLIP_BATCH, hard_negatives=_h, image_twins=_h,
                                                                         device=device),
                    evaluate=evaluate_clip, metric="attributes worst", tolerance=0.01, quick=QUICK,
                    quick_tolerance=0.02))
