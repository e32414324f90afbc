"""Tokenizers, text encoders, cross-attention and the text-conditioned denoiser: shapes, masks, equivalences."""

import pytest
import torch
import torch.nn.functional as F

from t2ilib.data.shapes_captions import vocabulary
from t2ilib.diffusion import NoiseSchedule
from t2ilib.text.tokenizers import check_prompt, course_tokenizer, pretrained_tokenizer, words
from t2ilib.text.encoders import FrozenPretrainedEncoder, ScratchTextEncoder, TextAdapter, mean_pool, tokenize
from t2ilib.text.denoiser import NULL_CAPTION, TextConditionedUNet
from t2ilib.diffusion import drop_condition
from t2ilib.nn import CrossAttention2d, UNet, masked_attention

CAPTIONS = ["a small red circle on the left", "a large blue square left of a small green triangle", ""]


# ------------------------------------------------------------------------------------------------ tokenizers
def test_course_tokenizer_knows_every_caption_word_and_is_deterministic():
    tok = course_tokenizer()
    vocab = tok.get_vocab()
    assert set(vocabulary()) <= set(vocab)
    assert {"seven", "7", "handwritten", "digit"} <= set(vocab)
    assert [vocab[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]")] == [0, 1, 2, 3]
    ids = tok("a small red circle on the left")["input_ids"]
    assert ids[0] == vocab["[CLS]"] and ids[-1] == vocab["[SEP]"] and len(ids) == 9
    assert tok("a zebra")["input_ids"][2] == vocab["[UNK]"]


def test_shipped_course_vocabulary_is_what_training_gives():
    """data/course_vocab.json is a cache of a deterministic training run: retraining must give the same ids, and
    the tokenizer built from the file must tokenize exactly as the trained one."""
    from t2ilib.text.tokenizers import course_captions, train_word_tokenizer, word_tokenizer_from_vocab
    from t2ilib.text.denoiser import vocabulary_checksum

    trained, shipped = train_word_tokenizer(course_captions()), course_tokenizer()
    assert shipped.get_vocab() == trained.get_vocab()
    assert vocabulary_checksum(shipped) == vocabulary_checksum(trained)
    texts = CAPTIONS + ["A LARGE Red circle, left of a zebra!", "handwritten 7", ""]
    assert shipped(texts, padding="max_length", max_length=24)["input_ids"] == \
        trained(texts, padding="max_length", max_length=24)["input_ids"]
    with pytest.raises(ValueError, match="special tokens"):
        word_tokenizer_from_vocab({"a": 0})


def test_padding_and_attention_masks():
    for tok in (course_tokenizer(), pretrained_tokenizer()):
        b = tokenize(tok, CAPTIONS, 24, "cpu")
        assert b["input_ids"].shape == b["attention_mask"].shape == (3, 24)
        lengths = b["attention_mask"].sum(1).tolist()
        for cap, n, ids in zip(CAPTIONS, lengths, b["input_ids"]):
            assert n == len(tok(cap)["input_ids"])  # the mask covers exactly the real tokens
            assert (ids[n:] == tok.pad_token_id).all()
        assert lengths[2] == 2  # "" -> [CLS] [SEP]


def test_wordpiece_splits_unknown_words_instead_of_unk():
    tok = pretrained_tokenizer()
    assert tok.tokenize("hexagon") == ["he", "##xa", "##gon"]
    assert tok.unk_token_id not in tok("a purple hexagon")["input_ids"]


def test_check_prompt_messages():
    tok, known = course_tokenizer(), vocabulary()
    assert check_prompt("  a small red circle   on the left ", tok, known, 24) == "a small red circle on the left"
    with pytest.raises(ValueError, match="empty"):
        check_prompt("   ", tok, known, 24)
    with pytest.raises(ValueError, match=r"never use \['zebra'\].*knows the words"):
        check_prompt("a small red zebra on the left", tok, known, 24)
    with pytest.raises(ValueError, match="at most 24"):
        check_prompt(" ".join(["a red circle"] * 12), tok, known, 24)
    with pytest.raises(TypeError):
        check_prompt(3, tok, known, 24)
    assert words("Handwritten 7, please!") == ["handwritten", "7", "please"]


# -------------------------------------------------------------------------------------------------- encoders
def test_frozen_encoder_equals_sentence_transformers():
    """Our mean-pool + normalise of MiniLM's token states is the sentence embedding sentence-transformers gives."""
    from sentence_transformers import SentenceTransformer

    from t2ilib.text.tokenizers import pretrained_model_path

    ref = SentenceTransformer(str(pretrained_model_path()), device="cpu").encode(CAPTIONS[:2], convert_to_tensor=True)
    enc = FrozenPretrainedEncoder(max_tokens=32, precision="fp32")(CAPTIONS[:2])
    assert torch.allclose(enc.pooled, ref.float(), atol=1e-5)
    assert enc.states.shape == (2, 32, 384) and enc.mask.shape == (2, 32)
    # padding does not change a caption's states (the attention mask hides it)
    short = FrozenPretrainedEncoder(max_tokens=12, precision="fp32")(CAPTIONS[:1])
    assert torch.allclose(short.states[0, :9], enc.states[0, :9], atol=1e-5)


def test_frozen_encoder_cache_gives_the_same_encodings():
    plain = FrozenPretrainedEncoder(16)(CAPTIONS)
    cached = FrozenPretrainedEncoder(16, cache_size=2)
    for _ in range(2):
        enc = cached(CAPTIONS)
        assert torch.allclose(enc.states, plain.states, atol=3e-2) and torch.equal(enc.mask, plain.mask)
    assert len(cached._cache) == 2


def test_scratch_encoder_is_a_small_trainable_bert():
    enc = ScratchTextEncoder(dim=64, layers=2, heads=4, max_tokens=16)
    out = enc(CAPTIONS)
    assert out.states.shape == (3, 16, 64) and out.pooled.shape == (3, 64)
    out.pooled.sum().backward()
    assert enc.bert.embeddings.word_embeddings.weight.grad is not None
    assert torch.allclose(out.pooled, mean_pool(out.states, out.mask))
    assert torch.allclose(mean_pool(torch.ones(1, 4, 2), torch.tensor([[1, 1, 0, 0]])), torch.ones(1, 2))


def test_text_adapter_mixes_frozen_states_and_keeps_pooled_and_mask():
    torch.manual_seed(0)
    frozen = FrozenPretrainedEncoder(max_tokens=16)(CAPTIONS)
    adapter = TextAdapter(FrozenPretrainedEncoder.dim, dim=32, layers=2, heads=4, max_tokens=16)
    out = adapter(frozen)
    assert out.states.shape == (3, 16, 32) and out.pooled is frozen.pooled and out.mask is frozen.mask
    # padding does not leak in: changing the states of padded tokens leaves the real tokens' outputs unchanged
    noisy = frozen.states.clone()
    noisy[frozen.mask == 0] = torch.randn_like(noisy[frozen.mask == 0])
    out2 = adapter(type(frozen)(noisy, frozen.mask, frozen.pooled))
    real = frozen.mask.bool()
    assert torch.allclose(out.states[real], out2.states[real], atol=1e-5)
    # a word's output depends on the other words (self-attention), unlike a per-token map
    states = frozen.states.clone()
    states[0, 1] += 1.0
    changed = adapter(type(frozen)(states, frozen.mask, frozen.pooled)).states
    assert not torch.allclose(changed[0, 3], out.states[0, 3], atol=1e-4)
    out.states.sum().backward()
    assert adapter.project.weight.grad is not None


def test_adapter_only_with_the_frozen_encoder_and_trained_with_the_unet():
    m = TextConditionedUNet("minilm", max_tokens=16, in_channels=1, channels=(16, 32), attention_levels=(1,),
                            adapter_layers=1)
    assert m.config["adapter_layers"] == 1 and "adapter_layers" not in TextConditionedUNet(
        "minilm", max_tokens=16, in_channels=1, channels=(16, 32), attention_levels=(1,)).config
    assert {k.split(".")[0] for k, _ in m.named_parameters()} == {"unet", "text_adapter"}
    enc = m.encode(["a red circle on the left"])
    assert enc["context"].shape[-1] == m.text_adapter.dim and enc["cond"].shape[-1] == FrozenPretrainedEncoder.dim
    for bad in (-1, 1.5):
        with pytest.raises(ValueError, match="adapter_layers"):
            TextConditionedUNet("minilm", adapter_layers=bad, in_channels=1, channels=(16, 32))
    with pytest.raises(ValueError, match="adapter_layers"):
        TextConditionedUNet("scratch", adapter_layers=2, in_channels=1, channels=(16, 32))


# ------------------------------------------------------------------------------------------- cross-attention
def test_masked_attention_equals_attention_over_real_tokens_and_sdpa():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 9, 8, generator=g) for _ in range(3))
    mask = torch.tensor([[1] * 5 + [0] * 4, [1] * 9])
    out, w = masked_attention(q, k, v, mask)
    assert torch.allclose(w.sum(-1), torch.ones(2, 4, 9)) and (w[0, :, :, 5:] == 0).all()
    short, _ = masked_attention(q[:1], k[:1, :, :5], v[:1, :, :5])
    assert torch.allclose(out[:1], short, atol=1e-6)
    sdpa = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.bool()[:, None, None, :])
    assert torch.allclose(out, sdpa, atol=1e-5)


def test_cross_attention_block_ignores_padding_and_records_maps():
    torch.manual_seed(0)
    block = CrossAttention2d(16, 12, heads=4)
    torch.nn.init.normal_(block.proj.weight)  # it starts as the identity; give it an output
    x, ctx = torch.randn(2, 16, 4, 4), torch.randn(2, 6, 12)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]])
    y = block(x, ctx, mask)
    ctx2 = ctx.clone()
    ctx2[0, 3:] = 100.0  # change only padded tokens of caption 0
    assert torch.allclose(block(x, ctx2, mask)[0], y[0], atol=1e-5)
    block.keep_weights = True
    assert torch.allclose(block(x, ctx, mask), y, atol=1e-5)
    assert block.last_weights.shape == (2, 4, 16, 6)


def test_zero_initialised_cross_attention_is_the_identity():
    block = CrossAttention2d(16, 12)
    x = torch.randn(2, 16, 4, 4)
    assert torch.equal(block(x, torch.randn(2, 3, 12)), x)


def test_unet_conditioning_arguments_are_checked():
    u = UNet(1, channels=(16, 32), attention_levels=(1,), groups=8, cond_dim=10, context_dim=12)
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([1, 2])
    ctx, mask = torch.randn(2, 5, 12), torch.ones(2, 5)
    assert u(x, t, cond=torch.randn(2, 10), context=ctx, context_mask=mask).shape == x.shape
    assert len(u.cross_attention_blocks()) == 4  # level 1: 1 down + 2 up blocks; 1 in the middle
    with pytest.raises(ValueError, match="cond"):
        u(x, t, context=ctx, context_mask=mask)
    with pytest.raises(ValueError, match="context"):
        u(x, t, cond=torch.randn(2, 10))
    plain = UNet(1, channels=(16, 32), attention_levels=(1,), groups=8)
    with pytest.raises(ValueError, match="no cross-attention"):
        plain(x, t, context=ctx)


# ----------------------------------------------------------------------------------- text-conditioned model
@pytest.mark.parametrize("encoder", ["minilm", "scratch"])
@pytest.mark.parametrize("conditioning", ["pooled", "tokens", "pooled+tokens"])
def test_text_conditioned_unet_shapes_and_text_dependence(encoder, conditioning):
    torch.manual_seed(0)
    m = TextConditionedUNet(encoder, conditioning, max_tokens=16, in_channels=1, channels=(16, 32),
                            attention_levels=(1,))
    for p in m.unet.parameters():  # leave the zero-initialised start, so the text can matter
        torch.nn.init.normal_(p, std=0.05) if p.ndim > 1 else None
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([10, 500])
    a = m(x, t, ["a red circle on the left", "a red circle on the left"])
    b = m(x, t, ["a red circle on the left", "a blue square at the top"])
    assert a.shape == x.shape and torch.allclose(a[0], b[0], atol=1e-4) and not torch.allclose(a[1], b[1], atol=1e-3)
    assert torch.allclose(m(x, t, **m.encode(["a red circle on the left"] * 2)), a, atol=1e-5)
    trained = {k.split(".")[0] for k, p in m.named_parameters()}
    assert trained == ({"unet"} if encoder == "minilm" else {"unet", "text_encoder"})  # MiniLM is not in the model
    with pytest.raises(ValueError, match="one per image"):
        m(x, t, ["just one caption"])


def test_guided_model_is_the_cfg_combination_of_caption_and_empty_caption():
    torch.manual_seed(0)
    m = TextConditionedUNet("scratch", max_tokens=16, in_channels=1, channels=(16, 32), attention_levels=(1,))
    for p in m.unet.out.parameters():
        torch.nn.init.normal_(p, std=0.1)
    x, t, caps = torch.randn(2, 1, 8, 8), torch.tensor([100, 100]), ["a red circle on the left", "the digit 7"]
    with torch.no_grad():
        c, u = m(x, t, caps), m(x, t, ["", ""])
        assert torch.allclose(m.guided(caps, 4.0)(x, t), u + 4.0 * (c - u), atol=1e-5)
        assert torch.allclose(m.guided(caps, 1.0)(x, t), c, atol=1e-6)


def test_condition_dropout_rate_and_determinism():
    caps = ["x"] * 20000
    out = drop_condition(caps, 0.1, NULL_CAPTION, torch.Generator().manual_seed(1))
    assert abs(out.count("") / len(caps) - 0.1) < 0.01
    assert out == drop_condition(caps, 0.1, NULL_CAPTION, torch.Generator().manual_seed(1))
    labels = torch.arange(len(caps)) % 10  # class labels: the same coin flips, the null label instead of ""
    dropped = drop_condition(labels, 0.1, 10, torch.Generator().manual_seed(1))
    assert [d == 10 for d in dropped.tolist()] == [o == "" for o in out]
    assert torch.equal(dropped[dropped != 10], labels[dropped != 10])
    with pytest.raises(ValueError, match="a list of captions"):
        drop_condition("a caption", 0.1, NULL_CAPTION, torch.Generator())
    with pytest.raises(ValueError, match="p_uncond"):
        drop_condition(caps, 1.0, NULL_CAPTION, torch.Generator())


def test_vocabulary_checksum_guards_token_ids():
    m = TextConditionedUNet("scratch", max_tokens=16, in_channels=1, channels=(16, 32), attention_levels=(1,))
    m.check_vocabulary()
    m.vocab_checksum += 1
    with pytest.raises(ValueError, match="vocabulary"):
        m.check_vocabulary()


# ------------------------------------------------------------------------------------------ judge and fidelity
def test_probe_canonical_form_identifies_equivalent_captions():
    from t2ilib.data.shapes_captions import parse_caption
    from t2ilib.eval.shapes_probe import HEADS, canonical, targets

    same = ["a small red circle right of a large blue square", "a large blue square left of a small red circle",
            "a small red circle with a large blue square on its left"]
    forms = [canonical(parse_caption(c)) for c in same]
    assert forms[0] == forms[1] and forms[0]["axis"] == "horizontal" and forms[0]["color0"] == "blue"
    assert canonical(parse_caption("a small red circle left of a large blue square")) != forms[0]
    y = targets([parse_caption("a small red circle on the left"), parse_caption(same[0])])
    assert set(y) == set(HEADS) and y["axis"].tolist() == [-100, 0] and y["position"].tolist()[1] == -100


def test_fidelity_caption_groups_are_seen_or_held_out():
    from t2ilib.data.shapes_captions import parse_caption
    from t2ilib.eval.fidelity import GROUPS, digit_captions, fidelity_captions
    from t2ilib.eval.shapes_probe import is_held_out
    from t2ilib.data.digit_captions import parse_digit_caption

    for group, (split, k) in GROUPS.items():
        caps = fidelity_captions(group, 50)
        attrs = [parse_caption(c) for c in caps]
        assert all(a["n_objects"] == k for a in attrs)
        assert all(is_held_out(a) == (split == "held_out") for a in attrs)
    caps = digit_captions(100)
    assert sorted(parse_digit_caption(c) for c in caps) == sorted(list(range(10)) * 10)


def test_query_position_lets_cross_attention_tell_left_from_right():
    from t2ilib.nn.cross_attention import position_features

    p = position_features(8, 8, 32)
    # channels: sin(k pi x), cos(k pi x), sin(k pi y), cos(k pi y) for k = 1..8
    assert p.shape == (32, 8, 8) and torch.allclose(p[8, 0, 0], -p[8, 0, 7])  # cos(pi x) tells left from right
    assert (p[:16].std(dim=1) < 1e-6).all() and (p[16:].std(dim=2) < 1e-6).all()  # x-features constant along y...
    torch.manual_seed(0)
    block = CrossAttention2d(16, 12, heads=4, query_position=True)
    torch.nn.init.normal_(block.proj.weight)
    # a constant feature map: without position every pixel would get the same output
    x, ctx = torch.ones(1, 16, 8, 8), torch.randn(1, 5, 12)
    y = block(x, ctx) - x
    assert not torch.allclose(y[..., 0], y[..., 7], atol=1e-4)
    block.position = None
    y = block(x, ctx) - x
    assert torch.allclose(y[..., 0], y[..., 7], atol=1e-5)


def test_swapped_caption_exchanges_the_objects_and_keeps_the_words():
    from t2ilib.data.shapes import ShapesWorld
    from t2ilib.data.shapes_captions import parse_caption
    from t2ilib.eval.fidelity import swapped_caption

    world = ShapesWorld(60, 32, seed=1, split="test", n_objects=2)
    for i in range(60):
        scene = world.scene(i)
        a, b = parse_caption(scene.caption), parse_caption(swapped_caption(scene))
        assert sorted(scene.caption.split()) == sorted(swapped_caption(scene).split())  # same bag of words
        assert b["relation"] == a["relation"]
        for k in ("shape", "color", "size"):
            assert (b[f"{k}_a"], b[f"{k}_b"]) == (a[f"{k}_b"], a[f"{k}_a"])
    with pytest.raises(ValueError, match="two-object"):
        swapped_caption(ShapesWorld(1, 32, seed=1, split="test", n_objects=1).scene(0))


def test_two_object_errors_names_what_went_wrong():
    from t2ilib.data.shapes import ShapesWorld
    from t2ilib.data.shapes_captions import parse_caption
    from t2ilib.eval.fidelity import TWO_OBJECT_OUTCOMES, swapped_caption, two_object_errors
    from t2ilib.eval.shapes_probe import canonical

    world = ShapesWorld(40, 32, seed=2, split="test", n_objects=2)
    scenes = [world.scene(i) for i in range(40)]
    for scene in scenes:
        want = canonical(parse_caption(scene.caption))
        if want["color0"] == want["color1"] or want["shape0"] == want["shape1"]:
            continue  # exchanging equal colours changes nothing
        other_colour = next(c for c in ("red", "orange", "yellow", "green", "blue", "purple")
                            if c not in (want["color0"], want["color1"]))
        other_shape = next(c for c in ("circle", "square", "triangle", "diamond", "hexagon", "cross")
                           if c not in (want["shape0"], want["shape1"]))
        reads = [want, canonical(parse_caption(swapped_caption(scene))),
                 dict(want, color0=want["color1"], color1=want["color0"]), {"count": 3},
                 {"count": 1, "shape0": want["shape0"], "color0": want["color0"], "size0": want["size0"],
                  "position": "left"}, dict(want, color1=want["color0"]), dict(want, color1=other_colour),
                 dict(want, shape0=other_shape), dict(want, size0="small" if want["size0"] == "large" else "large")]
        assert two_object_errors(reads, [scene] * 9) == list(TWO_OBJECT_OUTCOMES), scene.caption
        assert two_object_errors([{"count": 0}], [scene]) == ["fewer than two objects"]


class _Oracle(torch.nn.Module):
    """Predicts the exact v target for the true captions and zeros for any other caption."""

    prediction = "v_prediction"
    schedule = NoiseSchedule.cosine(1000)

    def __init__(self, true_captions, target):
        super().__init__()
        self.register_buffer("vocab_checksum", torch.tensor(0))
        self.true, self.target = list(true_captions), target

    def forward(self, x, t, captions):
        return self.target(x, t) if list(captions) == self.true else torch.zeros_like(x)


def test_order_sensitivity_separates_a_binding_model_from_a_bag_of_words():
    from t2ilib.data.shapes import ShapesWorld
    from t2ilib.diffusion.parameterization import velocity
    from t2ilib.eval.fidelity import order_sensitivity
    from t2ilib.recipes.text import build_shapes

    n, seed = 8, 5
    world = ShapesWorld(n, 32, seed, "test", n_objects=2)
    x0, schedule = world.batch(0, n).images, _Oracle.schedule

    def target(x_t, t):  # recover eps from x_t (the oracle knows x_0), then v
        ab = schedule.alpha_bar(t).view(-1, 1, 1, 1)
        eps = (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()
        return velocity(schedule, x0, t, eps)
    r = order_sensitivity(_Oracle(world.batch(0, n).captions, target), n=n, timesteps=(900, 500), seed=seed)
    assert all(r[t]["true_better"] == 1.0 and r[t]["loss_true"] < 1e-6 for t in (900, 500)), r
    torch.manual_seed(0)
    blind = build_shapes("scratch").eval()  # untrained: its output layer starts at zero, captions change nothing
    r = order_sensitivity(blind, n=n, timesteps=(700,), seed=seed)
    assert r[700]["loss_true"] == r[700]["loss_swapped"] and r[700]["true_better"] == 0.0, r


def test_scratch_encoder_can_borrow_minilms_wordpiece_vocabulary():
    """For captions outside the course's words (emoji names): the same tokens a frozen MiniLM reads, fresh weights."""
    course = ScratchTextEncoder(dim=32, layers=1, heads=2, max_tokens=16)
    wp = ScratchTextEncoder(dim=32, layers=1, heads=2, max_tokens=16, tokenizer="wordpiece")
    caption = "an emoji of a strawberry"
    assert course.tokenizer.unk_token_id in course.tokenizer(caption)["input_ids"]
    assert wp.tokenizer(caption)["input_ids"] == pretrained_tokenizer()(caption)["input_ids"]
    assert wp.tokenizer.unk_token_id not in wp.tokenizer(caption)["input_ids"]
    assert wp([caption]).states.shape[-1] == 32
    with pytest.raises(ValueError, match="tokenizer"):
        ScratchTextEncoder(tokenizer="bpe")
    m = TextConditionedUNet("scratch", scratch_tokenizer="wordpiece", max_tokens=16, in_channels=1, channels=(16, 32),
                            attention_levels=(1,))
    assert m.config["scratch_tokenizer"] == "wordpiece" and "scratch_tokenizer" not in TextConditionedUNet(
        "scratch", max_tokens=16, in_channels=1, channels=(16, 32), attention_levels=(1,)).config
    with pytest.raises(ValueError, match="scratch_tokenizer"):
        TextConditionedUNet("minilm", scratch_tokenizer="wordpiece", in_channels=1, channels=(16, 32))
