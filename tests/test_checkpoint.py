"""Checkpoints: bit-exact round trip, manifest, atomic writes, integrity and clear errors. No pickle anywhere."""

import json
import re
from pathlib import Path

import pytest
import torch

import t2ilib.checkpoint as ckpt
from t2ilib.checkpoint import load_checkpoint, load_model, round_weights, save_checkpoint, save_model


class Net(torch.nn.Module):
    def __init__(self, width=8):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, width, 3)
        self.bn = torch.nn.BatchNorm2d(width)  # buffers, including an int64 counter
        self.fc = torch.nn.Linear(width, 3)


def test_round_trip_is_bit_exact_for_all_dtypes(tmp_path):
    tensors = {"f32": torch.randn(3, 4), "bf16": torch.randn(5).bfloat16(), "f16": torch.randn(2).half(),
               "i64": torch.arange(7), "u8": torch.randint(0, 255, (4,), dtype=torch.uint8),
               "view": torch.randn(6, 6)[:, 2]}  # non-contiguous
    save_checkpoint(tmp_path / "t.safetensors", tensors, {"recipe": "x", "metrics": {"a": 1.5}})
    back, manifest = load_checkpoint(tmp_path / "t.safetensors")
    assert set(back) == set(tensors)
    for k in tensors:
        assert back[k].dtype == tensors[k].dtype and torch.equal(back[k], tensors[k]), k
    assert manifest["recipe"] == "x" and manifest["metrics"] == {"a": 1.5} and len(manifest["sha256"]) == 64


def test_model_round_trip_restores_weights_and_buffers(tmp_path):
    a = Net()
    a.bn.running_mean.uniform_()
    a.bn.num_batches_tracked += 5
    save_model(tmp_path / "m.safetensors", a, {"recipe": "net", "steps": 3})
    b = Net()
    manifest = load_model(tmp_path / "m.safetensors", b)
    assert manifest["kind"] == "model" and manifest["steps"] == 3
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(v, w), k


def test_shared_tensors_are_saved(tmp_path):
    w = torch.randn(4, 4)
    save_checkpoint(tmp_path / "s.safetensors", {"a": w, "b": w})  # safetensors alone refuses shared memory
    back, _ = load_checkpoint(tmp_path / "s.safetensors")
    assert torch.equal(back["a"], back["b"])


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, {"w": torch.ones(3)}, {"steps": 1})

    real_fsync = ckpt.os.fsync

    def boom(fd):  # the power goes while the new tensors are being flushed to the temporary file
        real_fsync(fd)
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(ckpt.os, "fsync", boom)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"w": torch.zeros(3)}, {"steps": 2})
    monkeypatch.undo()
    back, manifest = load_checkpoint(path)
    assert torch.equal(back["w"], torch.ones(3)) and manifest["steps"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json", "c.safetensors"]  # no temp files left


def test_tampered_weights_are_detected(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, {"w": torch.ones(3)})
    save_checkpoint(tmp_path / "other.safetensors", {"w": torch.zeros(3)})
    path.write_bytes((tmp_path / "other.safetensors").read_bytes())
    with pytest.raises(ValueError, match="SHA-256 does not match"):
        load_checkpoint(path)


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.safetensors")
    with pytest.raises(ValueError, match="ending in .safetensors"):
        save_checkpoint(tmp_path / "model.pt", {"w": torch.ones(1)})
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        save_checkpoint(tmp_path / "m.safetensors", {"w": [1, 2]})
    save_model(tmp_path / "m.safetensors", Net(8))
    with pytest.raises(ValueError, match="does not fit this model.*shape mismatches"):
        load_model(tmp_path / "m.safetensors", Net(4))
    (tmp_path / "m.json").unlink()
    with pytest.raises(FileNotFoundError, match="manifest not found"):
        load_checkpoint(tmp_path / "m.safetensors")


def test_manifest_is_plain_json(tmp_path):
    save_model(tmp_path / "m.safetensors", Net(), {"config": {"lr": 1e-3}})
    manifest = json.loads((tmp_path / "m.json").read_text())
    assert {"torch", "python", "created", "git_commit", "sha256"} <= set(manifest)


def test_no_runtime_code_unpickles_anything():
    root = Path(__file__).resolve().parents[1] / "t2ilib"
    offenders = []
    for f in root.rglob("*.py"):
        if f.name == "prepare.py":  # the one documented data-preparation exception
            continue
        text = f.read_text()
        for pattern in (r"pickle\.load", r"torch\.load\(", r"allow_pickle\s*=\s*True", r"import pickle"):
            if re.search(pattern, text):
                offenders.append(f"{f.name}: {pattern}")
    assert offenders == []


def test_float16_storage_halves_the_file_and_loads_the_rounded_weights(tmp_path):
    a = Net(2048)
    a.bn.running_var.uniform_(0.5, 2.0)
    a.bn.num_batches_tracked += 3
    save_model(tmp_path / "full.safetensors", a)
    save_model(tmp_path / "half.safetensors", a, {"recipe": "net"}, storage_dtype=torch.float16)
    full, half = (tmp_path / f"{n}.safetensors" for n in ("full", "half"))
    assert half.stat().st_size < 0.55 * full.stat().st_size
    stored, manifest = load_checkpoint(half)
    assert manifest["stored_dtype"] == "float16" and manifest["recipe"] == "net"
    assert stored["fc.weight"].dtype == torch.float16 and stored["bn.num_batches_tracked"].dtype == torch.int64
    b = Net(2048)
    load_model(half, b)
    assert b.fc.weight.dtype == torch.float32  # upcast on load
    rounded = Net(2048)
    rounded.load_state_dict(a.state_dict())
    round_weights(rounded, torch.float16)  # in memory, the same numbers as a save + load
    for (k, v), w, orig in zip(b.state_dict().items(), rounded.state_dict().values(), a.state_dict().values()):
        assert torch.equal(v, w), k
        if v.is_floating_point():
            assert torch.allclose(v, orig, rtol=1e-3, atol=1e-7), k  # fp16: 11 significant bits
    assert not torch.equal(b.conv.weight, a.conv.weight)  # random weights really were rounded


def test_float16_storage_refuses_values_it_cannot_hold(tmp_path):
    a = Net(8)
    with torch.no_grad():
        a.fc.weight[0, 0] = 1e6  # > 65504, the largest float16
    with pytest.raises(ValueError, match="fc.weight.*float32"):
        save_model(tmp_path / "m.safetensors", a, storage_dtype=torch.float16)
    assert not (tmp_path / "m.safetensors").exists()
    with pytest.raises(ValueError, match="storage_dtype"):
        save_model(tmp_path / "m.safetensors", a, storage_dtype=torch.int8)
