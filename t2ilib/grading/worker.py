"""The isolated process :mod:`t2ilib.grading.bulk` runs submitted exercise cells in.

Reads a JSON list of ``{"id", "source"}`` from stdin; for each, prints ``{"event": "start", "id"}`` and then
``{"event": "result", "id", "status", "message"}`` as JSON lines. Each exercise runs in a fresh namespace (with
``torch``, ``math``, ``np`` and ``F`` = ``torch.nn.functional`` defined, as the notebooks' import cells do), under
a time limit (``signal.alarm``), after a static check that the cell imports only torch, math and numpy and calls
none of ``exec``, ``eval``, ``open``, ``__import__``, ``compile`` — so that a cell cannot call the library's own
solution, read files or escape the checks.
"""

from __future__ import annotations

import ast
import json
import math
import signal
import sys

ALLOWED_MODULES = ("torch", "math", "numpy")
FORBIDDEN_CALLS = {"exec", "eval", "open", "__import__", "compile", "input", "breakpoint", "globals", "vars"}


class TimeLimit(BaseException):  # not an Exception: the checks must not swallow it
    pass


def static_problems(source: str) -> str | None:
    """Why a cell may not be graded (a message), or None."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        return f"the cell has a syntax error (line {e.lineno}: {e.msg})"
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                if name.split(".")[0] not in ALLOWED_MODULES:
                    return f"the cell imports {name!r}; exercises may import only {', '.join(ALLOWED_MODULES)}"
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_CALLS:
            return f"the cell uses {node.id!r}, which exercises may not"
        if isinstance(node, ast.Attribute) and node.attr.startswith("__") and node.attr not in ("__init__",):
            return f"the cell uses {node.attr!r}, which exercises may not"
    return None


def _alarm(signum, frame):
    raise TimeLimit()


def run_one(job: dict, time_limit: float) -> dict:
    import numpy as np
    import torch
    import torch.nn.functional as F

    from t2ilib.grading.core import REGISTRY, grade

    ex = REGISTRY.get(job["id"])
    if ex is None:
        return {"status": "failed", "message": f"unknown exercise {job['id']!r}"}
    problem = static_problems(job["source"])
    if problem:
        return {"status": "failed", "message": f"{ex.title}: {problem}"}
    namespace = {"__name__": "submission", "torch": torch, "math": math, "np": np, "F": F}
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, time_limit)
    try:
        exec(compile(job["source"], f"<exercise {job['id']}>", "exec"), namespace)  # noqa: S102 -- checked above
        if ex.name not in namespace:
            return {"status": "failed", "message": f"{ex.title}: the cell does not define {ex.name}"}
        result = grade(job["id"], namespace[ex.name])
        return {"status": result.status, "message": result.message}
    except TimeLimit:
        return {"status": "failed", "message": f"{ex.title}: took longer than {time_limit:g} s (an endless loop?)"}
    except BaseException as e:  # noqa: BLE001 -- a cell's top level may raise anything, SystemExit included
        if isinstance(e, NotImplementedError):
            return {"status": "not done", "message": f"{ex.title}: not done yet (NotImplementedError)"}
        return {"status": "failed", "message": f"{ex.title}: running the cell raised {type(e).__name__}: {e}"}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def main() -> None:
    time_limit = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    from t2ilib.grading import exercises  # noqa: F401 -- register them

    for job in json.loads(sys.stdin.read()):
        print(json.dumps({"event": "start", "id": job["id"]}), flush=True)
        print(json.dumps({"event": "result", "id": job["id"], **run_one(job, time_limit)}), flush=True)


if __name__ == "__main__":
    main()
