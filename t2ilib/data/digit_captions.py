"""Captions for handwritten digits: "a handwritten digit three" <-> 3.

The smallest text-to-image interface of the course: a class-conditional model is driven by a caption through this
fixed parser (chapter 1); later chapters replace the parser with a learned text encoder.
"""

from __future__ import annotations

import re

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TEMPLATES = ("a handwritten digit {w}", "the digit {w}", "a {w}", "handwritten {d}", "a {w} written by hand")


def digit_caption(label: int, template: int = 0) -> str:
    """A caption for digit ``label`` (0-9) using one of :data:`TEMPLATES`."""
    if not (isinstance(label, int) and 0 <= label <= 9):
        raise ValueError(f"label: expected an int digit 0-9, got {label!r}")
    return TEMPLATES[template % len(TEMPLATES)].format(w=DIGIT_WORDS[label], d=label)


def parse_digit_caption(caption: str) -> int:
    """The digit a caption asks for: exactly one digit word ("three") or numeral ("3")."""
    if not isinstance(caption, str):
        raise TypeError(f"caption: expected a string, got {type(caption).__name__}")
    tokens = re.findall(r"[a-z]+|\d+", caption.lower())
    found = {DIGIT_WORDS.index(t) for t in tokens if t in DIGIT_WORDS}
    found |= {int(t) for t in tokens if t.isdigit() and len(t) == 1}
    if len(found) != 1:
        what = "no digit" if not found else f"several digits {sorted(found)}"
        raise ValueError(f"caption: expected exactly one digit (a word {DIGIT_WORDS[0]!r}..{DIGIT_WORDS[-1]!r} or "
                         f"0-9), found {what} in {caption!r}")
    return found.pop()
