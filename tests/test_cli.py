"""The command line, end to end in a subprocess."""

import subprocess
import sys

import pytest

from PIL import Image


def run(*args):
    return subprocess.run([sys.executable, "-m", "t2ilib", *args], capture_output=True, text=True, timeout=600)  # generous: CI runs notebooks beside it


def test_render_writes_a_png(tmp_path):
    out = tmp_path / "scene.png"
    r = run("render", "a large blue square left of a small green triangle", "--out", str(out), "--n", "3",
            "--resolution", "32")
    assert r.returncode == 0, r.stderr
    img = Image.open(out)
    assert img.size == (3 * 32 + 4, 32 + 2)  # three tiles with 1 px padding


def test_out_of_grammar_caption_gets_a_message_not_a_traceback(tmp_path):
    r = run("render", "a purple dragon", "--out", str(tmp_path / "x.png"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "Unknown words: ['dragon']" in r.stderr and "Known colours" in r.stderr


def test_unknown_recipe_and_help():
    r = run("train", "imagen_xxl")
    assert r.returncode == 2 and "unknown recipe" in r.stderr and "digit_classifier" in r.stderr
    assert run("--help").returncode == 0


def test_verify_passes_on_shipped_checkpoints():
    # the command line path; every shipped checkpoint is re-measured in test_shipped_checkpoints.py
    r = run("verify", "digit_classifier", "fashion_classifier")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "digit_classifier" in r.stdout and "fashion_classifier" in r.stdout and r.stdout.count(" ok") == 2
    assert "precision fp32" in r.stdout or "precision bf16" in r.stdout


def test_precision_flag_is_checked():
    r = run("verify", "digit_classifier", "--precision", "fp16")
    assert r.returncode == 2 and "--precision: invalid choice: 'fp16'" in r.stderr
    r = run("verify", "not_a_recipe")
    assert r.returncode == 2 and "unknown recipe(s) ['not_a_recipe']" in r.stderr


def test_data_lists_the_datasets():
    r = run("data")
    assert r.returncode == 0 and "a handwritten digit" in r.stdout and "emoji" in r.stdout


def test_generate_writes_images_from_a_caption(tmp_path):
    out = tmp_path / "img.png"
    r = run("generate", "a large red circle left of a small blue square", "--out", str(out), "--n", "2",
            "--steps", "5", "--seed", "1", "--precision", "fp32")
    assert r.returncode == 0, r.stderr
    assert "fp32" in r.stdout
    assert "shapes_scratch" in r.stdout and Image.open(out).size == (2 * 32 + 3, 32 + 2)
    out2 = tmp_path / "digit.png"
    r = run("generate", "a handwritten digit seven", "--out", str(out2), "--n", "1", "--steps", "5",
            "--guidance", "2", "--threshold", "dynamic")
    assert r.returncode == 0, r.stderr
    assert "digit_text" in r.stdout and Image.open(out2).size == (28, 28)


def test_generate_bad_prompts_get_a_message_not_a_traceback(tmp_path, capsys):
    from t2ilib.__main__ import main  # in-process: the subprocess path is covered above

    out = str(tmp_path / "x.png")
    cases = {"": "empty", "a small red zebra on the left": "never use ['zebra']",
             " ".join(["a small red circle left of"] * 6) + " a blue square": "at most 24",
             "the digit seven the digit two": "several digits",
             "a tiny dragon": "knows the words"}
    for prompt, message in cases.items():
        assert main(["generate", prompt, "--out", out, "--steps", "2"]) == 2, prompt
        assert message in capsys.readouterr().err, prompt
    assert main(["generate", "a red circle", "--model", "imagen"]) == 2
    assert "--model" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["generate", "a red circle", "--steps", "0"])
    assert e.value.code == 2 and "--steps" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_fidelity_benchmark_prints_its_table():
    r = subprocess.run([sys.executable, "-m", "t2ilib.eval.fidelity", "--models", "digit_text", "shapes_minilm", "--n", "10",
                        "--steps", "3", "--guidance", "1", "3", "--device", "cpu", "--order-n", "4"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    tables = [[[c.strip() for c in line.strip("|").split("|")] for line in block.splitlines() if line.startswith("| ")]
              for block in r.stdout.split("\n\n")]
    tables = [t for t in tables if t]
    # shapes, their extra objects, their two-object errors, word order, digits
    assert [t[0][1] for t in tables] == ["guidance", "guidance", "guidance", "t = 900", "guidance"]
    extra = tables[1][2:]
    assert [row[:2] for row in extra] == [["shapes_minilm", "1.0"], ["shapes_minilm", "3.0"]]
    assert all(0 <= float(c.removesuffix(" %")) <= 100 for row in extra for c in row[2:])
    breakdown = tables[2][2:]
    assert [(row[0], row[1]) for row in breakdown] == [("shapes_minilm", "1.0")] * 2 + [("shapes_minilm", "3.0")] * 2
    for row in breakdown:  # the outcomes partition the two-object samples
        assert abs(sum(float(c.removesuffix(" %")) for c in row[3:]) - 100) < 0.5, row
    order = tables[3][2:]
    assert [row[0] for row in order] == ["shapes_minilm"]
    assert all(0 <= float(c.removesuffix(" %")) <= 100 for c in order[0][1:])
    rows = tables[0] + tables[4]
    header = rows[0]
    assert header[:2] == ["model", "guidance"] and "held-out, 2 objects" in header
    shapes = [row for row in rows if row[0] == "shapes_minilm"]
    digits = [row for row in rows if row[0] == "digit_text"]
    assert len(shapes) == 2 and len(digits) == 2 and [row[1] for row in shapes] == ["1.0", "3.0"]
    assert all(len(row) == len(header) for row in shapes)
    for row in shapes + digits:
        percentages = [float(c.removesuffix(" %")) for c in row if c.endswith(" %")]
        assert percentages and all(0 <= x <= 100 for x in percentages), row


def test_fidelity_benchmark_rejects_bad_arguments():
    for bad in (["--n", "0"], ["--order-n", "-1"]):
        r = subprocess.run([sys.executable, "-m", "t2ilib.eval.fidelity", *bad], capture_output=True, text=True, timeout=600)  # generous: CI runs notebooks beside it
        assert r.returncode == 2 and bad[0] in r.stderr, bad
