"""Recipes: how each shipped checkpoint in ``data/checkpoints/`` is trained and graded, one module per chapter.

:mod:`t2ilib.recipes.registry` holds the machinery (train, verify, migrate) and knows no recipe; every other module
of this package registers its chapter's recipes when imported, and :func:`load_all` imports them all:

* ``judges``: the digit and fashion classifiers, the shapes-world probe and the emoji feature space that grade the
  generators;
* ``gan``: the class-conditional DCGAN (chapter 1b);
* ``vae``: the conv VAE (chapter 2), the dVAE and VQ-VAE tokenizers and the VQ-VAE's fine-tuned decoder (chapter 3);
* ``diffusion``: the unconditional digit denoiser (chapters 4-5);
* ``text``: the text-to-image denoisers (chapter 6);
* ``clip``: the two CLIPs, with and without hard negatives (chapter 7a);
* ``dalle``: mini DALL-E over the VQ-VAE's codes (chapter 7b);
* ``unclip``: the diffusion prior and decoder of mini DALL-E 2 (chapter 8);
* ``imagen``: the mini Imagen cascade and the emoji text-encoder comparison (chapter 9).

A recipe names the shipped checkpoints it reads (``requires``); ``python -m t2ilib train --all`` trains those first.

A checkpoint does not need its recipe to be used: its manifest describes the model (``t2ilib.checkpoint``).
"""

from t2ilib.recipes.registry import (RECIPES, Recipe, checkpoint_path, get_recipe, load_all,
                                     migrate_manifest, quick_metrics, record_quick_metrics, register, run_recipe,
                                     verify)

__all__ = ["RECIPES", "Recipe", "checkpoint_path", "get_recipe", "load_all", "migrate_manifest",
           "quick_metrics", "record_quick_metrics", "register", "run_recipe", "verify"]
