"""What an exercise is, how its checks compare a learner's function with the library's, and the in-notebook check.

An exercise is a function the learner writes in a notebook cell tagged ``exercise-<id>`` (e.g. ``exercise-5.2``).
Its checks call the learner's function on random inputs and on inputs with known closed-form answers and compare
the result with the library's tested implementation. When they differ, :func:`expect` tries the catalogue of
typical mistakes the exercise lists (each a wrong formula evaluated on the same inputs) and explains the one that
matches; failing that it names what it can see (shape, NaN, sign, a constant factor, where the values differ).

In a notebook::

    from t2ilib.grading import check
    check("5.2", ddpm_step)       # prints what passed or what is wrong (grade() returns it as a Result)

Teachers grade a folder of submitted notebooks with ``python -m t2ilib.grading SUBMISSIONS/`` (:mod:`.bulk`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch


class Mistake(Exception):
    """A check failed; the message says what is wrong in the learner's terms."""


class NotDone(Exception):
    """The exercise still raises NotImplementedError (or the answer is still None)."""


@dataclass(frozen=True)
class Exercise:
    id: str  # "5.2"; questions: "5.q1"
    name: str  # the function (or answer variable) the learner defines
    title: str
    run: Callable[[Any], list[str]] = field(repr=False)  # runs the checks; returns what was checked
    kind: str = "function"  # or "question"

    @property
    def chapter(self) -> str:
        return self.id.split(".")[0]


REGISTRY: dict[str, Exercise] = {}


def exercise(id: str, name: str, title: str, kind: str = "function"):
    """Register the decorated check function as exercise ``id``."""
    def register(run):
        if id in REGISTRY:
            raise ValueError(f"exercise {id} is registered twice")
        REGISTRY[id] = Exercise(id, name, title, run, kind)
        return run
    return register


def seeded(seed: int) -> torch.Generator:
    """A CPU generator with a fixed seed: every check draws the same inputs every time."""
    return torch.Generator().manual_seed(seed)


def call(fn, *args, grad: bool = False):
    """Call the learner's function (with autograd on if ``grad``); turn its exceptions into a :class:`Mistake`
    (or :class:`NotDone`)."""
    try:
        with torch.set_grad_enabled(grad):
            return fn(*args)
    except NotImplementedError:
        raise NotDone() from None
    except Mistake:
        raise
    except Exception as e:  # noqa: BLE001 -- anything the learner's code raises is reported, not propagated
        shapes = ", ".join(f"{tuple(a.shape)}" if isinstance(a, torch.Tensor) else type(a).__name__ for a in args)
        raise Mistake(f"your function raised {type(e).__name__}: {e} (called with arguments of shapes {shapes})") from None


def expect(got, want: torch.Tensor, what: str, mistakes: dict[str, torch.Tensor] | None = None,
           rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """``got`` must equal ``want``; otherwise raise a :class:`Mistake` that explains the difference.

    ``mistakes``: hint -> what a typical wrong formula returns on the same inputs; the first that ``got`` matches
    is reported.
    """
    if not isinstance(got, torch.Tensor):
        raise Mistake(f"{what}: expected a tensor of shape {tuple(want.shape)}, got {type(got).__name__}")
    if got.shape != want.shape:
        hint = ""
        if got.numel() == 1 and want.numel() > 1 or got.ndim < want.ndim:
            hint = " (did you sum or average over a dimension that should stay?)"
        elif got.ndim > want.ndim:
            hint = " (a dimension is not reduced, or a coefficient did not broadcast as intended)"
        raise Mistake(f"{what}: expected shape {tuple(want.shape)}, got {tuple(got.shape)}{hint}")
    got = got.detach().to(want.dtype)
    if torch.isnan(got).any() and not torch.isnan(want).any():
        raise Mistake(f"{what} contains NaN (a square root or log of a negative number, or 0/0?)")
    if torch.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
        return
    for hint, wrong in (mistakes or {}).items():
        if wrong.shape == got.shape and torch.allclose(got, wrong.to(got.dtype), rtol=rtol, atol=atol):
            raise Mistake(f"{what}: {hint}")
    if torch.allclose(got, -want, rtol=rtol, atol=atol):
        raise Mistake(f"{what} has the wrong sign")
    nonzero = want.abs() > 1e-6
    if nonzero.any():
        ratio = got[nonzero] / want[nonzero]
        r = ratio.mean().item()
        if math.isfinite(r) and abs(r - 1) > 1e-3 and torch.allclose(ratio, torch.full_like(ratio, r), rtol=1e-3):
            raise Mistake(f"{what} is off by a constant factor: yours = {r:.4g} x the right value (a missing 1/2, "
                          f"square root, or a mean where a sum belongs?)")
    err = (got - want).abs()
    i = int(err.flatten().argmax())
    index = tuple(int(k) for k in torch.unravel_index(torch.tensor(i), want.shape))
    raise Mistake(f"{what}: wrong values, e.g. at index {index} yours is {got.flatten()[i].item():.5g}, the right "
                  f"value is {want.flatten()[i].item():.5g} (largest difference {err.max().item():.3g})")


@dataclass
class Result:
    id: str
    status: str  # "passed", "failed", "not done"
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __str__(self) -> str:
        mark = {"passed": "✓", "failed": "✗", "not done": "·"}[self.status]
        return f"{mark} Exercise {self.id}: {self.message}"


def grade(id: str, obj) -> Result:
    """Run exercise ``id``'s checks on ``obj`` (the learner's function or answer)."""
    if id not in REGISTRY:  # (importing t2ilib.grading registers every exercise)
        raise ValueError(f"id: expected one of the exercises {sorted(REGISTRY)}, got {id!r}")
    ex = REGISTRY[id]
    if ex.kind == "question" and obj is None:
        return Result(id, "not done", f"{ex.title}: no answer yet (set {ex.name})")
    if ex.kind == "function" and not callable(obj):
        return Result(id, "failed", f"{ex.title}: expected the function {ex.name}, got {type(obj).__name__}")
    try:
        checked = ex.run(obj)
    except NotDone:
        return Result(id, "not done", f"{ex.title}: not done yet ({ex.name} raises NotImplementedError)")
    except Mistake as m:
        return Result(id, "failed", f"{ex.title}: {m}")
    return Result(id, "passed", f"{ex.title}: correct ({'; '.join(checked)})")


def check(id: str, obj) -> None:
    """In a notebook: grade exercise ``id`` and print the verdict (:func:`grade` returns it as a :class:`Result`)."""
    print(grade(id, obj))
