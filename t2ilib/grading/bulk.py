"""Grade a folder of submitted notebooks: ``python -m t2ilib.grading SUBMISSIONS/ [--csv scores.csv]``.

A submission is any ``.ipynb`` under the folder; the student is its sub-folder's name (``alice/05_....ipynb``) or,
for files directly in the folder, the file name's stem. Each notebook's exercise cells (tagged ``exercise-<id>``)
are run in a separate worker process (:mod:`t2ilib.grading.worker`), one exercise at a time, each with a time
limit: an exercise that crashes, loops or imports something other than torch, math and numpy scores zero and
does not stop the others. Exercises of the notebook's chapter whose cell is missing score zero.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from t2ilib.grading.notebooks import STUDENT_DIR, exercise_cells, notebook_chapter, read_notebook


def _exercises_of(chapter: str) -> list[str]:
    from t2ilib.grading.core import REGISTRY
    from t2ilib.grading import exercises  # noqa: F401

    return [i for i in REGISTRY if REGISTRY[i].chapter == chapter]


def _run_worker(jobs: list[dict], time_limit: float, command: list[str] | None = None) -> list[dict]:
    """Run ``jobs`` in worker processes; restart after a crash with the exercises not yet reported."""
    command = command or [sys.executable, "-m", "t2ilib.grading.worker", str(time_limit)]
    results, pending = [], list(jobs)
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    while pending:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, env=env)
        try:
            out, _ = proc.communicate(json.dumps(pending), timeout=30 + len(pending) * (time_limit + 5))
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        started, done = None, {}
        for line in out.splitlines():
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue
            if msg.get("event") == "start":
                started = msg["id"]
            elif msg.get("event") == "result":
                done[msg["id"]] = msg
        results += [done[j["id"]] for j in pending if j["id"] in done]
        rest = [j for j in pending if j["id"] not in done]
        if rest and started in {j["id"] for j in rest}:
            results.append({"id": started, "status": "failed",
                            "message": "the grader's process died while running this exercise (a crash, or "
                                       "it used too much memory or time)"})
            rest = [j for j in rest if j["id"] != started]
        elif rest and proc.returncode == 0:  # cannot happen unless the worker is broken; avoid looping forever
            results += [{"id": j["id"], "status": "failed", "message": "not graded (worker error)"} for j in rest]
            rest = []
        pending = rest
    return results


def grade_notebook(path: Path, time_limit: float = 20.0) -> list[dict]:
    """Results (one dict per exercise: id, status, message, points) for one submitted notebook."""
    try:
        nb = read_notebook(path)
    except ValueError as e:
        return [{"id": "?", "status": "failed", "message": str(e), "points": 0}]
    cells = exercise_cells(nb)
    chapter = notebook_chapter(path, nb)
    wanted = _exercises_of(chapter) if chapter else []
    from t2ilib.grading.core import REGISTRY

    jobs = [{"id": i, "source": cells[i]} for i in wanted if i in cells]
    jobs += [{"id": i, "source": src} for i, src in cells.items() if i not in wanted and i in REGISTRY]
    results = {r["id"]: r for r in _run_worker(jobs, time_limit)} if jobs else {}
    for i in wanted:
        results.setdefault(i, {"id": i, "status": "failed", "message": f"no cell tagged exercise-{i} in the notebook"})
    for r in results.values():
        r["points"] = 1 if r["status"] == "passed" else 0
    order = {i: k for k, i in enumerate(wanted)}
    return sorted(results.values(), key=lambda r: (order.get(r["id"], len(order)), r["id"]))


def find_submissions(folder: Path) -> list[tuple[str, Path]]:
    """``(student, notebook path)`` for every notebook under ``folder`` (checkpoint copies skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"submissions: expected a folder of notebooks, got {str(folder)!r}")
    out = []
    for p in sorted(folder.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in p.parts or STUDENT_DIR == p.parent.name and p.parent == folder / STUDENT_DIR:
            continue
        rel = p.relative_to(folder)
        out.append((rel.parts[0] if len(rel.parts) > 1 else p.stem, p))
    return out


def grade_folder(folder: Path, time_limit: float = 20.0) -> list[dict]:
    rows = []
    for student, path in find_submissions(folder):
        for r in grade_notebook(path, time_limit):
            rows.append({"student": student, "notebook": path.name, "exercise": r["id"], "points": r["points"],
                         "status": r["status"], "message": r["message"]})
    return rows


def score_table(rows: list[dict]) -> str:
    """Students x exercises, 1/0 per cell and a total, as a fixed-width table."""
    students = list(dict.fromkeys(r["student"] for r in rows))
    exercises = list(dict.fromkeys(r["exercise"] for r in rows))
    width = max([7, *map(len, students)])
    lines = [f"{'student':{width}s} " + " ".join(f"{e:>5s}" for e in exercises) + "  total"]
    for s in students:
        mine = {r["exercise"]: r for r in rows if r["student"] == s}
        cells = [f"{mine[e]['points']:>5d}" if e in mine else f"{'-':>5s}" for e in exercises]
        lines.append(f"{s:{width}s} " + " ".join(cells) + f"  {sum(r['points'] for r in mine.values()):>2d}/{len(mine)}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m t2ilib.grading", description=__doc__.split("\n")[0])
    p.add_argument("submissions", type=Path, help="a folder of submitted notebooks (sub-folders per student allowed)")
    p.add_argument("--csv", type=Path, default=None, help="also write one row per student and exercise here")
    p.add_argument("--time-limit", type=float, default=20.0, help="seconds per exercise (default 20)")
    p.add_argument("--details", action="store_true", help="print every failed exercise's message")
    args = p.parse_args(argv)
    if not args.time_limit > 0:
        p.error(f"--time-limit: expected a positive number of seconds, got {args.time_limit}")
    try:
        rows = grade_folder(args.submissions, args.time_limit)
    except ValueError as e:
        p.error(str(e))
    if not rows:
        p.error(f"submissions: no .ipynb files under {str(args.submissions)!r}")
    print(score_table(rows))
    if args.details:
        for r in rows:
            if r["status"] != "passed":
                print(f"{r['student']} {r['exercise']} ({r['status']}): {r['message']}")
    if args.csv:
        tmp = args.csv.with_suffix(args.csv.suffix + ".tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["student", "notebook", "exercise", "points", "status", "message"])
            w.writeheader()
            w.writerows(rows)
        tmp.replace(args.csv)
        print(f"wrote {args.csv}")
    return 0
