"""Models describe themselves: a spec rebuilds the architecture, and a checkpoint's two files rebuild the model."""

import json
import shutil

import pytest
import torch

from t2ilib.checkpoint import load_checkpoint, load_model_file, load_pretrained, save_checkpoint, save_model
from t2ilib.data.paths import checkpoint_dir
from t2ilib.diffusion import Denoiser
from t2ilib.model_spec import build_model, model_spec
from t2ilib.nn import UNet
from t2ilib.text.denoiser import TextConditionedUNet


def _same_architecture(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(sa[k].shape == sb[k].shape for k in sa)


@pytest.mark.parametrize("make", [
    lambda: UNet(in_channels=3, channels=(16, 32), num_res_blocks=1, attention_levels=(1,), num_classes=10),
    lambda: Denoiser(UNet(channels=(16, 32), num_res_blocks=1, attention_levels=()), "linear", 200, "v_prediction"),
    lambda: TextConditionedUNet("scratch", conditioning="tokens", max_tokens=8, resolution=16, channels=(16, 32),
                                num_res_blocks=1, attention_levels=(1,), schedule="linear", num_steps=100),
])
def test_spec_round_trip_rebuilds_the_architecture_through_json(make):
    model = make()
    spec = json.loads(json.dumps(model_spec(model)))  # what a manifest stores
    twin = build_model(spec)
    assert type(twin) is type(model) and _same_architecture(model, twin)
    assert model_spec(twin) == spec
    if hasattr(model, "diffusion"):
        assert twin.diffusion == model.diffusion and torch.equal(twin.schedule.betas, model.schedule.betas)


def test_a_subclass_records_its_own_arguments_not_its_parents():
    m = Denoiser(UNet(channels=(16, 32), num_res_blocks=1, attention_levels=()), num_steps=50)
    assert set(m.spec_args) == {"net", "schedule", "num_steps", "prediction"} and m.spec_args["num_steps"] == 50


def test_build_model_refuses_classes_outside_the_library_and_bad_specs():
    with pytest.raises(ValueError, match="expected a class of the t2ilib package"):
        build_model({"class": "os.system", "args": {}})
    with pytest.raises(ValueError, match="does not exist"):
        build_model({"class": "t2ilib.nn.unet.NoSuchNet", "args": {}})
    with pytest.raises(ValueError, match="not a describable model class"):
        build_model({"class": "t2ilib.diffusion.schedules.NoiseSchedule", "args": {}})
    with pytest.raises(ValueError, match="expected {'class'"):
        build_model({"class": "t2ilib.nn.unet.UNet"})
    with pytest.raises(TypeError, match="does not describe itself"):
        model_spec(torch.nn.Linear(2, 2))


def test_a_checkpoint_alone_rebuilds_and_samples_like_the_shipped_model(tmp_path):
    for suffix in (".safetensors", ".json"):
        shutil.copy(checkpoint_dir() / f"digit_ddpm{suffix}", tmp_path / f"copy{suffix}")
    alone, shipped = load_model_file(tmp_path / "copy.safetensors", "cpu"), load_pretrained("digit_ddpm", "cpu")
    assert alone.diffusion == {"schedule": "cosine", "num_steps": 1000, "prediction": "epsilon"}
    kw = dict(steps=2, generator=None, progress=False, precision="fp32")
    a = alone.sample((2, 1, 28, 28), **{**kw, "generator": torch.Generator().manual_seed(0)})
    b = shipped.sample((2, 1, 28, 28), **{**kw, "generator": torch.Generator().manual_seed(0)})
    assert torch.equal(a, b)


def test_saved_models_record_their_spec_and_old_manifests_fail_clearly(tmp_path):
    model = Denoiser(UNet(channels=(16, 32), num_res_blocks=1, attention_levels=()), "linear", 100)
    save_model(tmp_path / "m.safetensors", model)
    again = load_model_file(tmp_path / "m.safetensors", "cpu")
    assert _same_architecture(model, again) and again.diffusion == model.diffusion and not again.training
    tensors, manifest = load_checkpoint(tmp_path / "m.safetensors")
    del manifest["model"], manifest["format_version"], manifest["sha256"]
    save_checkpoint(tmp_path / "old.safetensors", tensors, manifest)
    json_path = tmp_path / "old.json"
    json_path.write_text(json.dumps({**json.loads(json_path.read_text()), "format_version": 1}))
    with pytest.raises(ValueError, match=r"format 1\) does not describe the model .*python -m t2ilib migrate old"):
        load_model_file(tmp_path / "old.safetensors", "cpu")


def test_migrate_adds_the_spec_and_moves_a_bare_unet_into_a_denoiser(tmp_path):
    from t2ilib.recipes import get_recipe, migrate_manifest

    unet = get_recipe("digit_ddpm").build().net  # a format-1 digit_ddpm held the bare UNet's tensors
    save_checkpoint(tmp_path / "digit_ddpm.safetensors", unet.state_dict(), {"recipe": "digit_ddpm", "steps": 1})
    json_path = tmp_path / "digit_ddpm.json"
    json_path.write_text(json.dumps({**json.loads(json_path.read_text()), "format_version": 1}))
    migrate_manifest("digit_ddpm", out_dir=tmp_path)
    model = load_model_file(tmp_path / "digit_ddpm.safetensors", "cpu")
    assert isinstance(model, Denoiser) and model.diffusion["prediction"] == "epsilon"
    assert all(torch.equal(v, model.net.state_dict()[k]) for k, v in unet.state_dict().items())
    assert json.loads(json_path.read_text())["steps"] == 1  # provenance kept
