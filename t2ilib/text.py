"""Tokenizers for captions, through the Hugging Face ``tokenizers`` / ``transformers`` stack.

:func:`train_word_tokenizer` learns a word-level vocabulary from the course's own captions and wraps it as a
``transformers.PreTrainedTokenizerFast``, so it pads, truncates and returns attention masks exactly like the
pretrained tokenizers met later in the course.
"""

from __future__ import annotations

from typing import Iterable

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")


def train_word_tokenizer(captions: Iterable[str], min_frequency: int = 1) -> PreTrainedTokenizerFast:
    """A word-level tokenizer (lower-cased, punctuation split off) with [PAD]/[UNK]/[CLS]/[SEP]."""
    captions = list(captions)
    if not captions or not all(isinstance(c, str) for c in captions):
        raise ValueError("captions: expected a non-empty iterable of strings")
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(captions, trainers.WordLevelTrainer(special_tokens=list(SPECIAL_TOKENS),
                                                                min_frequency=min_frequency))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls),
                                                                                               ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]")
