"""Which words each shipped text-to-image model knows, which model a prompt is for, and the prompt check.

The shapes models (the diffusion ones, mini DALL-E, mini DALL-E 2 and mini Imagen) were trained on the shapes
world's caption grammar, the digit model on a few caption templates per digit: a word outside a model's captions
gives it nothing to condition on, so the prompt box and
``python -m t2ilib generate`` refuse it with one message that lists what the model knows (rather than draw
something meaningless). ``--model auto`` routes a prompt that names a digit to ``digit_text``.
"""

from __future__ import annotations

from t2ilib.data.digit_captions import DIGIT_WORDS, TEMPLATES, digit_caption, parse_digit_caption
from t2ilib.data.shapes_captions import vocabulary
from t2ilib.text.tokenizers import check_prompt, words

TEXT_MODELS = ("shapes_minilm", "shapes_scratch", "dalle", "unclip", "imagen", "digit_text")
DEFAULT_SHAPES_MODEL = "shapes_scratch"


def model_for_prompt(prompt: str) -> str:
    """``--model auto``: ``digit_text`` for a prompt that mentions a digit (word or numeral), else the shapes model."""
    if set(words(prompt)) & {*DIGIT_WORDS, "digit"} or any(c.isdigit() for c in prompt):
        return "digit_text"
    return DEFAULT_SHAPES_MODEL


def known_words(name: str) -> list[str]:
    """Every word in the captions model ``name`` was trained on."""
    if name.startswith("digit"):
        return sorted({w for d in range(10) for k in range(len(TEMPLATES)) for w in words(digit_caption(d, k))})
    return vocabulary()


def example_prompts(name: str) -> list[str]:
    if name.startswith("digit"):
        return ["a handwritten digit seven", "handwritten 3"]
    return ["a small red circle on the left", "a large blue square left of a small green triangle"]


def check_model_prompt(model, name: str, prompt) -> str:
    """The cleaned prompt, or one ValueError: empty, over-long, unknown words, or (digits) not exactly one digit."""
    prompt = check_prompt(prompt, model.tokenizer, known_words(name), model.max_tokens, example_prompts(name))
    if name.startswith("digit"):
        parse_digit_caption(prompt)
    return prompt
