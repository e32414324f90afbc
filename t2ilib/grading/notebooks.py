"""Student notebooks from the teacher notebooks' sources, and exercise cells out of submitted notebooks.

In a chapter's jupytext source (``notebooks/NNx_name.py``) an exercise is a code cell tagged ``exercise-<id>``
(``# %% tags=["exercise-5.2"]``). Inside it, the teacher's solution sits between two marker lines::

        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

and a concept question's answer is one line ending in ``### SOLUTION`` (``answer_5_q1 = 50  ### SOLUTION``).
:func:`student_source` replaces each region by ``raise NotImplementedError("Exercise 5.2: ...")`` at the same
indentation, and each answer by ``None``. ``make assignments`` writes ``notebooks/student/NNx_name.ipynb``
(unexecuted) for every chapter that has exercises; a test checks that the committed copies are current.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

BEGIN, END, ANSWER = "### BEGIN SOLUTION", "### END SOLUTION", "### SOLUTION"
TAG = re.compile(r"^exercise-(\w+\.\w+)$")
_CELL = re.compile(r"^# %%(.*)$")
_TAGS = re.compile(r"tags=\[([^\]]*)\]")
STUDENT_DIR = "student"


def chapter_of(stem: str) -> str:
    """'06c_text_to_shapes' -> '6c', '05_diffusion_reverse' -> '5'."""
    m = re.match(r"^0*(\d+[a-z]?)_", stem)
    if not m:
        raise ValueError(f"stem: expected a chapter notebook name like '05_diffusion_reverse', got {stem!r}")
    return m.group(1)


def _cell_exercise(header: str) -> str | None:
    m = _TAGS.search(header)
    if not m:
        return None
    for tag in (t.strip().strip("\"'") for t in m.group(1).split(",")):
        if found := TAG.match(tag):
            return found.group(1)
    return None


def student_source(text: str, where: str = "source") -> str:
    """The student version of a jupytext percent source: solutions replaced (see the module docstring)."""
    out, exercise, inside, indent = [], None, False, ""
    for n, line in enumerate(text.splitlines(), 1):
        m = _CELL.match(line)
        if m and not inside:
            exercise = _cell_exercise(m.group(1))
        stripped = line.strip()
        if stripped == BEGIN:
            if exercise is None or inside:
                raise ValueError(f"{where}:{n}: {BEGIN} outside an exercise cell, or nested")
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            out.append(f'{indent}raise NotImplementedError("Exercise {exercise}: write this function (see its '
                       f'docstring), then run the check below")')
            continue
        if stripped == END:
            if not inside:
                raise ValueError(f"{where}:{n}: {END} without {BEGIN}")
            inside = False
            continue
        if inside:
            continue
        if line.rstrip().endswith(ANSWER):
            if exercise is None or "=" not in line:
                raise ValueError(f"{where}:{n}: an answer line must be 'name = value  {ANSWER}' in an exercise cell")
            out.append(line.split("=", 1)[0].rstrip() + " = None  # your answer")
            continue
        out.append(line)
    if inside:
        raise ValueError(f"{where}: {BEGIN} is never closed")
    return "\n".join(out) + "\n"


def exercises_in_source(text: str) -> list[str]:
    """Exercise ids tagged in a jupytext percent source, in order."""
    return [e for e in (_cell_exercise(m.group(1)) for m in map(_CELL.match, text.splitlines()) if m) if e]


def write_student_notebook(source: Path, out_dir: Path) -> Path:
    """Write ``out_dir/<stem>.ipynb``, the unexecuted student version of ``source`` (a jupytext .py)."""
    import jupytext

    text = source.read_text()
    nb = jupytext.reads(student_source(text, str(source)), fmt="py:percent")
    nb.metadata.pop("jupytext", None)
    nb.metadata["t2i_assignment"] = {"chapter": chapter_of(source.stem), "exercises": exercises_in_source(text),
                                     "generated_from": f"notebooks/{source.name}"}
    intro = ("> **Student version** (generated from the chapter's notebook by `make assignments`). Each "
             "*Exercise* cell raises `NotImplementedError` until you write it; the cell after it checks your code "
             "and says what is wrong. Your teacher may grade this notebook with `python -m t2ilib.grading`: keep "
             "each exercise inside its own cell, and import only `torch`, `math` and `numpy` there.")
    nb.cells.insert(1, jupytext.reads(f"# %% [markdown]\n# {intro}\n", fmt="py:percent").cells[0])
    for k, cell in enumerate(nb.cells):  # stable ids: regenerating an unchanged source gives the same file
        cell["id"] = hashlib.sha1(f"{source.stem}:{k}".encode()).hexdigest()[:8]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{source.stem}.ipynb"
    text_out = jupytext.writes(nb, fmt="ipynb")
    tmp = path.with_suffix(".ipynb.tmp")
    tmp.write_text(text_out)
    tmp.replace(path)
    return path


def exercise_cells(notebook: dict) -> dict[str, str]:
    """``{exercise id: cell source}`` of a notebook (parsed .ipynb JSON), from the cells' ``exercise-<id>`` tags."""
    out = {}
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        for tag in cell.get("metadata", {}).get("tags", []):
            m = TAG.match(str(tag))
            if m:
                src = cell.get("source", "")
                out[m.group(1)] = "".join(src) if isinstance(src, list) else str(src)
    return out


def read_notebook(path: Path) -> dict:
    try:
        nb = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable notebook ({e})") from None
    if not isinstance(nb, dict) or "cells" not in nb:
        raise ValueError(f"{path}: not a Jupyter notebook (no cells)")
    return nb


def notebook_chapter(path: Path, notebook: dict) -> str | None:
    """The chapter a submitted notebook belongs to: its assignment metadata, else its file name, else its tags."""
    meta = notebook.get("metadata", {}).get("t2i_assignment", {})
    if isinstance(meta, dict) and meta.get("chapter"):
        return str(meta["chapter"])
    m = re.search(r"(?:^|_)0*(\d+[a-z]?)_[a-z]", Path(path).stem)
    if m:
        return m.group(1)
    ids = list(exercise_cells(notebook))
    return ids[0].split(".")[0] if ids else None


def write_all(source_dir: Path, out_dir: Path) -> list[Path]:
    """Student notebooks for every chapter source in ``source_dir`` that has exercises; stale ones removed."""
    written = []
    for src in sorted(Path(source_dir).glob("[0-9]*.py")):
        if exercises_in_source(src.read_text()):
            written.append(write_student_notebook(src, Path(out_dir)))
    for old in Path(out_dir).glob("*.ipynb"):
        if old not in written:
            old.unlink()
    return written


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3:
        sys.exit("usage: python -m t2ilib.grading.notebooks SOURCE_DIR OUT_DIR")
    for path in write_all(Path(sys.argv[1]), Path(sys.argv[2])):
        print(f"wrote {path}")
