"""Assignments: student notebooks are current, teacher notebooks score full marks, untouched student notebooks
score nothing (without crashing the grader), and every student notebook's exercises and checks run."""

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


def _grade_all(folder: Path) -> dict[str, dict]:
    """Every exercise cell of every chapter notebook in ``folder``, graded in one worker process."""
    from t2ilib.grading.bulk import _run_worker
    from t2ilib.grading.notebooks import exercise_cells, read_notebook

    jobs = [{"id": i, "source": src} for stem in SOURCES
            for i, src in exercise_cells(read_notebook(folder / f"{stem}.ipynb")).items()]
    return {r["id"]: r for r in _run_worker(jobs, 20.0)}


def test_teacher_notebooks_score_full_marks_and_student_notebooks_zero():
    teacher, student = _grade_all(ROOT / "notebooks"), _grade_all(STUDENT)
    assert sorted(teacher) == sorted(student) == sorted(REGISTRY)
    assert [r for r in teacher.values() if r["status"] != "passed"] == []
    assert [r for r in student.values() if r["status"] != "not done"] == []
    one = grade_notebook(STUDENT / "04_diffusion_forward.ipynb")  # the per-notebook path, as teachers run it
    assert [r["id"] for r in one] == ["4.1", "4.2", "4.3", "4.q1"] and all(r["points"] == 0 for r in one)


def _is_exercise(cell) -> bool:
    return any(t.startswith("exercise-") for t in cell.metadata.get("tags", []))


def _is_check(cell) -> bool:
    return cell.cell_type == "code" and not cell.metadata.get("tags") and "check(" in cell.source


def test_student_notebooks_run_their_exercise_cells_and_checks():
    """Execute each student notebook's first code cell (its imports, `check` among them), then every exercise cell
    and every check: no errors, and every check reports its exercise as not done (the exercises raise
    NotImplementedError by design). The cells in between are the teacher notebook's, which nbval runs (the student
    notebook differs from it only inside the exercise cells: test_committed_student_notebooks_are_current), and an
    exercise cell needs nothing but the imports (the grader runs it alone too). One kernel runs all notebooks, its
    namespace reset between them (imports are then cached: the test takes seconds, not minutes)."""
    import nbformat
    from nbclient import NotebookClient

    reset = nbformat.v4.new_code_cell("%reset -f")
    client = NotebookClient(nbformat.v4.new_notebook(), timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "notebooks")}})
    with client.setup_kernel():
        for stem in SOURCES:
            nb = nbformat.read(STUDENT / f"{stem}.ipynb", as_version=4)
            imports = next(c for c in nb.cells if c.cell_type == "code")
            assert "from t2ilib.grading import check" in imports.source, f"{stem}: the first code cell imports check"
            cells = [imports, *(c for c in nb.cells if _is_exercise(c) or _is_check(c))]
            client.nb.cells = [reset, *cells]  # nbclient stores each executed cell back by its index
            for k, cell in enumerate(client.nb.cells):
                if cell.cell_type == "code":
                    client.execute_cell(cell, k)  # raises CellExecutionError, with the cell, on any error
            checks = [c for c in cells if _is_check(c)]
            ids = [t.removeprefix("exercise-") for c in cells if _is_exercise(c) for t in c.metadata["tags"]]
            out = "".join(o.get("text", "") for c in checks for o in c.outputs if o.output_type == "stream")
            assert "✓" not in out and "✗" not in out, (stem, out)
            assert [line.split()[2].rstrip(":") for line in out.splitlines() if line.startswith("·")] == ids, (stem, out)


def test_bulk_grading_of_three_example_submissions(tmp_path, capsys):
    """A full, an empty and a typical-mistakes submission of chapter 5, graded in bulk: the score table."""
    import nbformat

    from t2ilib.grading.bulk import main

    from test_grading import WRONG  # tests/ is on sys.path (pytest prepend import mode)

    stem = "05_diffusion_reverse"
    full = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
    empty = nbformat.read(STUDENT / f"{stem}.ipynb", as_version=4)
    mistakes = copy.deepcopy(empty)
    for cell in mistakes.cells:
        for tag in cell.metadata.get("tags", []):
            if tag.removeprefix("exercise-") in WRONG:
                cell.source = WRONG[tag.removeprefix("exercise-")][0][0]
    for student, nb in {"full": full, "empty": empty, "mistakes": mistakes}.items():
        (tmp_path / student).mkdir()
        nbformat.write(nb, tmp_path / student / f"{stem}.ipynb")
    code = main([str(tmp_path), "--details"])  # in this process; the workers are subprocesses
    stdout = capsys.readouterr().out
    assert code == 0, stdout
    n = len([i for i in REGISTRY if REGISTRY[i].chapter == "5"])
    totals = {line.split()[0]: line.split()[-1] for line in stdout.splitlines() if line.split()
              and line.split()[0] in ("full", "empty", "mistakes") and "/" in line.split()[-1]}
    assert totals == {"full": f"{n}/{n}", "empty": f"0/{n}", "mistakes": f"0/{n}"}, stdout
    for id in ("5.1", "5.2", "5.3", "5.4", "5.q1"):
        assert f"mistakes {id} (failed): " in stdout and f"empty {id} (not done)" in stdout
    assert "no noise is added at the last step" in stdout and "abar_t where abar_s belongs" in stdout
