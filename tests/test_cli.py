"""The command line, end to end in a subprocess."""

import subprocess
import sys

from PIL import Image


def run(*args):
    return subprocess.run([sys.executable, "-m", "t2ilib", *args], capture_output=True, text=True, timeout=120)


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
    r = run("verify", "digit_classifier", "digit_vae")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "digit_classifier" in r.stdout and "digit_vae" in r.stdout and r.stdout.count(" ok") == 2


def test_data_lists_the_datasets():
    r = run("data")
    assert r.returncode == 0 and "a handwritten digit" in r.stdout and "emoji" in r.stdout
