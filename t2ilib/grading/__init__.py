"""Graded exercises: the checks, the in-notebook :func:`check`, student notebooks and bulk grading.

Layer: beside :mod:`t2ilib.eval` (it checks the learner's code against the chapter packages' tested functions).
"""

from t2ilib.grading.core import REGISTRY, Mistake, Result, check, grade
from t2ilib.grading import exercises  # noqa: F401,E402 -- registers every exercise in REGISTRY

__all__ = ["REGISTRY", "Mistake", "Result", "check", "grade"]
