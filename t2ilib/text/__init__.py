"""Text for text-to-image: from a caption to what the denoiser is conditioned on.

* :mod:`t2ilib.text.tokenizers` -- the course's word-level tokenizer and MiniLM's WordPiece one, prompt checks;
* :mod:`t2ilib.text.encoders` -- frozen all-MiniLM-L6-v2 (+ a trainable adapter) and a BERT trained from scratch;
* :mod:`t2ilib.text.denoiser` -- the text-conditioned UNet denoiser and :func:`~t2ilib.text.denoiser.generate`;
* :mod:`t2ilib.text.prompts` -- which words each shipped model knows, and which model a prompt is for.

The package imports nothing itself: ``import t2ilib.text.tokenizers`` does not load the UNet.
"""
