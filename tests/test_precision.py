"""The precision policy: bf16 autocast only where the hardware runs bf16 natively; an override; clear errors."""

import pytest
import torch

from t2ilib import precision as P
from t2ilib.train import TrainConfig, Trainer


@pytest.fixture
def cpu(monkeypatch):
    """Pretend to be a CPU with the given bf16 units and PyTorch kernel level."""
    monkeypatch.delenv("T2I_PRECISION", raising=False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)

    def make(amx=False, avx512_bf16=False, capability="AVX2"):
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    return make


def test_auto_picks_fp32_without_native_bf16(cpu):
    cpu(amx=False, avx512_bf16=False, capability="AVX2")
    assert P.resolve_precision(None, "cpu") == "fp32"
    assert P.resolve_precision("auto", "cpu") == "fp32"
    assert not P.native_bf16("cpu")[0]
    assert "AMX" in P.native_bf16("cpu")[1]


@pytest.mark.parametrize("amx, avx512_bf16", [(True, False), (False, True), (True, True)])
def test_auto_picks_bf16_with_native_bf16(cpu, amx, avx512_bf16):
    cpu(amx=amx, avx512_bf16=avx512_bf16, capability="AVX512")
    assert P.resolve_precision(None, "cpu") == "bf16"
    assert P.native_bf16("cpu") == (True, f"CPU with {'AMX' if amx else 'AVX512-BF16'}")


def test_emulating_an_avx2_cpu_turns_bf16_off(cpu, monkeypatch):
    cpu(amx=True, capability="AVX2")  # ATEN_CPU_CAPABILITY=avx2 on an AMX machine
    assert P.resolve_precision(None, "cpu") == "fp32"
    cpu(amx=True, capability="AVX512")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert P.resolve_precision(None, "cpu") == "fp32"
    assert "ONEDNN_MAX_CPU_ISA" in P.native_bf16("cpu")[1]
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    assert P.resolve_precision(None, "cpu") == "bf16"


def test_override_by_environment_and_argument(cpu, monkeypatch):
    cpu(amx=False)
    monkeypatch.setenv("T2I_PRECISION", "bf16")
    assert P.resolve_precision(None, "cpu") == "bf16"  # forced, even though emulated
    assert P.resolve_precision("fp32", "cpu") == "fp32"  # the argument beats the environment
    cpu(amx=True, capability="AVX512")
    monkeypatch.setenv("T2I_PRECISION", "fp32")
    assert P.resolve_precision(None, "cpu") == "fp32"
    monkeypatch.setenv("T2I_PRECISION", "AUTO")
    assert P.resolve_precision(None, "cpu") == "bf16"
    assert "T2I_PRECISION='AUTO'" in P.describe_precision(None, "cpu")


def test_bad_values_give_one_clear_error(cpu, monkeypatch):
    cpu()
    with pytest.raises(ValueError, match=r"precision: expected one of \('auto', 'fp32', 'bf16'\), got 'fp16'"):
        P.resolve_precision("fp16", "cpu")
    monkeypatch.setenv("T2I_PRECISION", "half")
    with pytest.raises(ValueError, match="environment variable T2I_PRECISION: expected one of .* got 'half'"):
        P.resolve_precision(None, "cpu")
    with pytest.raises(ValueError, match="precision: expected one of"):
        TrainConfig(steps=1, precision="float16")


def test_other_devices(monkeypatch):
    monkeypatch.delenv("T2I_PRECISION", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert P.resolve_precision(None, "cuda") == "fp32"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert P.resolve_precision(None, "cuda") == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert P.resolve_precision(None, "cuda") == "fp32"  # a GPU that only emulates bf16 (pre-Ampere)
    assert P.resolve_precision(None, "mps") == "fp32"


def test_autocast_follows_the_policy(cpu, monkeypatch):
    cpu(amx=False)
    layer, x = torch.nn.Linear(4, 4), torch.randn(2, 4)
    with P.autocast("cpu"):
        assert layer(x).dtype == torch.float32
    with P.autocast("cpu", "bf16"):
        assert layer(x).dtype == torch.bfloat16
    monkeypatch.setenv("T2I_PRECISION", "bf16")
    with P.autocast("cpu"):
        assert layer(x).dtype == torch.bfloat16


def test_trainer_resolves_once_and_records_it(cpu, monkeypatch, tmp_path):
    cpu(amx=False)
    model = torch.nn.Linear(3, 1)
    seen = []

    def loss_fn(m, batch):
        out = m(batch)
        seen.append(out.dtype)
        return out.float().pow(2).mean()

    t = Trainer(model, loss_fn, lambda s: torch.randn(4, 3), TrainConfig(steps=2), progress=False,
                checkpoint_path=tmp_path / "s.safetensors")
    assert t.precision == "fp32"
    t.fit()
    assert seen == [torch.float32, torch.float32]
    import json
    assert json.loads((tmp_path / "s.json").read_text())["precision"] == "fp32"
    monkeypatch.setenv("T2I_PRECISION", "bf16")
    t = Trainer(torch.nn.Linear(3, 1), loss_fn, lambda s: torch.randn(4, 3), TrainConfig(steps=1), progress=False)
    t.fit()
    assert t.precision == "bf16" and seen[-1] == torch.bfloat16


def test_cpu_description_names_the_cpu():
    d = P.cpu_description()
    assert "cores" in d and "torch kernels" in d
