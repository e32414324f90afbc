"""CLIP (chapter 7a): the loss against transformers' CLIPModel, the temperature clamp, the ViT's patches, the
training batches and hard negatives, zero-shot helpers, clear errors, and that a short run learns."""

import math

import pytest
import torch
import torch.nn.functional as F

from t2ilib.clip.data import (as_clip_images, clip_batches, clip_vocabulary, meaning, reshaped, reshaped_caption, swapped,
                              swapped_caption)
from t2ilib.clip.loss import batch_loss, clip_loss, logit_scale_value
from t2ilib.clip.model import CLIP, patchify
from t2ilib.clip.zero_shot import class_embeddings, clip_score, recall_at_k, rerank, same_meaning
from t2ilib.data.shapes import HELD_OUT_PAIRS, sample_scene
from t2ilib.data.shapes_captions import parse_caption
from t2ilib.model_spec import build_model, model_spec

TINY = dict(width=32, layers=1, heads=2, text_width=32, text_layers=1, text_heads=2, embed_dim=16, max_tokens=20)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return CLIP(clip_vocabulary(), **TINY).eval()


def random_inputs(model, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, len(model.vocab), (n, 12), generator=g)
    ids[:, 0], ids[:, 11] = model.tokenizer.cls_token_id, model.tokenizer.sep_token_id
    return ids, torch.rand(n, 3, 32, 32, generator=g) * 2 - 1


def test_clip_loss_equals_transformers_clipmodel_loss(tiny):
    ids, pixels = random_inputs(tiny)
    out = tiny.clip(input_ids=ids, pixel_values=pixels, return_loss=True)
    ours = clip_loss(out.image_embeds, out.text_embeds, tiny.logit_scale)
    assert torch.allclose(ours, out.loss, atol=1e-6), (ours.item(), out.loss.item())
    # and through the course's own encoders (same tokens, same pixels)
    img = F.normalize(tiny.clip.get_image_features(pixel_values=pixels).pooler_output, dim=-1)
    assert torch.allclose(img, out.image_embeds, atol=1e-6)


def test_clip_loss_is_the_symmetric_infonce_formula():
    g = torch.Generator().manual_seed(1)
    u, v = (F.normalize(torch.randn(5, 8, generator=g), dim=-1) for _ in range(2))
    s = torch.tensor(7.0)
    logits = s * u @ v.T
    by_hand = -0.5 * (torch.log_softmax(logits, 1).diag().mean() + torch.log_softmax(logits, 0).diag().mean())
    assert torch.allclose(clip_loss(u, v, s), by_hand, atol=1e-6)
    assert torch.allclose(clip_loss(u, v, s), clip_loss(v, u, s), atol=1e-6)  # symmetric in images and captions
    assert torch.allclose(clip_loss(u, v, s, torch.eye(5, dtype=torch.bool)), by_hand, atol=1e-6)


def test_clip_loss_with_duplicates_and_hard_negatives_matches_its_definition():
    g = torch.Generator().manual_seed(2)
    u, v = F.normalize(torch.randn(3, 8, generator=g), dim=-1), F.normalize(torch.randn(5, 8, generator=g), dim=-1)
    pos = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 1, 0, 0]], dtype=torch.bool)  # captions 3, 4: negatives
    s = torch.tensor(5.0)
    logits = s * u @ v.T
    rows = -sum((pos[i].float() / pos[i].sum() * torch.log_softmax(logits[i], 0)).sum() for i in range(3)) / 3
    cols = -sum((pos[:, j].float() / pos[:, j].sum() * torch.log_softmax(logits[:, j], 0)).sum() for j in range(3)) / 3
    assert torch.allclose(clip_loss(u, v, s, pos), (rows + cols) / 2, atol=1e-6)
    # a hard negative only adds to the image -> caption softmax: ranking it higher raises the loss
    closer = v.clone()
    closer[3] = u[0]
    assert clip_loss(u, closer, s, pos) > clip_loss(u, v, s, pos)


def test_clip_loss_refuses_bad_shapes_and_images_without_a_caption():
    u = F.normalize(torch.randn(3, 4), dim=-1)
    with pytest.raises(ValueError, match="at least one caption per image"):
        clip_loss(u, u[:2], torch.tensor(1.0))
    with pytest.raises(ValueError, match="every image needs"):
        clip_loss(u, u, torch.tensor(1.0), torch.zeros(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="embeddings"):
        clip_loss(u, torch.randn(3, 5), torch.tensor(1.0))


def test_temperature_starts_at_1_over_0_07_and_is_clamped_at_100(tiny):
    fresh = CLIP(clip_vocabulary(), **TINY)
    assert math.isclose(fresh.logit_scale.item(), 1 / 0.07, rel_tol=1e-6)
    t = torch.tensor(math.log(1000.0), requires_grad=True)
    s = logit_scale_value(t)
    assert math.isclose(s.item(), 100.0, rel_tol=1e-6)
    u = F.normalize(torch.randn(4, 8), dim=-1)
    clip_loss(u, u.flip(0), s).backward()
    assert t.grad.item() == 0.0  # clamped: no gradient pushes the scale higher
    t2 = torch.tensor(math.log(50.0), requires_grad=True)
    clip_loss(u, u.flip(0), logit_scale_value(t2)).backward()
    assert t2.grad.item() != 0.0


def test_loss_at_initialisation_is_about_ln_batch():
    """At initialisation (the shipped architecture, CLIPModel's init) image and caption embeddings are unrelated:
    every softmax over the batch is nearly uniform and the loss is close to ln N."""
    from t2ilib.recipes.clip import build_clip

    torch.manual_seed(0)
    model = build_clip()
    batch = clip_batches(64, hard_negatives=False)(0)
    loss, logs = batch_loss(model, batch)
    print(f"initial loss {loss.item():.4f}, ln 64 = {math.log(64):.4f}")
    assert abs(loss.item() - math.log(64)) < 0.25


def test_patchify_is_the_vit_patch_embedding(tiny):
    x = torch.randn(2, 3, 32, 32)
    p = patchify(x, 4)
    assert p.shape == (2, 64, 48)
    assert torch.equal(p[0, 1], x[0, :, 0:4, 4:8].reshape(-1))  # second patch: top row, second column
    conv = tiny.clip.vision_model.embeddings.patch_embedding  # Conv2d(3, D, kernel=stride=4)
    linear = p @ conv.weight.reshape(conv.out_channels, -1).T
    assert torch.allclose(linear, conv(x).flatten(2).transpose(1, 2), atol=1e-5)
    with pytest.raises(ValueError, match="patch_size"):
        patchify(x, 5)


def test_vocabulary_and_spec_rebuild_the_model(tiny):
    vocab = clip_vocabulary()
    assert vocab[:4] == ("[PAD]", "[UNK]", "[CLS]", "[SEP]") and {"seven", "sneaker", "hexagon", ","} <= set(vocab)
    twin = build_model(model_spec(tiny))
    twin.load_state_dict(tiny.state_dict())
    captions = ["a small red circle on the left", "a photo of a sneaker"]
    assert torch.equal(twin.eval().encode_text(captions), tiny.encode_text(captions))


def test_bad_captions_and_images_get_one_clear_error(tiny):
    with pytest.raises(ValueError, match="zebra"):
        tiny.encode_text(["a red zebra"])
    with pytest.raises(ValueError, match="empty"):
        tiny.encode_text([" "])
    with pytest.raises(ValueError, match="at most 20"):
        tiny.encode_text(["a small red circle " * 6])
    with pytest.raises(TypeError, match="list of strings"):
        tiny.encode_text("a red circle")
    with pytest.raises(ValueError, match=r"images: expected a float tensor \(N, 3, 32, 32\)"):
        tiny.encode_images(torch.zeros(2, 1, 28, 28))


def test_swapped_captions_state_the_swapped_scene_and_skip_held_out_pairs():
    found = {"objects": 0, "colors": 0}
    for i in range(300):
        scene = sample_scene(0, "train", i, 2)
        for what in found:
            caption = swapped_caption(scene, what)
            new = swapped(scene.attributes(), what)
            if caption is None:
                held = any((new[f"color_{k}"], new[f"shape_{k}"]) in HELD_OUT_PAIRS for k in "ab")
                assert new == scene.attributes() or held
                continue
            found[what] += 1
            assert parse_caption(caption) == new != scene.attributes()
            assert not any((new[f"color_{k}"], new[f"shape_{k}"]) in HELD_OUT_PAIRS for k in "ab")
    assert found["objects"] > 250 and found["colors"] > 120  # colour swaps often make a held-out pair


def test_reshaped_captions_change_one_shape_and_never_name_a_held_out_pair_in_training():
    one, two = sample_scene(0, "train", 0, 1), sample_scene(0, "train", 1, 2)
    a = one.attributes()
    other = next(s for s in ("circle", "square", "hexagon") if s != a["shape"] and (a["color"], s) not in HELD_OUT_PAIRS)
    assert parse_caption(reshaped_caption(one, "", other)) == {**a, "shape": other}
    assert reshaped_caption(one, "", a["shape"]) is None
    with pytest.raises(ValueError, match="which"):
        reshaped(two.attributes(), "", "circle")
    for step in range(3):
        batch = clip_batches(64)(step)
        for caption in batch.negatives:
            attrs = parse_caption(caption)
            pairs = [(attrs["color"], attrs["shape"])] if attrs["n_objects"] == 1 else \
                [(attrs[f"color_{k}"], attrs[f"shape_{k}"]) for k in "ab"]
            assert not set(pairs) & HELD_OUT_PAIRS, caption
        one_object = sum(m[0] == "shapes" and dict(m[1:])["n_objects"] == 1 for m in batch.negative_meanings)
        assert one_object > 10  # single-object scenes get shape negatives too


def test_clip_batches_mix_sources_mark_meanings_and_are_pure_functions_of_the_step():
    at = clip_batches(32)
    b = at(3)
    assert b.images.shape == (32, 3, 32, 32) and b.images.min() >= -1 and b.images.max() <= 1
    assert sum(m[0] == "digit" for m in b.meanings) == 4 and sum(m[0] == "fashion" for m in b.meanings) == 4
    pos = b.positives()
    assert pos.shape == (32, 32 + len(b.negatives)) and pos[:, :32].diagonal().all()
    assert len(b.negatives) > 0
    for i, m in enumerate(b.meanings):  # duplicates (same class / attributes) are marked as positives too
        assert pos[i].tolist() == [m == other for other in b.meanings + b.negative_meanings]
    again = at(3)
    assert torch.equal(again.images, b.images) and again.captions == b.captions and again.negatives == b.negatives
    assert clip_batches(32, hard_negatives=False)(3).negatives == []
    assert meaning(sample_scene(0, "train", 0).attributes())[0] == "shapes"


def test_image_twins_show_the_scene_with_the_one_shape_their_caption_changes():
    from t2ilib.checkpoint import load_pretrained
    from t2ilib.eval.shapes_probe import caption_matches

    b = clip_batches(32, image_twins=True)(3)
    plain = clip_batches(32)(3)
    twins = len(b.images) - 32
    assert twins > 0 and len(b.captions) == len(b.images) and len(b.negatives) == len(plain.negatives) - twins
    assert b.captions[32:] == [c for c in plain.negatives if c not in b.negatives][:twins]
    pos = b.positives()
    assert pos[:, :len(b.images)].diagonal().all() and not pos[:24, 32:].any()  # a twin is no scene's caption
    for i in range(32, len(b.images)):  # each twin is the render of its own caption's scene
        attrs = parse_caption(b.captions[i])
        assert attrs is not None and meaning(attrs) == b.meanings[i]
        assert not any((attrs.get(c), attrs.get(s)) in HELD_OUT_PAIRS for c, s in
                       (("color", "shape"), ("color_a", "shape_a"), ("color_b", "shape_b")))
    probe = load_pretrained("shapes_probe", "cpu")  # the judge reads every twin as its own caption
    assert all(caption_matches(probe, b.images[32:], b.captions[32:]))


def test_the_hybrid_stem_gives_the_vit_the_same_token_grid(tiny):
    conv = CLIP(clip_vocabulary(), **TINY, stem="conv").eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    stem = conv.clip.vision_model.embeddings.patch_embedding
    assert stem(x).shape == tiny.clip.vision_model.embeddings.patch_embedding(x).shape == (2, 32, 8, 8)
    z = conv.encode_images(x)
    assert z.shape == (2, 16) and torch.allclose(z.norm(dim=-1), torch.ones(2))
    rebuilt = build_model(model_spec(conv))
    rebuilt.load_state_dict(conv.state_dict())
    assert torch.equal(rebuilt.eval().encode_images(x), z)
    with pytest.raises(ValueError, match="stem: expected 'patch'"):
        CLIP(clip_vocabulary(), **TINY, stem="resnet")


def test_as_clip_images_pads_grey_digits_to_rgb_32():
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    y = as_clip_images(x)
    assert y.shape == (2, 3, 32, 32) and torch.equal(y[:, 1, 2:30, 2:30], x[:, 0]) and (y[:, :, :2] == -1).all()


def test_zero_shot_helpers():
    sim = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8], [0.4, 0.6, 0.1]])
    r = recall_at_k(sim, torch.eye(3, dtype=torch.bool), (1, 2))
    assert r[1] == pytest.approx(1 / 3) and r[2] == pytest.approx(2 / 3)
    assert same_meaning(["a", "b"], ["b", "a", "a"]).tolist() == [[False, True, True], [True, False, False]]


def test_clip_score_rerank_and_class_embeddings(tiny):
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    captions = ["a small red circle on the left"] * 3
    score = clip_score(tiny, images, captions)
    cos = (tiny.encode_images(images) * tiny.encode_text(captions)).sum(1)
    assert torch.allclose(score, 2.5 * cos.clamp_min(0))
    best, sims = rerank(tiny, images, captions[0], keep=2)
    assert sims[0] >= sims[1] and torch.isclose(sims[0], cos.max(), atol=1e-5)
    assert torch.equal(best[0], images[cos.argmax()]) and len(best) == 2
    emb = class_embeddings(tiny, [["the digit one", "a one"], ["the digit two"]])
    assert emb.shape == (2, 16) and torch.allclose(emb.norm(dim=1), torch.ones(2))
    with pytest.raises(ValueError, match="one per image"):
        clip_score(tiny, images, captions[:2])


def test_seeded_short_training_reduces_the_loss():
    from t2ilib.train import TrainConfig, Trainer

    torch.manual_seed(0)
    model = CLIP(clip_vocabulary(), **TINY)
    trainer = Trainer(model, batch_loss, clip_batches(64), TrainConfig(steps=60, lr=2e-3, warmup_steps=5),
                      progress=False)
    trainer.fit()
    loss = trainer.history.loss
    first, last = sum(loss[:10]) / 10, sum(loss[-10:]) / 10
    print(f"loss: first 10 steps {first:.3f}, last 10 steps {last:.3f}")
    assert last < first - 0.3
