"""Mini DALL-E (chapter 7b): the token stream's layout, split positions, loss weighting, the key-value cache,
guided logits against transformers' processor, sampling options, clear errors, and that a short run learns."""

import pytest
import torch
import torch.nn.functional as F

from t2ilib.dalle.model import IMAGE_WEIGHT, TEXT_WEIGHT, MiniDalle
from t2ilib.dalle.sampling import ImageTokensOnly, guided_log_probs, sample_codes
from t2ilib.dalle.stream import StreamPositions, image_codes, image_token_ids
from t2ilib.model_spec import build_model, model_spec
from t2ilib.text.tokenizers import course_tokenizer

VOCAB = tuple(w for w, _ in sorted(course_tokenizer().get_vocab().items(), key=lambda kv: kv[1]))
TINY = dict(text_len=18, grid=4, image_vocab=16, width=32, layers=2, heads=2, image_tokenizer="shapes_dvae")


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return MiniDalle(VOCAB, **TINY).eval()


def codes(n, grid=4, vocab=16, seed=0):
    return torch.randint(vocab, (n, grid, grid), generator=torch.Generator().manual_seed(seed))


def test_stream_layout_text_then_offset_image_codes(tiny):
    c = codes(2)
    ids = tiny.stream(["a small red circle on the left", ""], c)
    t, v = tiny.text_len, len(VOCAB)
    assert ids.shape == (2, t + 16) and tiny.offset == v
    tok = course_tokenizer()
    words = tok("a small red circle on the left")["input_ids"]
    assert ids[0, :len(words)].tolist() == words and (ids[0, len(words):t] == tok.pad_token_id).all()
    assert ids[1, :2].tolist() == [tok.cls_token_id, tok.sep_token_id]  # the null caption
    assert (ids[:, :t] < v).all() and (ids[:, t:] >= v).all()
    assert torch.equal(ids[:, t:], c.reshape(2, -1) + v)  # raster order, offset by the text vocabulary
    assert torch.equal(image_codes(ids[:, t:], v, 4), c)
    with pytest.raises(ValueError, match="text token"):
        image_codes(ids[:, :16], v, 4)
    with pytest.raises(ValueError, match="square grid"):
        image_token_ids(torch.zeros(2, 4, 3), v)


def test_positions_are_1d_for_text_and_row_plus_column_for_the_image():
    pos = StreamPositions(text_len=3, grid=2, dim=5)
    p = torch.arange(7)
    out = pos(p)
    assert torch.equal(out[:3], pos.text.weight)
    for k in range(4):  # image token k sits at row k // 2, column k % 2
        assert torch.equal(out[3 + k], pos.row.weight[k // 2] + pos.column.weight[k % 2])
    assert torch.equal(out[3], out[3 + 0]) and not torch.equal(out[4], out[5])
    with pytest.raises(ValueError, match="position_ids"):
        pos(torch.tensor([7]))


def test_the_model_uses_the_stream_positions_not_gpt2s_table(tiny):
    assert isinstance(tiny.gpt.transformer.wpe, StreamPositions)
    assert not any("wpe.weight" == k.split("transformer.")[-1] for k in tiny.state_dict())


def test_loss_weights_text_one_eighth_and_image_seven_eighths(tiny):
    captions, c = ["a small red circle on the left", "a large blue square at the top"], codes(2)
    ids = tiny.stream(captions, c)
    logits = tiny.logits(ids)[:, :-1]
    ce = F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
    t = tiny.text_len
    by_hand = ce[:, :t - 1].mean() / 8 + 7 * ce[:, t - 1:].mean() / 8  # the first image token is predicted at T-1
    loss, logs = tiny.loss(captions, c)
    assert torch.allclose(loss, by_hand, atol=1e-6) and TEXT_WEIGHT + IMAGE_WEIGHT == 1
    assert ce[:, t - 1:].shape[1] == 16


def test_a_decoding_step_with_the_cache_gives_the_same_logits(tiny):
    ids = tiny.stream(["a small red circle on the left"], codes(1))[:, :tiny.text_len + 5]
    full = tiny.gpt(input_ids=ids).logits[:, -1]
    prefix = tiny.gpt(input_ids=ids[:, :-1], use_cache=True)
    step = tiny.gpt(input_ids=ids[:, -1:], past_key_values=prefix.past_key_values, use_cache=True).logits[:, -1]
    assert torch.allclose(full, step, atol=1e-5)


def test_guided_log_probs_formula_and_transformers_processor_agree(tiny):
    from transformers.generation.logits_process import UnbatchedClassifierFreeGuidanceLogitsProcessor

    g = torch.Generator().manual_seed(3)
    cond, uncond = torch.randn(2, 9, generator=g), torch.randn(2, 9, generator=g)
    s = 3.0
    by_hand = uncond.log_softmax(-1) + s * (cond.log_softmax(-1) - uncond.log_softmax(-1))
    assert torch.allclose(guided_log_probs(cond, uncond, s), by_hand)
    assert torch.allclose(guided_log_probs(cond, uncond, 1.0), cond.log_softmax(-1), atol=1e-6)
    # transformers' processor, fed the tiny model's own conditional and unconditional logits
    ids = tiny.text_ids(["a small red circle on the left", "a large blue square at the top"])
    null = tiny.text_ids(["", ""])
    proc = UnbatchedClassifierFreeGuidanceLogitsProcessor(s, tiny.gpt, unconditional_ids=null)
    cond_logits, uncond_logits = tiny.gpt(input_ids=ids).logits[:, -1], tiny.gpt(input_ids=null).logits[:, -1]
    assert torch.allclose(proc(ids, cond_logits), guided_log_probs(cond_logits, uncond_logits, s), atol=1e-5)


def test_sampling_draws_only_image_codes_is_seeded_and_cache_does_not_change_it(tiny):
    captions = ["a small red circle on the left", "a large blue square at the top"]
    a = sample_codes(tiny, captions, guidance=2.0, top_k=8, top_p=0.9, temperature=0.8, seed=1)
    assert a.shape == (2, 4, 4) and a.min() >= 0 and a.max() < 16
    assert torch.equal(a, sample_codes(tiny, captions, guidance=2.0, top_k=8, top_p=0.9, temperature=0.8, seed=1))
    assert torch.equal(a, sample_codes(tiny, captions, guidance=2.0, top_k=8, top_p=0.9, temperature=0.8, seed=1,
                                       use_cache=False))
    one = sample_codes(tiny, captions, top_k=1, seed=5)  # top-k = 1 is greedy: the seed does not matter
    assert torch.equal(one, sample_codes(tiny, captions, top_k=1, seed=6))
    scores = ImageTokensOnly(5)(None, torch.zeros(1, 8))
    assert torch.isinf(scores[0, :5]).all() and (scores[0, 5:] == 0).all()


def test_guided_sampling_of_padded_captions_raises_no_attention_mask_warning(tiny):
    """The caption slot is padded and attended to on purpose; transformers must not tell the learner otherwise."""
    import logging

    from transformers.utils import logging as transformers_logging

    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = transformers_logging.get_logger("transformers")
    logging.Logger.warning_once.cache_clear()  # transformers prints this warning once per process
    logger.addHandler(handler)
    try:
        sample_codes(tiny, ["a red circle"], guidance=2.0, seed=0)  # a short caption: [PAD] ids at the end
    finally:
        logger.removeHandler(handler)
    assert not [m for m in messages if "attention_mask" in m], messages


def test_bad_prompts_and_options_get_one_clear_error(tiny):
    with pytest.raises(ValueError, match="zebra"):
        tiny.text_ids(["a red zebra"])
    with pytest.raises(ValueError, match="at most 18"):
        tiny.text_ids(["there is a small red circle to the left of a large blue square left of a small green cross"])
    with pytest.raises(TypeError, match="list of strings"):
        tiny.text_ids("a red circle")
    with pytest.raises(ValueError, match="top_p"):
        sample_codes(tiny, ["a small red circle on the left"], top_p=1.5)
    with pytest.raises(ValueError, match="guidance"):
        sample_codes(tiny, ["a small red circle on the left"], guidance=-1)
    with pytest.raises(ValueError, match="one grid per caption"):
        tiny.stream(["a small red circle on the left"], codes(2))


def test_spec_rebuilds_the_model(tiny):
    twin = build_model(model_spec(tiny))
    twin.load_state_dict(tiny.state_dict())
    ids = tiny.stream(["a small red circle on the left"], codes(1))
    assert torch.equal(twin.eval().logits(ids), tiny.logits(ids))


def test_seeded_short_training_reduces_the_loss():
    from t2ilib.train import TrainConfig, Trainer

    torch.manual_seed(0)
    model = MiniDalle(VOCAB, **TINY)
    fixed = codes(8)  # a memorisable toy: 8 captions, each with its own grid
    captions = [f"a small {c} circle on the left" for c in ("red", "blue", "green", "yellow", "purple", "orange")]
    captions += ["a large red square at the top", "a large blue square at the top"]
    trainer = Trainer(model, lambda m, b: m.loss(*b), lambda step: (captions, fixed),
                      TrainConfig(steps=40, lr=3e-3, warmup_steps=5), progress=False)
    trainer.fit()
    loss = trainer.history.loss
    print(f"loss: first 5 steps {sum(loss[:5]) / 5:.3f}, last 5 {sum(loss[-5:]) / 5:.3f}")
    assert sum(loss[-5:]) / 5 < sum(loss[:5]) / 5 - 1.0


def test_the_fidelity_benchmark_draws_from_mini_dalle_through_the_dvae():
    """End to end with an untrained model: caption -> 8 x 8 codes -> the shipped dVAE -> 32 px images -> judge."""
    from t2ilib.dalle import generate
    from t2ilib.eval.fidelity import shapes_fidelity

    torch.manual_seed(0)
    model = MiniDalle(VOCAB, text_len=18, grid=8, image_vocab=256, width=32, layers=1, heads=2)
    images = generate(model, ["a small red circle on the left"], guidance=2.0, top_k=16)
    assert images.shape == (1, 3, 32, 32) and images.min() >= -1 and images.max() <= 1
    r = shapes_fidelity(model, n_per_group=2, guidance=2.0, groups=("seen, 1 object",), sampling={"top_k": 16})
    assert 0 <= r["seen, 1 object"] <= 1 and r["seen, 1 object, n"] == 2
    with pytest.raises(ValueError, match="needs a clip model"):
        generate(model, ["a small red circle on the left"], candidates=4)


def test_the_recipe_tokenizes_training_scenes_with_condition_dropout():
    from t2ilib.recipes.dalle import DALLE_BATCH, build_dalle, dalle_batches

    model = build_dalle()
    captions, grids = dalle_batches(model, torch.device("cpu"))(3)
    assert len(captions) == len(grids) == DALLE_BATCH and grids.shape[1:] == (8, 8)
    assert 0 < sum(c == "" for c in captions) < DALLE_BATCH // 3  # ~10 % dropped to the null caption
    assert grids.min() >= 0 and grids.max() < 256
    assert all(len(model.tokenizer(c)["input_ids"]) <= model.text_len for c in captions)


def _tables(stdout: str):
    blocks = [[[c.strip() for c in line.strip("|").split("|")] for line in block.splitlines() if line.startswith("| ")]
              for block in stdout.split("\n\n")]
    return [b for b in blocks if b]


def test_dalle_benchmark_prints_fidelity_beside_diffusion_and_the_cache_timing(capsys):
    from t2ilib.eval.dalle_benchmark import main

    main(["--n", "2", "--candidates", "2", "--timing-n", "2", "--device", "cpu"])
    fidelity, timing = _tables(capsys.readouterr().out)
    assert [row[0] for row in fidelity[2:]] == ["shapes_vqvae_ft round trip", "shapes_scratch", "dalle", "dalle", "dalle"]
    assert "best of 2 by CLIP" in fidelity[-1][1]
    assert [row[0] for row in timing[2:]] == ["on", "off"] and timing[2][2] == "True"
    assert float(timing[2][1]) < float(timing[3][1])


def test_dalle_benchmark_can_leave_out_the_diffusion_row(capsys):
    from t2ilib.dalle import DALLE_SAMPLING
    from t2ilib.eval.dalle_benchmark import main

    main(["--n", "1", "--candidates", "2", "--timing-n", "0", "--skip-diffusion", "--device", "cpu"])
    (fidelity,) = _tables(capsys.readouterr().out)
    assert [row[0] for row in fidelity[2:]] == ["shapes_vqvae_ft round trip", "dalle", "dalle", "dalle"]
    assert fidelity[3][1] == f"autoregressive, top-p {DALLE_SAMPLING['top_p']:g}, guidance 1 (none)"
    assert fidelity[4][1] == f"autoregressive, top-p {DALLE_SAMPLING['top_p']:g}, guidance {DALLE_SAMPLING['guidance']:g}"
    with pytest.raises(SystemExit):
        main(["--top-p", "0"])
    assert "--top-p must be in (0, 1]" in capsys.readouterr().err


def test_generate_from_the_command_line_with_mini_dalle(tmp_path, capsys):
    from PIL import Image

    from t2ilib.__main__ import main

    out = tmp_path / "dalle.png"
    assert main(["generate", "a large red circle left of a small blue square", "--model", "dalle", "--n", "2",
                 "--candidates", "2", "--top-k", "64", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "from dalle" in said and "best of 2 by CLIP" in said and Image.open(out).size == (2 * 32 + 3, 32 + 2)
    for prompt, message in {"a small red zebra on the left": "never use ['zebra']", "a handwritten digit seven":
                            "never use", "": "empty"}.items():
        assert main(["generate", prompt, "--model", "dalle", "--out", str(tmp_path / "x.png")]) == 2, prompt
        assert message in capsys.readouterr().err, prompt
    assert main(["generate", "a red circle", "--model", "dalle", "--top-p", "1.5", "--out",
                 str(tmp_path / "x.png")]) == 2
    assert "top_p" in capsys.readouterr().err and not (tmp_path / "x.png").exists()
