"""Recipes: how each shipped checkpoint in ``data/checkpoints/`` is trained and graded, one module per chapter.

:mod:`t2ilib.recipes.registry` holds the machinery (train, verify, migrate) and knows no recipe; every other module
of this package registers its chapter's recipes when imported, and :func:`load_all` imports them all:

* ``judges``: the digit and fashion classifiers and the shapes-world probe that grade the generators;
* ``gan``: the class-conditional DCGAN (chapter 1b);
* ``vae``: the conv VAE (chapter 2) and the dVAE tokenizer (chapter 3);
* ``diffusion``: the unconditional digit denoiser (chapters 4-5);
* ``text``: the text-to-image denoisers (chapter 6);
* ``clip``: the two CLIPs, with and without hard negatives (chapter 7a);
* ``dalle``: mini DALL-E over the dVAE's tokens (chapter 7b).

A checkpoint does not need its recipe to be used: its manifest describes the model (``t2ilib.checkpoint``).
"""

from t2ilib.recipes.registry import (RECIPES, Recipe, checkpoint_path, get_recipe, load_all,
                                     migrate_manifest, quick_metrics, record_quick_metrics, register, run_recipe,
                                     verify)

__all__ = ["RECIPES", "Recipe", "checkpoint_path", "get_recipe", "load_all", "migrate_manifest",
           "quick_metrics", "record_quick_metrics", "register", "run_recipe", "verify"]
