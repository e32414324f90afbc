"""The command line: end to end in a subprocess (rendering, generating), the rest in-process (the same ``main``
without the interpreter start-up each subprocess costs)."""

import subprocess
import sys

import pytest

from PIL import Image


def run(*args):
    return subprocess.run([sys.executable, "-m", "t2ilib", *args], capture_output=True, text=True, timeout=600)  # generous: CI runs notebooks beside it


def cli(capsys, main, *args):
    """(exit code, stdout, stderr) of ``main(args)`` in this process; argparse's exits become their codes."""
    try:
        code = main(list(args))
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_render_writes_a_png(tmp_path):
    out = tmp_path / "scene.png"
    r = run("render", "a large blue square left of a small green triangle", "--out", str(out), "--n", "3",
            "--resolution", "32")
    assert r.returncode == 0, r.stderr
    img = Image.open(out)
    assert img.size == (3 * 32 + 4, 32 + 2)  # three tiles with 1 px padding


def test_out_of_grammar_caption_gets_a_message_not_a_traceback(tmp_path, capsys):
    from t2ilib.__main__ import main

    code, _, err = cli(capsys, main, "render", "a purple dragon", "--out", str(tmp_path / "x.png"))
    assert code == 2 and "Traceback" not in err
    assert "Unknown words: ['dragon']" in err and "Known colours" in err


def test_unknown_recipe_and_help(capsys):
    from t2ilib.__main__ import main

    code, _, err = cli(capsys, main, "train", "imagen_xxl")
    assert code == 2 and "unknown recipe" in err and "digit_classifier" in err
    code, out, _ = cli(capsys, main, "--help")
    assert code == 0 and "generate" in out


def test_verify_reports_each_checkpoint_and_fails_on_a_miss(capsys, monkeypatch):
    """The command line path (in-process, the measurement stubbed): every shipped checkpoint's real re-measurement
    runs in test_shipped_checkpoints.py."""
    import t2ilib.recipes
    from t2ilib.__main__ import main

    asked = []
    monkeypatch.setattr(t2ilib.recipes, "verify", lambda name, quick=False: asked.append((name, quick)) or
                        (0.99, 0.99 if name == "digit_classifier" else 0.5, name == "digit_classifier"))
    assert main(["verify", "digit_classifier", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "precision fp32" in out or "precision bf16" in out
    assert "digit_classifier" in out and "recorded 0.9900  measured 0.9900  ok" in out
    assert main(["verify", "digit_classifier", "fashion_classifier"]) == 1
    assert "fashion_classifier       recorded 0.9900  measured 0.5000  FAILED" in capsys.readouterr().out
    assert asked == [("digit_classifier", True), ("digit_classifier", False), ("fashion_classifier", False)]


def test_precision_flag_is_checked(capsys):
    from t2ilib.__main__ import main

    with pytest.raises(SystemExit) as e:
        main(["verify", "digit_classifier", "--precision", "fp16"])
    assert e.value.code == 2 and "--precision: invalid choice: 'fp16'" in capsys.readouterr().err
    assert main(["verify", "not_a_recipe"]) == 2
    assert "unknown recipe(s) ['not_a_recipe']" in capsys.readouterr().err


def test_data_lists_the_datasets(capsys):
    from t2ilib.__main__ import main

    code, out, _ = cli(capsys, main, "data")
    assert code == 0 and "a handwritten digit" in out and "emoji" in out


def test_generate_writes_images_from_a_caption(tmp_path, capsys):
    from t2ilib.__main__ import main

    out = tmp_path / "img.png"
    r = run("generate", "a large red circle left of a small blue square", "--out", str(out), "--n", "2",
            "--steps", "5", "--seed", "1", "--precision", "fp32")
    assert r.returncode == 0, r.stderr
    assert "fp32" in r.stdout
    assert "shapes_scratch" in r.stdout and Image.open(out).size == (2 * 32 + 3, 32 + 2)
    out2 = tmp_path / "digit.png"
    code, stdout, err = cli(capsys, main, "generate", "a handwritten digit seven", "--out", str(out2), "--n", "1",
                            "--steps", "5", "--guidance", "2", "--threshold", "dynamic")
    assert code == 0, err
    assert "digit_text" in stdout and Image.open(out2).size == (28, 28)


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
    assert main(["generate", "a red circle", "--model", "parti"]) == 2
    assert "--model" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["generate", "a red circle", "--steps", "0"])
    assert e.value.code == 2 and "--steps" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_generate_with_unclip_runs_the_prior_and_the_decoder(tmp_path, capsys, monkeypatch):
    """The command's unCLIP path with small untrained halves over the shipped CLIP, its prompt check, and the
    message when a half is missing."""
    import torch

    import t2ilib.unclip
    from t2ilib.__main__ import main
    from t2ilib.data.paths import checkpoint_dir
    from t2ilib.unclip import DiffusionPrior, Unclip, UnclipDecoder

    monkeypatch.setenv("T2I_PRECISION", "fp32")  # restored afterwards: --precision sets it for the whole process
    data = tmp_path / "data"
    (data / "checkpoints").mkdir(parents=True)
    for suffix in (".safetensors", ".json"):
        (data / "checkpoints" / f"clip{suffix}").symlink_to(checkpoint_dir() / f"clip{suffix}")
    monkeypatch.setenv("T2I_DATA_DIR", str(data))
    out = tmp_path / "u.png"
    assert main(["generate", "a red circle", "--model", "unclip", "--out", str(out)]) == 2
    assert "unclip_prior.safetensors is missing; train it with `python -m t2ilib train unclip_prior`" in \
        capsys.readouterr().err
    for part in ("unclip_prior", "unclip_decoder"):
        (data / "checkpoints" / f"{part}.safetensors").touch()
    torch.manual_seed(0)
    small = Unclip(DiffusionPrior(width=32, layers=1, heads=2),
                   UnclipDecoder(context_dim=32, in_channels=3, channels=(16, 32), attention_levels=(1,), heads=2))
    monkeypatch.setattr(t2ilib.unclip.Unclip, "pretrained", classmethod(lambda cls, device="cpu": small))
    assert main(["generate", "a small red circle on the left", "--model", "unclip", "--n", "2", "--steps", "2",
                 "--out", str(out), "--precision", "fp32"]) == 0
    said = capsys.readouterr().out
    assert "from unclip" in said and "decoder: 2 DDIM steps" in said and Image.open(out).size == (2 * 32 + 3, 32 + 2)
    assert main(["generate", "a small red zebra on the left", "--model", "unclip", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "error (unclip)" in err and "never use ['zebra']" in err


def test_generate_with_imagen_runs_the_cascade_and_saves_its_stages(tmp_path, capsys, monkeypatch):
    """The command's cascade path with small untrained stages: both images written, the stage check, the message
    when a stage is missing, --save-stages refused for other models."""
    import torch

    from t2ilib.__main__ import main
    from t2ilib.imagen import Cascade, SuperResUNet
    from t2ilib.text.denoiser import TextConditionedUNet

    monkeypatch.setenv("T2I_PRECISION", "fp32")  # restored afterwards: --precision sets it for the whole process
    data = tmp_path / "data"
    (data / "checkpoints").mkdir(parents=True)
    monkeypatch.setenv("T2I_DATA_DIR", str(data))
    out = tmp_path / "i.png"
    assert main(["generate", "a red circle", "--model", "imagen", "--out", str(out)]) == 2
    assert "imagen_base.safetensors is missing; train it with `python -m t2ilib train imagen_base`" in \
        capsys.readouterr().err
    for part in ("imagen_base", "imagen_sr"):
        (data / "checkpoints" / f"{part}.safetensors").touch()
    torch.manual_seed(0)
    tiny = dict(max_tokens=24, in_channels=3, channels=(16, 32), attention_levels=(1,), prediction="v_prediction")
    small = Cascade(TextConditionedUNet("scratch", resolution=16, **tiny),
                    SuperResUNet(low_resolution=16, encoder="scratch", resolution=32, **tiny))
    monkeypatch.setattr(Cascade, "pretrained", classmethod(lambda cls, device="cpu": small))
    assert main(["generate", "a small red circle on the left", "--model", "imagen", "--n", "2", "--steps", "2",
                 "--save-stages", "--out", str(out), "--precision", "fp32"]) == 0
    said = capsys.readouterr().out
    assert "from imagen" in said and "base 16 px -> upsampler 32 px" in said
    assert Image.open(out).size == (2 * 32 + 3, 32 + 2) and Image.open(tmp_path / "i_base.png").size == (2 * 16 + 3, 16 + 2)
    assert main(["generate", "a small red zebra on the left", "--model", "imagen", "--out", str(out)]) == 2
    assert "error (imagen)" in capsys.readouterr().err
    assert main(["generate", "a small red circle", "--model", "shapes_scratch", "--save-stages", "--out", str(out)]) == 2
    assert "--save-stages: only for --model imagen" in capsys.readouterr().err


def test_fidelity_benchmark_prints_its_table(capsys):
    from t2ilib.eval.fidelity import main

    code, stdout, err = cli(capsys, main, "--models", "digit_text", "shapes_minilm", "--n", "10", "--steps", "3",
                            "--guidance", "1", "3", "--device", "cpu", "--order-n", "4")
    assert code is None, err
    tables = [[[c.strip() for c in line.strip("|").split("|")] for line in block.splitlines() if line.startswith("| ")]
              for block in stdout.split("\n\n")]
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


def test_fidelity_benchmark_rejects_bad_arguments(capsys):
    from t2ilib.eval.fidelity import main

    for bad in (["--n", "0"], ["--order-n", "-1"]):
        code, _, err = cli(capsys, main, *bad)
        assert code == 2 and bad[0] in err, bad
