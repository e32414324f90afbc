"""Concept questions with answers a machine can check (numbers, multiple choice)."""

from __future__ import annotations

import math

from t2ilib.grading.core import Mistake, exercise


def _number(answer, want: float, rel: float = 1e-2) -> None:
    try:
        x = float(answer)
    except (TypeError, ValueError):
        raise Mistake(f"expected a number, got {answer!r}") from None
    if not math.isclose(x, want, rel_tol=rel, abs_tol=1e-9):
        raise Mistake(f"{x:g} is not right")


def _choice(answer, want: str, options: str, hints: dict[str, str]) -> None:
    if not isinstance(answer, str) or answer.strip().lower() not in options:
        raise Mistake(f"expected one of {', '.join(repr(o) for o in options)}, got {answer!r}")
    a = answer.strip().lower()
    if a != want:
        raise Mistake(hints.get(a, f"({a}) is not right"))


@exercise("4.q1", "answer_4_q1", "SNR at abar_t = 0.2", kind="question")
def _snr(answer):
    _number(answer, 0.25)
    return ["SNR = abar / (1 - abar)"]


@exercise("5.q1", "answer_5_q1", "how x_hat_0 amplifies an error in eps_hat", kind="question")
def _amplify(answer):
    try:
        if math.isclose(float(answer), 0.1, rel_tol=0.05):
            raise Mistake("x_hat_0 = (x_t - sqrt(1 - abar) eps_hat) / sqrt(abar): the error is multiplied by "
                          "sqrt(1 - abar) / sqrt(abar), which is large when abar is small")
    except (TypeError, ValueError):
        pass
    _number(answer, 0.1 * math.sqrt(0.99) / 0.1)
    return ["0.1 x sqrt(0.99) / sqrt(0.01) = 0.995"]


@exercise("6b.q1", "answer_6b_q1", "network evaluations for one guided DDIM image", kind="question")
def _nfe(answer):
    try:
        if float(answer) == 25:
            raise Mistake("25 counts the steps; classifier-free guidance evaluates the network twice per step")
    except (TypeError, ValueError):
        pass
    _number(answer, 50)
    return ["25 steps x 2 (conditional and unconditional)"]


@exercise("6d.q1", "answer_6d_q1", "why dynamic thresholding greys this dataset", kind="question")
def _grey(answer):
    _choice(answer, "b", "abc", {
        "a": "the model was trained on the same black backgrounds at every guidance scale; the sampler changed",
        "c": "static clipping also acts every step and keeps the background black; the division is what differs",
    })
    return ["(b)"]
