"""The training loop: learning, exact resume, EMA, schedules, NaN detection, time budget, bad input."""

import math

import pytest
import torch
import torch.nn.functional as F

from t2ilib.data import epoch_batches
from t2ilib.train import NonFiniteLossError, TrainConfig, Trainer

X = torch.randn(256, 8, generator=torch.Generator().manual_seed(0))
W = torch.randn(8, 1, generator=torch.Generator().manual_seed(1))
Y = X @ W


def make_model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Dropout(0.1), torch.nn.Linear(32, 1))


def loss_fn(model, batch):
    x, y = batch
    return F.mse_loss(model(x), y), {"noise": torch.rand(()).item()}  # uses the global RNG, like diffusion noise


BATCHES = epoch_batches(X, Y, batch_size=32, seed=0)
CFG = dict(steps=60, lr=3e-3, warmup_steps=10, lr_schedule="cosine", ema_decay=0.95, grad_clip=1.0)


def test_training_reduces_the_loss():
    t = Trainer(make_model(), loss_fn, BATCHES, TrainConfig(steps=300, lr=3e-3), progress=False)
    h = t.fit()
    assert len(h.loss) == 300 and h.step == list(range(300))
    assert sum(h.loss[-20:]) / 20 < 0.2 * sum(h.loss[:20]) / 20
    assert h.wall_seconds > 0 and len(h.logs["noise"]) == 300


def test_resume_is_bit_exact(tmp_path):
    straight = Trainer(make_model(), loss_fn, BATCHES, TrainConfig(**CFG), progress=False)
    straight.fit()
    path = tmp_path / "state.safetensors"
    first = Trainer(make_model(), loss_fn, BATCHES, TrainConfig(**CFG), progress=False, checkpoint_path=path)
    first.fit(23)
    torch.manual_seed(999)  # a new session: different global RNG, different init
    resumed = Trainer(make_model(seed=5), loss_fn, BATCHES, TrainConfig(**CFG), progress=False,
                      checkpoint_path=path, resume=True)
    assert resumed.step == 23
    resumed.fit()
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(straight.ema.model.state_dict().values(), resumed.ema.model.state_dict().values()):
        assert torch.equal(a, b)
    assert straight.history.loss == resumed.history.loss
    assert straight.history.logs == resumed.history.logs


def test_resume_rejects_a_model_checkpoint(tmp_path):
    from t2ilib.checkpoint import save_model

    save_model(tmp_path / "m.safetensors", make_model())
    t = Trainer(make_model(), loss_fn, BATCHES, TrainConfig(steps=1), progress=False)
    with pytest.raises(ValueError, match="not a training state"):
        t.load_state(tmp_path / "m.safetensors")


def test_ema_follows_its_formula():
    model = make_model()
    t = Trainer(model, loss_fn, BATCHES, TrainConfig(steps=1, lr=1e-2, ema_decay=0.9), progress=False)
    before = [p.detach().clone() for p in t.ema.model.parameters()]
    t.fit()
    d = min(0.9, (1 + 0) / (10 + 0))  # warm-up ramp at the first update
    for e, p, b in zip(t.ema.model.parameters(), model.parameters(), before):
        torch.testing.assert_close(e, d * b + (1 - d) * p.detach(), rtol=0, atol=1e-7)
    assert t.eval_model is t.ema.model


def test_learning_rate_schedule():
    t = Trainer(make_model(), loss_fn, BATCHES, TrainConfig(steps=110, lr=1.0, warmup_steps=10,
                                                            lr_schedule="cosine"), progress=False)
    assert t.lr_at(0) == pytest.approx(0.1) and t.lr_at(9) == pytest.approx(1.0)
    assert t.lr_at(60) == pytest.approx(0.5) and t.lr_at(110) == pytest.approx(0.0, abs=1e-12)
    const = Trainer(make_model(), loss_fn, BATCHES, TrainConfig(steps=5, lr=0.3), progress=False)
    assert const.lr_at(0) == const.lr_at(4) == 0.3


def test_non_finite_loss_raises_a_clear_error():
    def bad_loss(model, batch):
        loss = F.mse_loss(model(batch[0]), batch[1])
        return loss * float("nan") if t.step == 7 else loss

    t = Trainer(make_model(), bad_loss, BATCHES, TrainConfig(steps=20), progress=False)
    with pytest.raises(NonFiniteLossError, match="loss became nan at step 7"):
        t.fit()


def test_max_minutes_stops_and_saves_for_resume(tmp_path):
    path = tmp_path / "s.safetensors"
    t = Trainer(make_model(), loss_fn, BATCHES, TrainConfig(steps=10_000, max_minutes=1e-9), progress=False,
                checkpoint_path=path)
    t.fit()
    assert t.stopped_early and t.step == 1 and path.exists()


def test_sample_callback_and_periodic_checkpoints(tmp_path):
    calls = []
    path = tmp_path / "s.safetensors"
    t = Trainer(make_model(), loss_fn, BATCHES, TrainConfig(steps=10, sample_every=4, checkpoint_every=5),
                sample_fn=lambda tr, step: calls.append((step, tr.eval_model is tr.model)), progress=False,
                checkpoint_path=path)
    t.fit()
    assert calls == [(4, True), (8, True)] and path.exists()


def test_bf16_autocast_trains():
    t = Trainer(make_model(), loss_fn, BATCHES, TrainConfig(steps=100, lr=3e-3, precision="bf16"), progress=False)
    h = t.fit()
    assert all(math.isfinite(v) for v in h.loss) and h.loss[-1] < h.loss[0]


@pytest.mark.parametrize("kwargs,match", [
    (dict(steps=-1), "steps: expected an int >= 0"),
    (dict(steps=10, lr=0), "lr: expected a float > 0"),
    (dict(steps=10, ema_decay=1.0), "ema_decay"),
    (dict(steps=10, lr_schedule="linear"), "lr_schedule"),
    (dict(steps=10, grad_clip=-1), "grad_clip"),
])
def test_bad_config_gives_one_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_loss_must_be_scalar():
    t = Trainer(make_model(), lambda m, b: (m(b[0]) - b[1]) ** 2, BATCHES, TrainConfig(steps=1), progress=False)
    with pytest.raises(ValueError, match="scalar loss"):
        t.fit()
