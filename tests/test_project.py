"""Project wiring: pins agree, notebooks are in sync with their sources and committed executed."""

import json
import re
import tomllib
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def _pins(reqs):
    out = {}
    for r in reqs:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", r.strip())
        assert m, f"not an exact pin: {r!r}"
        out[m.group(1).lower()] = m.group(2)
    return out


def test_environment_yml_pins_equal_pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pyproject = _pins(project["dependencies"] + project["optional-dependencies"]["dev"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda = _pins([p for p in pip if not p.startswith("-e")])
    assert conda == pyproject
    assert "-e .[dev]" in pip


def test_constraints_agree_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pyproject = _pins(project["dependencies"] + project["optional-dependencies"]["dev"])
    lines = [l for l in (ROOT / "constraints.txt").read_text().splitlines() if l and not l.startswith("#")]
    constraints = _pins(lines)
    for name, version in pyproject.items():
        assert constraints.get(name) == version, name


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_matches_its_text_source(nb_path):
    src = nb_path.with_suffix(".py")
    assert src.exists(), f"{nb_path.name} has no jupytext source {src.name}"
    from_text = jupytext.read(src)
    committed = nbformat.read(nb_path, as_version=4)
    a = [(c.cell_type, c.source.strip()) for c in from_text.cells]
    b = [(c.cell_type, c.source.strip()) for c in committed.cells]
    assert a == b, f"{nb_path.name} is out of sync with {src.name}: run `make notebooks`"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_executed(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code), "run `make notebooks` before committing"
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), "cells were executed out of order"
    for c in code:
        for o in c.outputs:
            assert o.output_type != "error", f"stored error output in {nb_path.name}"
            if o.output_type == "execute_result":
                assert o.get("execution_count") is not None
    assert any(c.outputs for c in code)
    assert not any(".cuda()" in c.source for c in code), "use t2ilib.get_device(), never .cuda()"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_reads_no_file_written_by_another_notebook(nb_path):
    src = nb_path.with_suffix(".py").read_text()
    assert not re.search(r"(open|read_csv|load)\([\"'](\.\./)?notebooks/", src)


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme


def test_data_folder_stays_small():
    """Every clone downloads data/ (datasets, checkpoints): keep it under 110 MB. (60 MB until chapter 9, whose six
    checkpoints add 43 MB; the largest, `emoji_scratch`, is 15 MB because its text encoder keeps an embedding row for
    each of WordPiece's 30 522 tokens.)"""
    import subprocess

    files = subprocess.run(["git", "ls-files", "data"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if not files:  # not a git checkout (e.g. an unpacked archive): measure the folder
        files = [str(p.relative_to(ROOT)) for p in (ROOT / "data").rglob("*") if p.is_file()]
    total = sum((ROOT / f).stat().st_size for f in files if (ROOT / f).exists())
    assert total < 110e6, f"data/ holds {total / 1e6:.1f} MB"


def test_precision_comes_from_the_policy_everywhere():
    """bf16 autocast is chosen in one place (t2ilib/precision.py); no library module, notebook or recipe turns it
    on by itself (a hard-coded bf16 is 6-40x slower on CPUs without native bf16)."""
    offenders = []
    for path in [*(ROOT / "t2ilib").rglob("*.py"), *(ROOT / "notebooks").glob("*.py")]:
        if path.name == "precision.py":
            continue
        text = path.read_text()
        for pattern in (r"torch\.autocast\(", r"bf16\s*=\s*True", r"torch\.bfloat16\s*\)", r"\.bfloat16\(\)"):
            if re.search(pattern, text):
                offenders.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert not offenders, offenders


def _chapter(stem: str) -> str:
    """'06c_text_to_shapes' -> '6c', '00_welcome' -> '0': the chapter a notebook file belongs to."""
    m = re.fullmatch(r"(\d\d)([a-z]?)_[a-z0-9_]+", stem)
    assert m, f"notebook file name {stem!r}: expected <two-digit chapter><optional letter>_<name>"
    return f"{int(m.group(1))}{m.group(2)}"


def test_notebook_files_are_named_by_their_chapter_in_readme_and_chapter_0_map():
    readme = (ROOT / "README.md").read_text()
    readme_rows = dict(re.findall(r"^\| (\d+[a-z]?) \| \[[^\]]+\]\(notebooks/([^)]+)\.ipynb\)", readme, re.M))
    welcome = (ROOT / "notebooks" / "00_welcome.py").read_text()
    map_rows = dict(re.findall(r"^# \| (\d+[a-z]?) \| [^|]+ \| `([^`]+)`", welcome, re.M))
    stems = {nb.stem: _chapter(nb.stem) for nb in NOTEBOOKS}
    assert readme_rows == {chapter: stem for stem, chapter in stems.items()}, "README syllabus vs notebook files"
    assert map_rows == readme_rows, "chapter 0's map vs README syllabus"
    for stem, chapter in stems.items():  # a notebook's title names its chapter
        title = next(l for l in (ROOT / "notebooks" / f"{stem}.py").read_text().splitlines() if l.startswith("# # "))
        assert title.startswith(f"# # Chapter {chapter} "), (stem, title)
