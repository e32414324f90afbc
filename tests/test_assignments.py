"""Assignments: student notebooks are current, teacher notebooks score full marks, untouched student notebooks
score nothing (without crashing the grader), and every student notebook runs up to its first exercise."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from t2ilib.grading import REGISTRY
from t2ilib.grading.bulk import grade_notebook
from t2ilib.grading.notebooks import chapter_of, exercises_in_source, student_source, write_all

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {p.stem: p for p in sorted((ROOT / "notebooks").glob("[0-9]*.py")) if exercises_in_source(p.read_text())}
STUDENT = ROOT / "notebooks" / "student"
CORE_CHAPTERS = ("1a", "2", "3", "4", "5", "6b", "6c")


def test_every_exercise_sits_in_its_chapter_and_core_chapters_have_three():
    placed = {}
    for stem, src in SOURCES.items():
        for i in exercises_in_source(src.read_text()):
            assert i in REGISTRY, f"{src.name}: exercise-{i} is not a registered exercise"
            assert REGISTRY[i].chapter == chapter_of(stem), f"{src.name}: exercise-{i} belongs to another chapter"
            assert i not in placed, f"exercise-{i} appears in {placed.get(i)} and {src.name}"
            placed[i] = src.name
    assert sorted(placed) == sorted(REGISTRY), f"registered but in no notebook: {sorted(set(REGISTRY) - set(placed))}"
    for chapter in CORE_CHAPTERS:
        functions = [i for i in REGISTRY if REGISTRY[i].chapter == chapter and REGISTRY[i].kind == "function"]
        if chapter == "6c":  # 6c and 6d are one unit: text to image, then its sampler
            functions += [i for i in REGISTRY if REGISTRY[i].chapter == "6d" and REGISTRY[i].kind == "function"]
        assert len(functions) >= 3, (chapter, functions)


def test_committed_student_notebooks_are_current(tmp_path):
    written = write_all(ROOT / "notebooks", tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in STUDENT.glob("*.ipynb")), \
        "run `make assignments` and commit notebooks/student/"
    for p in written:
        assert p.read_text() == (STUDENT / p.name).read_text(), f"{p.name} is stale: run `make assignments`"


def test_student_source_removes_every_solution():
    for src in SOURCES.values():
        text = student_source(src.read_text())
        assert "### BEGIN SOLUTION" not in text and "### SOLUTION" not in text
        assert text.count("raise NotImplementedError(\"Exercise") == sum(
            REGISTRY[i].kind == "function" for i in exercises_in_source(src.read_text()))
    with pytest.raises(ValueError, match="outside an exercise cell"):
        student_source("# %%\n    ### BEGIN SOLUTION\nx = 1\n    ### END SOLUTION\n")
    with pytest.raises(ValueError, match="never closed"):
        student_source('# %% tags=["exercise-4.1"]\n### BEGIN SOLUTION\nx = 1\n')


@pytest.mark.parametrize("stem", sorted(SOURCES))
def test_teacher_notebook_scores_full_marks_and_student_notebook_zero(stem):
    teacher = grade_notebook(ROOT / "notebooks" / f"{stem}.ipynb")
    assert teacher and all(r["status"] == "passed" for r in teacher), [r for r in teacher if r["status"] != "passed"]
    student = grade_notebook(STUDENT / f"{stem}.ipynb")
    assert [r["id"] for r in student] == [r["id"] for r in teacher]
    assert all(r["status"] == "not done" and r["points"] == 0 for r in student), student


def _is_exercise(cell) -> bool:
    return any(t.startswith("exercise-") for t in cell.metadata.get("tags", []))


def _is_check(cell) -> bool:
    return cell.cell_type == "code" and not cell.metadata.get("tags") and "check(" in cell.source


@pytest.mark.parametrize("stem", sorted(SOURCES))
def test_student_notebook_runs_up_to_its_first_exercise(stem):
    """Execute the student notebook up to its first exercise's check cell, then every other exercise cell and its
    check: no errors, and every check reports its exercise as not done (the exercises raise NotImplementedError
    by design). The cells in between are the teacher notebook's, which nbval runs (the student notebook differs
    from it only inside the exercise cells: test_committed_student_notebooks_are_current)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(STUDENT / f"{stem}.ipynb", as_version=4)
    first = next(k for k, c in enumerate(nb.cells) if _is_exercise(c))
    first_check = next(k for k in range(first + 1, len(nb.cells)) if _is_check(nb.cells[k]))
    later = [k for k in range(first_check + 1, len(nb.cells)) if _is_exercise(nb.cells[k]) or _is_check(nb.cells[k])]
    short = copy.deepcopy(nb)
    short.cells = [nb.cells[k] for k in [*range(first_check + 1), *later]]
    NotebookClient(short, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    checks = [c for c in short.cells if _is_check(c)]
    ids = [i for c in short.cells if _is_exercise(c) for i in [t.removeprefix("exercise-") for t in c.metadata["tags"]]]
    out = "".join(o.get("text", "") for c in checks for o in c.outputs if o.output_type == "stream")
    assert "✓" not in out and "✗" not in out, out
    assert [line.split()[2].rstrip(":") for line in out.splitlines() if line.startswith("·")] == ids, out
