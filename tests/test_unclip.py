"""unCLIP (chapter 8): the diffusion prior's shapes, scale and null condition, the decoder's two conditioning paths
and its null embedding, spherical interpolation and text diffs, short seeded runs that learn, clear errors."""

import math

import pytest
import torch
import torch.nn.functional as F

from t2ilib.clip.data import clip_vocabulary
from t2ilib.clip.model import CLIP
from t2ilib.model_spec import build_model, model_spec
from t2ilib.unclip import DiffusionPrior, UnclipDecoder, slerp, text_diff

TINY_CLIP = dict(width=32, layers=1, heads=2, text_width=32, text_layers=1, text_heads=2, embed_dim=16, max_tokens=20)
TINY_PRIOR = dict(embed_dim=16, text_width=32, max_tokens=20, width=32, layers=2, heads=2)
TINY_DECODER = dict(embed_dim=16, context_tokens=4, context_dim=32, resolution=16, in_channels=3,
                    channels=(16, 32), attention_levels=(1,), heads=2)
CAPTIONS = ["a small red circle on the left", "a large blue square", "a green triangle at the top",
            "a small yellow hexagon on the right"]


@pytest.fixture(scope="module")
def clip():
    torch.manual_seed(0)
    return CLIP(clip_vocabulary(), **TINY_CLIP).eval()


@pytest.fixture(scope="module")
def prior():
    torch.manual_seed(1)
    return DiffusionPrior(**TINY_PRIOR)


def test_the_prior_predicts_one_embedding_per_caption_and_samples_unit_vectors(clip, prior):
    cond = prior.encode(CAPTIONS, clip)
    assert cond["text_embed"].shape == (4, 16) and cond["text_states"].shape == (4, 20, 32)
    assert torch.allclose(cond["text_embed"].norm(dim=-1), torch.ones(4), atol=1e-5)
    out = prior(torch.randn(4, 16), torch.tensor([0, 10, 500, 999]), **cond)
    assert out.shape == (4, 16)
    z = prior.sample_embeddings(CAPTIONS, steps=4, candidates=3, guidance=2.0, cond=cond)
    assert z.shape == (4, 16) and torch.allclose(z.norm(dim=-1), torch.ones(4), atol=1e-5)
    assert prior.scale == pytest.approx(4.0)  # sqrt(16): the prior works on components of variance ~1


def test_the_prior_keeps_the_candidate_closest_to_the_caption(clip, prior):
    cond = prior.encode(CAPTIONS[:2], clip)
    best = prior.sample_embeddings(CAPTIONS[:2], steps=3, candidates=3, seed=0, cond=cond)
    # the same six draws, one caption per row (same noise, same order): the pick is the one nearest its caption
    rep = {k: v.repeat_interleave(3, 0) for k, v in cond.items()}
    every = prior.sample_embeddings(CAPTIONS[:2] * 3, steps=3, candidates=1, seed=0, cond=rep).view(2, 3, 16)
    pick = (every * cond["text_embed"][:, None]).sum(-1).argmax(1)
    assert torch.allclose(best, every[torch.arange(2), pick], atol=1e-5)
    assert not torch.allclose(every[:, 0], every[:, 1], atol=1e-3)  # the candidates differ


def test_the_dropped_caption_is_one_null_condition(clip, prior):
    cond = prior.encode(CAPTIONS[:2], clip)
    z_t, t = torch.randn(1, 16).expand(2, -1), torch.tensor([300, 300])
    dropped = prior(z_t, t, drop=torch.tensor([True, True]), **cond)
    assert torch.allclose(dropped[0], dropped[1], atol=1e-5)  # the captions no longer matter
    kept = prior(z_t, t, drop=torch.tensor([False, False]), **cond)
    assert not torch.allclose(kept[0], kept[1], atol=1e-4)
    null = prior.null_like(cond)
    assert null["drop"].all() and torch.equal(null["text_states"], cond["text_states"])


def test_the_prior_rejects_mismatched_inputs(clip, prior):
    cond = prior.encode(CAPTIONS[:2], clip)
    with pytest.raises(ValueError, match=r"z_t: expected \(N, 16\)"):
        prior(torch.randn(2, 15), 3, **cond)
    with pytest.raises(ValueError, match="text_embed, text_states, text_mask"):
        prior(torch.randn(3, 16), 3, **cond)
    with pytest.raises(ValueError, match="candidates: expected an int >= 1"):
        prior.sample_embeddings(CAPTIONS[:2], candidates=0, cond=cond)


def test_a_short_prior_run_learns_a_caption_to_embedding_map(clip):
    torch.manual_seed(0)
    prior = DiffusionPrior(**TINY_PRIOR)
    cond = prior.encode(CAPTIONS, clip)
    targets = F.normalize(torch.randn(4, 16, generator=torch.Generator().manual_seed(3)), dim=-1)
    opt = torch.optim.Adam(prior.parameters(), 3e-3)
    g, losses = torch.Generator().manual_seed(0), []
    rep = {k: v.repeat(16, *([1] * (v.ndim - 1))) for k, v in cond.items()}
    for _ in range(60):
        loss = prior.loss(targets.repeat(16, 1), rep, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10, losses


def test_the_prior_describes_itself(prior):
    twin = build_model(model_spec(prior))
    assert isinstance(twin, DiffusionPrior) and twin.clip_name == "clip" and twin.prediction == "sample"
    twin.load_state_dict(prior.state_dict())


def test_the_decoder_reads_the_embedding_through_both_paths():
    torch.manual_seed(0)
    dec = UnclipDecoder(**TINY_DECODER)
    x, t, z = torch.randn(2, 3, 16, 16), torch.tensor([100, 700]), F.normalize(torch.randn(2, 16), dim=-1)
    out = dec(x, t, z)
    assert out.shape == x.shape
    ctx = dec.conditioning(z)
    assert ctx["context"].shape == (2, 4, 32) and torch.equal(ctx["cond"], z)
    # a step of training moves both the time-embedding path and the context-token path
    with torch.no_grad():  # zero-initialised output layers (UNet, residual and attention outputs) hide the gradient
        for p in dec.parameters():
            if p.ndim > 1 and not p.any():
                p.normal_(std=0.02)
    dec(x, t, z).pow(2).mean().backward()
    assert dec.to_context.weight.grad.abs().sum() > 0 and dec.unet.cond_embed[0].weight.grad.abs().sum() > 0


def test_the_decoders_null_embedding_is_zero_and_dropout_uses_it():
    z = F.normalize(torch.randn(1000, 16), dim=-1)
    dropped = UnclipDecoder.drop_embeddings(z, 0.1, torch.Generator().manual_seed(0))
    zero_rows = (dropped.abs().sum(-1) == 0)
    assert 0.07 < zero_rows.float().mean() < 0.13
    assert torch.equal(dropped[~zero_rows], z[~zero_rows])
    with pytest.raises(ValueError, match=r"p_uncond: expected a probability in \[0, 1\)"):
        UnclipDecoder.drop_embeddings(z, 1.0, torch.Generator())


def test_the_decoder_paints_images_and_rejects_wrong_embeddings():
    torch.manual_seed(0)
    dec = UnclipDecoder(**TINY_DECODER)
    images = dec.generate(F.normalize(torch.randn(2, 16), dim=-1), steps=3, guidance=2.0)
    assert images.shape == (2, 3, 16, 16) and images.min() >= -1 and images.max() <= 1
    with pytest.raises(ValueError, match=r"image_embeds: expected \(N, 16\) CLIP image embeddings"):
        dec.generate(torch.randn(2, 15), steps=2)
    with pytest.raises(ValueError, match="guidance: expected a number >= 0"):
        dec.generate(torch.randn(2, 16), guidance=-1)


def test_slerp_stays_on_the_sphere_between_its_endpoints():
    a, b = F.normalize(torch.randn(3, 16), dim=-1), F.normalize(torch.randn(3, 16), dim=-1)
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-5) and torch.allclose(slerp(a, b, 1.0), b, atol=1e-5)
    mid = slerp(a, b, 0.5)
    assert torch.allclose(mid, F.normalize(a + b, dim=-1), atol=1e-5)  # the midpoint of the arc
    w = torch.linspace(0, 1, 5)
    path = slerp(a[:1].expand(5, -1), b[:1].expand(5, -1), w)
    assert torch.allclose(path.norm(dim=-1), torch.ones(5), atol=1e-5)
    angles = torch.arccos((path[1:] * path[:-1]).sum(-1).clamp(-1, 1))  # equal steps of angle
    assert torch.allclose(angles, angles[0].expand(4), atol=1e-4)
    total = math.acos(float((a[0] * b[0]).sum()))
    assert float(angles.sum()) == pytest.approx(total, abs=1e-4)


def test_text_diff_starts_at_the_image_and_turns_towards_the_caption_difference(clip):
    z_i = F.normalize(torch.randn(16), dim=-1)
    path = text_diff(clip, z_i, "a red circle", "a blue circle", thetas=(0.0, 0.25, 0.5, 1.0))
    assert torch.allclose(path[0], z_i, atol=1e-5)
    z_old, z_new = clip.encode_text(["a red circle", "a blue circle"])
    z_d = F.normalize(z_new - z_old, dim=-1)
    assert torch.allclose(path[-1], z_d, atol=1e-5)
    toward = (path @ z_d).tolist()
    assert toward == sorted(toward)


def test_the_recipes_batches_feed_their_losses(monkeypatch):
    import t2ilib.recipes.unclip as recipe
    from t2ilib.recipes.diffusion import denoising_loss

    monkeypatch.setitem(recipe.BATCH, "decoder", 6)
    monkeypatch.setitem(recipe.BATCH, "prior", 6)
    torch.manual_seed(0)
    decoder = UnclipDecoder(**{**recipe.DECODER_MODEL, "channels": (16, 32, 32)})
    x0, t, eps, z = recipe.decoder_batches(decoder, "cpu")(0)
    assert x0.shape == (6, 3, 32, 32) and z.shape == (6, 96) and t.shape == (6,) and eps.shape == x0.shape
    assert torch.isfinite(denoising_loss(decoder, "cpu")(decoder, (x0, t, eps, z)))
    prior = DiffusionPrior(**{**recipe.PRIOR_MODEL, "width": 32, "layers": 1})
    z_i, cond, g = recipe.prior_batches(prior, "cpu")(3)
    assert z_i.shape == (6, 96) and cond["text_states"].shape == (6, 20, 96)
    assert torch.isfinite(recipe.prior_loss(prior, "cpu")(prior, (z_i, cond, g)))


def test_the_benchmarks_measure_tiny_models(clip):
    from t2ilib.eval.unclip_benchmark import prior_similarity, variation_fidelity

    torch.manual_seed(0)
    dec = UnclipDecoder(**{**TINY_DECODER, "resolution": 32})
    r = variation_fidelity(dec, clip, n_per_group=2, steps=2)
    assert set(r) >= {"seen, 1 object", "held-out, 2 objects", "fidelity"} and 0 <= r["fidelity"] <= 1
    prior = DiffusionPrior(**TINY_PRIOR)
    s = prior_similarity(prior, clip, n=4, steps=2, bank=20)
    assert -1 <= s["cosine to the true embedding"] <= 1 and s["nearest training image, held-out"] <= 1


def test_unclip_end_to_end_through_the_fidelity_measurement(clip, monkeypatch):
    from t2ilib.eval.fidelity import shapes_fidelity
    from t2ilib.unclip import Unclip
    import t2ilib.checkpoint

    monkeypatch.setattr(t2ilib.checkpoint, "frozen_pretrained", lambda name: clip)
    torch.manual_seed(0)
    model = Unclip(DiffusionPrior(**TINY_PRIOR), UnclipDecoder(**{**TINY_DECODER, "resolution": 32}))
    r = shapes_fidelity(model, n_per_group=2, steps=2, groups=("seen, 1 object",), sampling={"prior_steps": 2})
    assert 0 <= r["seen, 1 object"] <= 1 and r["seen, 1 object, n"] == 2
    no_prior = model.generate(["a red circle"], use_prior=False, steps=2)
    assert no_prior.shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="decoder: expected CLIP embeddings of the prior's size 16"):
        Unclip(DiffusionPrior(**TINY_PRIOR), UnclipDecoder(**{**TINY_DECODER, "embed_dim": 8}))


def test_the_diversity_measure_reads_the_worlds_own_spread_as_one_and_copies_as_zero(monkeypatch):
    import t2ilib.eval.fidelity
    from t2ilib.data.shapes import render_scenes, scene_for_caption
    from t2ilib.eval.unclip_benchmark import within_caption_spread
    from t2ilib.images import to_image_range

    captions = ["a small red circle on the left", "a large blue square at the bottom"]
    world = lambda wanted, k: to_image_range(render_scenes(  # noqa: E731
        [scene_for_caption(c, seed=100 + j % k) for j, c in enumerate(wanted)]))
    monkeypatch.setattr(t2ilib.eval.fidelity, "_generate", lambda m, wanted, *a, **kw: world(wanted, 6))
    fresh = within_caption_spread(object(), captions, k=6)
    assert fresh["fidelity"] > 0.9 and fresh["captions measured"] == 2
    assert 0.6 < fresh["spread"] < 1.6, fresh  # other renders of the same captions: about as varied as the world
    monkeypatch.setattr(t2ilib.eval.fidelity, "_generate", lambda m, wanted, *a, **kw: world(wanted, 1))
    assert within_caption_spread(object(), captions, k=6)["spread"] == 0.0  # one picture per caption
    with pytest.raises(ValueError, match="k: expected at least 2"):
        within_caption_spread(object(), captions, k=1)


def test_the_unclip_benchmark_prints_its_tables_and_rejects_bad_arguments(capsys, monkeypatch):
    """The command with small untrained halves over the shipped CLIP: every table and row, and its argument checks."""
    import t2ilib.unclip
    from t2ilib.eval.unclip_benchmark import main
    from t2ilib.unclip import Unclip

    monkeypatch.setenv("T2I_PRECISION", "fp32")  # restored afterwards: --precision sets it for the whole process
    torch.manual_seed(0)
    small = Unclip(DiffusionPrior(width=32, layers=1, heads=2),
                   UnclipDecoder(context_dim=32, in_channels=3, channels=(16, 32), attention_levels=(1,), heads=2))
    monkeypatch.setattr(t2ilib.unclip.Unclip, "pretrained", classmethod(lambda cls, device="cpu": small))

    main(["--n", "2", "--bank", "50", "--diversity-captions", "2", "--k", "2", "--skip-diffusion", "--precision",
          "fp32", "--device", "cpu", "--steps", "2"])
    out = capsys.readouterr().out
    for row in ("| prior |", "| text embedding |", "| nearest training image |", "| unclip_decoder (ceiling) |",
                "| unclip |", "| unclip_decoder, no prior |"):
        assert row in out, (row, out)
    assert "shapes_scratch" not in out and out.count("| unclip | ") == 3  # fidelity row + two diversity rows
    import t2ilib.checkpoint  # one part, without the prior (as when the prior is still training)
    load = t2ilib.checkpoint.load_pretrained
    monkeypatch.setattr(t2ilib.unclip.Unclip, "pretrained", None)
    monkeypatch.setattr(t2ilib.checkpoint, "load_pretrained",
                        lambda name, device="cpu": small.decoder if name == "unclip_decoder" else load(name, device))
    main(["--n", "2", "--diversity-captions", "2", "--k", "2", "--parts", "ceiling", "--precision", "fp32", "--device",
          "cpu", "--steps", "2"])
    out = capsys.readouterr().out
    assert "| unclip_decoder (ceiling) |" in out and "| prior |" not in out and "| unclip |" not in out
    assert "diversity" not in out
    for bad, message in ((["--k", "1"], "--k >= 2"), (["--guidance", "-1"], "--guidance and --prior-guidance")):
        with pytest.raises(SystemExit):
            main(bad)
        assert message in capsys.readouterr().err
