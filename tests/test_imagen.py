"""Mini Imagen: noise conditioning augmentation, the super-resolution model's inputs, the cascade."""

import pytest
import torch

from t2ilib.diffusion import noised_batches
from t2ilib.diffusion.schedules import cosine_alpha_bar
from t2ilib.diffusion.training import diffusion_loss
from t2ilib.imagen import SuperResUNet, downsample, generate_cascade, noise_augment, superres_batches, upsample, upscale
from t2ilib.imagen.augmentation import NOISE_LEVEL_SCALE, check_level
from t2ilib.model_spec import build_model, model_spec
from t2ilib.nn import UNet
from t2ilib.text.denoiser import TextConditionedUNet

SMALL = dict(max_tokens=16, in_channels=3, channels=(16, 32), attention_levels=(1,))


def small_upsampler(**kw) -> SuperResUNet:
    return SuperResUNet(low_resolution=8, encoder="scratch", resolution=16, prediction="v_prediction", **SMALL, **kw)


def unzero(model):  # leave the zero-initialised start (output conv, residual branches), so inputs can matter
    for p in (model.unet if hasattr(model, "unet") else model).parameters():
        torch.nn.init.normal_(p, std=0.05) if p.ndim > 1 else None
    return model


# ------------------------------------------------------------------------------------- noise augmentation
def test_noise_augment_is_the_forward_process_at_the_level():
    g = torch.Generator().manual_seed(0)
    x, eps = torch.rand(3, 3, 8, 8, generator=g) * 2 - 1, torch.randn(3, 3, 8, 8, generator=g)
    assert torch.equal(noise_augment(x, 0.0, eps), x)  # a = 0: clean
    assert torch.allclose(noise_augment(x, 1.0, eps), eps, atol=1e-6)  # a = 1: pure noise
    levels = torch.tensor([0.1, 0.5, 0.9])
    abar = cosine_alpha_bar(levels).float().reshape(3, 1, 1, 1)
    assert torch.allclose(noise_augment(x, levels, eps), abar.sqrt() * x + (1 - abar).sqrt() * eps, atol=1e-6)
    print(f"abar at levels 0.1 / 0.5 / 0.9: {[round(v, 4) for v in abar.flatten().tolist()]}")
    for bad in (-0.1, 1.5, torch.tensor([0.1, 0.2])):
        with pytest.raises(ValueError, match="level"):
            noise_augment(x, bad, eps)
    with pytest.raises(ValueError, match="noise"):
        noise_augment(x, 0.5, eps[:, :1])


def test_downsample_averages_blocks_and_upsample_restores_size():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert torch.equal(downsample(x, 2), torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]]))
    assert upsample(downsample(x, 2), 4).shape == x.shape
    const = torch.full((1, 3, 8, 8), 0.3)
    assert torch.allclose(upsample(downsample(const, 4), 8), const)
    with pytest.raises(ValueError, match="size"):
        downsample(x, 3)


# ---------------------------------------------------------------------------------------------- the UNet
def test_unet_reads_a_low_res_image_and_its_noise_level():
    torch.manual_seed(0)
    u = unzero(UNet(3, channels=(16, 32), attention_levels=(1,), low_res_channels=3, noise_level_embed=True))
    x, t, lr = torch.randn(2, 3, 8, 8), torch.tensor([10, 500]), torch.randn(2, 3, 8, 8)
    out = u(x, t, low_res=lr, noise_level=torch.tensor([0.0, 200.0]))
    assert out.shape == x.shape
    assert not torch.allclose(out, u(x, t, low_res=lr.flip(0), noise_level=torch.tensor([0.0, 200.0])))
    assert not torch.allclose(out, u(x, t, low_res=lr, noise_level=torch.tensor([300.0, 200.0])))
    assert u.config["low_res_channels"] == 3 and u.config["noise_level_embed"] is True
    with pytest.raises(ValueError, match="low_res"):
        u(x, t, noise_level=torch.zeros(2))
    with pytest.raises(ValueError, match="low_res"):
        u(x, t, low_res=lr[:, :, :4, :4], noise_level=torch.zeros(2))
    with pytest.raises(ValueError, match="noise_level"):
        u(x, t, low_res=lr)
    plain = UNet(3, channels=(16, 32), attention_levels=(1,))
    assert "low_res_channels" not in plain.config and "noise_level_embed" not in plain.config  # configs unchanged
    with pytest.raises(ValueError, match="low_res"):
        plain(x, t, low_res=lr)
    with pytest.raises(ValueError, match="noise_level"):
        plain(x, t, noise_level=torch.zeros(2))


# ------------------------------------------------------------------------------------ super-resolution model
def test_upsampler_conditions_on_image_level_and_caption_and_rebuilds_from_its_spec():
    torch.manual_seed(0)
    m = unzero(small_upsampler())
    low = torch.rand(2, 3, 8, 8) * 2 - 1
    cond = m.condition(low, 0.0)
    assert torch.allclose(cond["low_res"], upsample(low, 16)) and cond["noise_level"].tolist() == [0.0, 0.0]
    cond_half = m.condition(low, 0.5, generator=torch.Generator().manual_seed(0))
    assert cond_half["noise_level"].tolist() == [0.5 * NOISE_LEVEL_SCALE] * 2
    x, t, caps = torch.randn(2, 3, 16, 16), torch.tensor([100, 700]), ["a red circle on the left"] * 2
    out = m(x, t, caps, **cond)
    assert out.shape == x.shape
    assert not torch.allclose(out, m(x, t, caps, **cond_half), atol=1e-4)
    assert not torch.allclose(out, m(x, t, ["a blue square at the top"] * 2, **cond), atol=1e-4)
    twin = build_model(model_spec(m))
    twin.load_state_dict(m.state_dict())
    assert isinstance(twin, SuperResUNet) and twin.low_resolution == 8 and torch.allclose(twin(x, t, caps, **cond), out)
    with pytest.raises(ValueError, match="low_res"):
        m.condition(torch.rand(2, 3, 16, 16), 0.0)
    with pytest.raises(ValueError, match="low_res, noise_level"):
        m(x, t, caps)
    with pytest.raises(ValueError, match="low_resolution"):
        SuperResUNet(low_resolution=12, encoder="scratch", resolution=16, **SMALL)
    with pytest.raises(ValueError, match="low_res_channels"):
        SuperResUNet(low_resolution=8, encoder="scratch", resolution=16, low_res_channels=1, **SMALL)


def test_upsampler_guidance_drops_the_caption_and_keeps_the_image():
    torch.manual_seed(0)
    m = unzero(small_upsampler())
    low = torch.rand(2, 3, 8, 8) * 2 - 1
    cond = m.condition(low, 0.3, generator=torch.Generator().manual_seed(1))
    x, t, caps = torch.randn(2, 3, 16, 16), torch.tensor([300, 300]), ["a red circle on the left", "a blue square"]
    with torch.no_grad():
        c, u = m(x, t, caps, **cond), m(x, t, ["", ""], **cond)
        assert torch.allclose(m.guided(caps, 4.0, cond)(x, t), u + 4.0 * (c - u), atol=1e-5)
        assert torch.allclose(m.guided(caps, 1.0, cond)(x, t), c, atol=1e-6)
    with pytest.raises(ValueError, match="image_condition"):
        m.guided(caps, 2.0)


def test_superres_batches_are_seeded_and_noise_the_shrunk_image():
    images = torch.rand(4, 3, 16, 16) * 2 - 1
    captioned = lambda step: (images, ["a red circle"] * 4)  # noqa: E731
    batches = superres_batches(captioned, 8, max_level=0.6)
    x0, caps, low, level = batches(3)
    assert torch.equal(x0, images) and low.shape == images.shape and level.shape == (4,)
    assert ((level >= 0) & (level <= 0.6 * NOISE_LEVEL_SCALE)).all() and level.std() > 0
    assert all(torch.equal(a, b) for a, b in zip(batches(3)[2:], (low, level)))
    clean = superres_batches(captioned, 8, max_level=0.0)(3)
    assert torch.equal(clean[3], torch.zeros(4)) and torch.allclose(clean[2], upsample(downsample(images, 8), 16))
    with pytest.raises(ValueError, match="level"):
        superres_batches(captioned, 8, max_level=2.0)


def test_upsampler_short_training_run_reduces_the_loss():
    from t2ilib.data.shapes import ShapesWorld
    from t2ilib.train import TrainConfig, Trainer

    torch.manual_seed(0)
    m = small_upsampler()
    scenes = ShapesWorld(10**6, 16, 0, "train").batches(16)
    batches = noised_batches(superres_batches(lambda s: (scenes(s).images, scenes(s).captions), 8, 0.5),
                             m.num_steps)
    trainer = Trainer(m, diffusion_loss(m.schedule, m.prediction), batches,
                      TrainConfig(steps=60, lr=2e-3, warmup_steps=5, log_every=10))
    trainer.fit()
    loss = trainer.history.loss
    print(f"upsampler loss: first 10 steps {sum(loss[:10]) / 10:.3f}, last 10 {sum(loss[-10:]) / 10:.3f}")
    assert sum(loss[-10:]) < 0.8 * sum(loss[:10])


# ----------------------------------------------------------------------------------------------- cascade
def test_cascade_runs_each_stage_and_checks_that_they_fit():
    torch.manual_seed(0)
    base = unzero(TextConditionedUNet("scratch", resolution=8, prediction="v_prediction", **SMALL))
    up = unzero(small_upsampler())
    caps = ["a red circle on the left", "a blue square"]
    out = generate_cascade(base, up, caps, steps=(3, 3), level=0.2, stages=True)
    assert out["base"].shape == (2, 3, 8, 8) and out["final"].shape == (2, 3, 16, 16)
    assert out["final"].abs().max() <= 1 and out["base"].abs().max() <= 1
    final = generate_cascade(base, up, caps, steps=(3, 3), level=0.2, threshold=("dynamic", "dynamic"))
    assert final.shape == (2, 3, 16, 16) and final.abs().max() <= 1
    assert torch.allclose(upscale(up, caps, out["base"], level=0.2, steps=3, seed=1), out["final"])
    wrong = TextConditionedUNet("scratch", resolution=16, **SMALL)
    with pytest.raises(ValueError, match="upsampler"):
        generate_cascade(wrong, up, caps, steps=(3, 3))
    with pytest.raises(ValueError, match="guidance"):
        generate_cascade(base, up, caps, guidance=3.0)
    with pytest.raises(ValueError, match="threshold"):
        generate_cascade(base, up, caps, steps=(3, 3), threshold=("static", "percent"))
    assert check_level(0.25).item() == 0.25


def test_cascade_with_a_perfect_base_upscales_the_worlds_own_pictures_and_fidelity_reads_it():
    from t2ilib.data.shapes import render_scenes, scene_for_caption
    from t2ilib.eval.fidelity import shapes_fidelity
    from t2ilib.imagen import Cascade
    from t2ilib.imagen.cascade import rendered_low_res

    caps = ["a small red circle on the left", "a large blue square left of a small green cross"]
    low = rendered_low_res(caps, 16, seed=3)
    full = render_scenes([scene_for_caption(c, seed=3) for c in caps]).float().div(127.5).sub(1)
    assert low.shape == (2, 3, 16, 16) and torch.allclose(low, downsample(full, 16))
    up = SuperResUNet(low_resolution=16, encoder="scratch", resolution=32, **{**SMALL, "channels": (16, 32)})
    cascade = Cascade(None, up).eval()
    out = cascade.generate(caps, steps=(2, 2), stages=True, seed=3)
    assert torch.allclose(out["base"], low) and out["final"].shape == (2, 3, 32, 32)
    r = shapes_fidelity(cascade, n_per_group=2, steps=2, groups=("seen, 1 object",), sampling={"level": 0.1})
    assert 0 <= r["seen, 1 object"] <= 1 and r["seen, 1 object, n"] == 2


def test_threshold_trace_records_s_and_saturation_and_applies_the_rule():
    from t2ilib.diffusion.guidance import dynamic_threshold
    from t2ilib.eval.imagen_benchmark import ThresholdTrace

    x0 = torch.linspace(-3, 3, 2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    trace = ThresholdTrace(0.9)
    assert torch.allclose(trace(x0), dynamic_threshold(x0, 0.9))
    flat = x0.reshape(2, -1).abs()
    assert trace.s == [pytest.approx(float(torch.quantile(flat, 0.9, dim=1).mean()), rel=1e-5)]
    assert trace.saturated == [pytest.approx(float((flat > 1).float().mean()))]
    assert torch.equal(ThresholdTrace(None)(x0), x0.clamp(-1, 1))
    assert torch.equal(ThresholdTrace(None, apply=False)(x0), x0)


def test_the_imagen_benchmark_prints_its_tables(capsys, monkeypatch):
    """The command with small untrained stages: every table and row, and its argument checks."""
    import t2ilib.checkpoint
    from t2ilib.eval.imagen_benchmark import main
    from t2ilib.imagen import Cascade

    monkeypatch.setenv("T2I_PRECISION", "fp32")  # restored afterwards: --precision sets it for the whole process
    torch.manual_seed(0)
    tiny = dict(max_tokens=24, in_channels=3, channels=(16, 32), attention_levels=(1,), prediction="v_prediction")
    base = TextConditionedUNet("scratch", resolution=16, **tiny)
    up = lambda: SuperResUNet(low_resolution=16, encoder="scratch", resolution=32, **tiny)  # noqa: E731
    small = Cascade(base, up())
    real = t2ilib.checkpoint.load_pretrained
    fakes = {"imagen_sr": small.upsampler, "imagen_sr_noaug": up(),
             "shapes_scratch": TextConditionedUNet("scratch", resolution=32, **tiny)}
    monkeypatch.setattr(Cascade, "pretrained", classmethod(lambda cls, device="cpu": small))
    monkeypatch.setattr(t2ilib.checkpoint, "load_pretrained",
                        lambda name, device="cpu": fakes[name] if name in fakes else real(name, device))
    common = ["--n", "2", "--steps", "2", "--time-n", "2", "--device", "cpu", "--precision", "fp32"]
    main([*common, "--sweep-n", "1", "--levels", "0", "0.2", "--threshold-n", "1", "--threshold-guidance", "5"])
    out = capsys.readouterr().out
    for line in ("1. The upsampler's ceiling", "| bilinear (no model) |", "2. The base model's samples (1 per group)",
                 "| imagen_sr_noaug | 0.2 |", "3. Cascade", "| cascade |", "| shapes_scratch |", "FID floor",
                 "4. Thresholding", "dynamic p = 0.995", "| 5.0 | none |"):
        assert line in out, (line, out)
    main([*common, "--sweep-n", "2", "--tables", "3", "--skip-single"])
    out = capsys.readouterr().out
    assert "3. Cascade" in out and "| cascade |" in out
    assert not any(f"\n{k}. " in out for k in (1, 2, 4)) and "shapes_scratch" not in out

    def no_base(cls, device="cpu"):
        raise AssertionError("table 1 must not load the base model")
    monkeypatch.setattr(Cascade, "pretrained", classmethod(no_base))
    main([*common, "--sweep-n", "2", "--tables", "1"])
    out = capsys.readouterr().out
    assert "| imagen_sr |" in out and "| imagen_sr_noaug |" in out and "3. Cascade" not in out
    for bad in (["--levels", "1.5"], ["--n", "10", "--sweep-n", "20"], ["--tables", "5"]):
        with pytest.raises(SystemExit):
            main(bad)


def test_emoji_split_holds_out_a_tenth_of_the_names_with_their_images():
    from t2ilib.data import load_emoji
    from t2ilib.imagen.open_vocabulary import captioned_emoji, emoji_split

    train, held = emoji_split()
    captions = load_emoji(16).captions
    assert sorted(train + held) == list(range(len(captions)))
    assert not {captions[i] for i in train} & {captions[i] for i in held}
    assert len({captions[i] for i in held}) == round(0.1 * len(set(captions)))
    assert emoji_split() == (train, held)
    images, caps = captioned_emoji("cpu", batch=8, p_uncond=0.0)(3)
    assert images.shape == (8, 3, 32, 32) and set(caps) <= {captions[i] for i in train}
    with pytest.raises(ValueError, match="fraction"):
        emoji_split(1.5)


def test_target_ranks_and_the_shuffled_baseline():
    from t2ilib.eval.open_vocabulary import hit_rates, shuffled_targets, target_ranks

    real = torch.eye(10)
    generated = real[[2, 5, 7]] + 0.1 * torch.ones(3, 10)
    targets = torch.tensor([2, 5, 7])
    ranks = target_ranks(generated, real, targets)
    assert ranks.tolist() == [1, 1, 1]
    # equal similarities do not push the target down
    assert target_ranks(generated, real, torch.tensor([5, 7, 2])).tolist() == [2, 2, 2]
    assert hit_rates(ranks, 10) == {"top-1": 1.0, "top-10 %": 1.0, "median rank": 1}
    other = shuffled_targets(targets)
    assert sorted(other.tolist()) == sorted(targets.tolist()) and (other != targets).all()
    with pytest.raises(ValueError, match="targets"):
        target_ranks(generated, real, torch.tensor([2, 5, 70]))


def test_emoji_features_autoencoder_shapes_augmentation_and_a_short_run():
    from t2ilib.eval.emoji_features import EmojiAutoencoder, augmented_emoji, autoencoder_loss, reconstruction_psnr
    from t2ilib.train import TrainConfig, Trainer

    torch.manual_seed(0)
    images = torch.randint(0, 256, (40, 3, 32, 32), dtype=torch.uint8)
    images[:, :, :4] = 255  # a white band at the top
    batches = augmented_emoji(images, "cpu", batch=16, max_shift=2)
    b = batches(5)
    assert b.shape == (16, 3, 32, 32) and b.min() >= -1 and b.max() <= 1
    assert torch.equal(b, batches(5))
    assert (b[:, :, 0] == 1).float().mean() > 0.9  # shifted in white, not black
    model = EmojiAutoencoder(width=16, code_channels=4)
    assert model.features(b).shape == (16, 4 * 4 * 4)
    with pytest.raises(ValueError, match="images"):
        model.features(torch.zeros(2, 3, 16, 16))
    before = reconstruction_psnr(model, images)
    trainer = Trainer(model, autoencoder_loss, batches, TrainConfig(steps=40, lr=3e-3, warmup_steps=0, log_every=10))
    trainer.fit()
    assert trainer.history.loss[-1] < trainer.history.loss[0]
    assert reconstruction_psnr(model, images) > before
    rebuilt = build_model(model_spec(model))
    assert isinstance(rebuilt, EmojiAutoencoder)


def test_open_vocabulary_ranks_each_names_own_emoji_and_reports_the_shuffled_baseline(monkeypatch):
    from t2ilib.eval import open_vocabulary as ov
    from t2ilib.eval.emoji_features import EmojiAutoencoder
    from t2ilib.recipes.imagen import build_emoji

    real, pool = ov.emoji_pool()
    assert len(pool) == len(set(pool)) == len(real) == 1910
    held = ov.emoji_names("held-out")
    assert len(held) == 191 and held == sorted(held)
    seen = ov.emoji_names("seen", 20)
    assert len(seen) == 20 and not set(seen) & set(held) and seen == ov.emoji_names("seen", 20)
    with pytest.raises(ValueError, match="which"):
        ov.emoji_names("all")

    def perfect(model, captions, **kw):  # a "model" that returns each name's real emoji
        return real[[pool.index(c) for c in captions]].float().div(127.5).sub(1)

    monkeypatch.setattr("t2ilib.text.denoiser.generate", perfect)
    features = EmojiAutoencoder(width=16, code_channels=4)
    r = ov.open_vocabulary(build_emoji("minilm"), features, n=12, steps=2)
    assert r["top-1"] == 1.0 and r["median rank"] == 1 and r["n"] == 12 and r["pool"] == 1910
    assert r["shuffled top-1"] < 0.5


def test_the_open_vocabulary_command_prints_its_table(capsys, monkeypatch):
    from t2ilib.eval import open_vocabulary as ov
    from t2ilib.eval.emoji_features import EmojiAutoencoder
    from t2ilib.recipes.imagen import build_emoji

    fakes = {"emoji_features": EmojiAutoencoder(width=16, code_channels=4), "emoji_minilm": build_emoji("minilm")}
    monkeypatch.setattr("t2ilib.checkpoint.load_pretrained", lambda name, device=None: fakes[name])
    monkeypatch.setattr("t2ilib.text.denoiser.generate",
                        lambda model, caps, seed=0, **kw: torch.rand((len(caps), 3, 32, 32),
                                                                    generator=torch.Generator().manual_seed(seed)))
    ov.main(["--models", "emoji_minilm", "--seeds", "0", "1", "--n", "8", "--device", "cpu"])
    out = capsys.readouterr().out
    assert "| emoji_minilm | held-out | 8 |" in out and "| emoji_minilm | seen | 8 |" in out and " ± " in out
    with pytest.raises(SystemExit):
        ov.main(["--n", "1"])
