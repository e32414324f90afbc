"""The VAE chapter's formulas, checked in closed form and against torch.distributions / torch's own functions."""

import math

import pytest
import torch
import torch.nn.functional as F

from t2ilib.data import load_dataset

from t2ilib.vae import (VQVAE, ConvVAE, DiscreteVAE, LinearGaussianModel, RestartingVQLoss, VectorQuantizer,
                        annealed_batches, bernoulli_log_likelihood, binarize, bits_per_dim, cosine_anneal, dvae_loss,
                        elbo_terms, gaussian_kl, gaussian_kl_monte_carlo, gaussian_log_density, gradient_estimator_stats,
                        decoder_loss, freeze_tokens, gumbel_softmax, importance_weighted_bound, kl_to_uniform,
                        perplexity,
                        reparameterization_gradients, reparameterize, score_function_gradients, vae_loss, vqvae_loss)

D = torch.distributions


# ------------------------------------------------------------------------------------------- Gaussian KL
def test_kl_of_a_standard_normal_to_itself_is_zero():
    assert gaussian_kl(torch.zeros(1, 5), torch.zeros(1, 5)).item() == 0.0


def test_kl_known_values():
    # KL(N(1, 1) || N(0, 1)) = 1/2;  KL(N(0, 4) || N(0, 1)) = (4 - 1 - log 4) / 2
    assert gaussian_kl(torch.ones(1, 1), torch.zeros(1, 1)).item() == pytest.approx(0.5)
    assert gaussian_kl(torch.zeros(1, 1), torch.full((1, 1), math.log(4.0))).item() == \
        pytest.approx((4 - 1 - math.log(4)) / 2)
    # a sum over independent dimensions
    assert gaussian_kl(torch.ones(1, 3), torch.zeros(1, 3)).item() == pytest.approx(1.5)


def test_kl_is_symmetric_in_the_mean_and_not_in_its_arguments():
    mu, logvar = torch.randn(8, 4), torch.randn(8, 4)
    torch.testing.assert_close(gaussian_kl(mu, logvar), gaussian_kl(-mu, logvar))
    # KL itself is not symmetric: KL(q || p) != KL(p || q) in general
    assert not torch.allclose(gaussian_kl(mu, logvar, 0.0, 0.0), gaussian_kl(torch.zeros(8, 4), torch.zeros(8, 4),
                                                                             mu, logvar))


def test_kl_matches_torch_distributions_for_any_two_gaussians():
    g = torch.Generator().manual_seed(0)
    m1, m2, lv1, lv2 = (torch.randn(16, 6, generator=g, dtype=torch.float64) for _ in range(4))
    ref = D.kl_divergence(D.Normal(m1, (0.5 * lv1).exp()), D.Normal(m2, (0.5 * lv2).exp())).sum(-1)
    torch.testing.assert_close(gaussian_kl(m1, lv1, m2, lv2), ref)


def test_kl_monte_carlo_agrees_with_the_closed_form():
    mu, logvar = torch.tensor([0.7, -1.2], dtype=torch.float64), torch.tensor([-0.5, 0.8], dtype=torch.float64)
    est, se = gaussian_kl_monte_carlo(mu, logvar, n_samples=200_000, generator=torch.Generator().manual_seed(1))
    assert abs(est.item() - gaussian_kl(mu, logvar).item()) < 4 * se.item()


def test_gaussian_log_density_matches_torch():
    x, mu, lv = torch.randn(3, 5), torch.randn(3, 5), torch.randn(3, 5)
    torch.testing.assert_close(gaussian_log_density(x, mu, lv), D.Normal(mu, (0.5 * lv).exp()).log_prob(x).sum(-1))


# ------------------------------------------------------------------------------------ reparameterisation
def test_gradients_flow_through_the_reparameterised_sample():
    mu = torch.randn(4, 3, requires_grad=True)
    logvar = torch.randn(4, 3, requires_grad=True)
    g = torch.Generator().manual_seed(0)
    z = reparameterize(mu, logvar, g)
    z.sum().backward()
    eps = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(mu.grad, torch.ones(4, 3))                        # dz/dmu = 1
    torch.testing.assert_close(logvar.grad, 0.5 * torch.exp(0.5 * logvar.detach()) * eps)  # dz/dlogvar
    torch.testing.assert_close(z.detach(), mu.detach() + torch.exp(0.5 * logvar.detach()) * eps)


def test_reparameterised_samples_have_the_right_moments():
    mu, logvar = torch.full((200_000, 1), 2.0), torch.full((200_000, 1), math.log(0.25))
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    assert z.mean().item() == pytest.approx(2.0, abs=0.005)
    assert z.std().item() == pytest.approx(0.5, abs=0.005)


def test_reparameterize_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        reparameterize(torch.zeros(2, 3), torch.zeros(2, 4))


@pytest.mark.parametrize("mu,sigma", [(0.5, 1.0), (2.0, 0.3)])
def test_both_gradient_estimators_are_unbiased_and_reparameterisation_has_lower_variance(mu, sigma):
    f = lambda z: (z - 1.0) ** 2  # noqa: E731  E[f] = (mu - 1)^2 + sigma^2
    exact = torch.tensor([2 * (mu - 1.0), 2 * sigma], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    rep = gradient_estimator_stats(reparameterization_gradients(f, mu, sigma, 100_000, g))
    sf = gradient_estimator_stats(score_function_gradients(f, mu, sigma, 100_000, g))
    for s in (rep, sf):
        assert ((s["mean"] - exact).abs() < 5 * s["stderr"] + 1e-9).all(), (s["mean"], exact)
    assert (rep["variance"] < sf["variance"]).all()


def test_score_function_uses_the_true_score_of_the_gaussian():
    # the analytic score equals autograd of torch.distributions' log-density
    z = torch.tensor([0.3, -1.4, 2.2], dtype=torch.float64)
    m = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    s = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    D.Normal(m, s).log_prob(z).sum().backward()
    assert m.grad.item() == pytest.approx(((z - 0.5) / 0.64).sum().item())
    assert s.grad.item() == pytest.approx((((z - 0.5) ** 2 - 0.64) / 0.8 ** 3).sum().item())
    one = lambda z: torch.ones_like(z)  # noqa: E731  f = 1: each estimate is the score itself
    est = score_function_gradients(one, 0.5, 0.8, 4, torch.Generator().manual_seed(0))
    zz = 0.5 + 0.8 * torch.randn(4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(est[:, 0], (zz - 0.5) / 0.64)


# --------------------------------------------------------------------------------- exact ELBO on a toy
def test_linear_gaussian_evidence_posterior_and_elbo_gap():
    model = LinearGaussianModel.random(d=3, k=2, sigma=0.4, seed=0)
    x, _ = model.sample(5, torch.Generator().manual_seed(0))
    log_px = model.log_evidence(x)
    pm, pS = model.posterior(x)
    # ELBO at the exact posterior equals log p(x)
    torch.testing.assert_close(model.elbo(x, pm, pS), log_px)
    # any other q: ELBO < log p(x), and the gap is KL(q || posterior)
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        m = pm + 0.5 * torch.randn(pm.shape, generator=g, dtype=torch.float64)
        A = torch.randn(2, 2, generator=g, dtype=torch.float64)
        S = A @ A.T + 0.1 * torch.eye(2, dtype=torch.float64)
        elbo = model.elbo(x, m, S)
        assert (elbo < log_px).all()
        torch.testing.assert_close(log_px - elbo, model.kl_to_posterior(x, m, S))


def test_linear_gaussian_posterior_is_bayes_rule_on_a_grid():
    model = LinearGaussianModel.random(d=2, k=1, sigma=0.5, seed=3)
    x = torch.tensor([0.4, -0.2], dtype=torch.float64)
    z = torch.linspace(-8, 8, 40_001, dtype=torch.float64)
    log_lik = D.Normal(z[:, None] * model.W[:, 0] + model.b, model.sigma).log_prob(x).sum(-1)
    log_joint = D.Normal(0, 1).log_prob(z) + log_lik
    dz = z[1] - z[0]
    log_px = torch.logsumexp(log_joint, 0) + torch.log(dz)
    assert log_px.item() == pytest.approx(model.log_evidence(x).item(), abs=1e-8)
    post = (log_joint - log_px).exp()
    mean = (post * z).sum() * dz
    var = (post * (z - mean) ** 2).sum() * dz
    pm, pS = model.posterior(x)
    assert mean.item() == pytest.approx(pm.item(), abs=1e-8)
    assert var.item() == pytest.approx(pS.item(), abs=1e-8)


def test_linear_gaussian_expected_log_likelihood_matches_monte_carlo():
    model = LinearGaussianModel.random(d=3, k=2, sigma=0.7, seed=2)
    x = torch.tensor([0.1, 0.5, -0.3], dtype=torch.float64)
    m = torch.tensor([0.2, -0.4], dtype=torch.float64)
    S = torch.tensor([[0.5, 0.1], [0.1, 0.3]], dtype=torch.float64)
    z = D.MultivariateNormal(m, S).sample((400_000,))
    mc = D.Normal(z @ model.W.T + model.b, model.sigma).log_prob(x).sum(-1)
    exact = model.expected_log_likelihood(x, m, S).item()
    assert abs(mc.mean().item() - exact) < 4 * mc.std().item() / math.sqrt(len(mc))
    ref = D.kl_divergence(D.MultivariateNormal(m, S), D.MultivariateNormal(torch.zeros(2, dtype=torch.float64),
                                                                          torch.eye(2, dtype=torch.float64)))
    assert model.kl_to_prior(m, S).item() == pytest.approx(ref.item())


# ------------------------------------------------------------------------------------------ conv VAE
def test_zero_initialised_decoder_gives_the_analytic_reconstruction_term():
    torch.manual_seed(0)
    model = ConvVAE(latent_dim=4, width=8)
    last = model.decoder.net[-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)
    x = binarize(torch.rand(6, 1, 28, 28) * 2 - 1, torch.Generator().manual_seed(0))
    t = elbo_terms(model, x)
    # logits 0 -> every pixel has p = 1/2 whatever x is: log p(x|z) = -D log 2, i.e. exactly 1 bit per pixel
    torch.testing.assert_close(t["reconstruction"], torch.full((6,), -784 * math.log(2)))
    assert bits_per_dim(-t["reconstruction"][0], 784) == pytest.approx(1.0)
    torch.testing.assert_close(t["elbo"], t["reconstruction"] - t["kl"])


def test_bernoulli_log_likelihood_matches_torch_distributions():
    logits, x = torch.randn(3, 1, 28, 28), (torch.rand(3, 1, 28, 28) > 0.5).float()
    ref = D.Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(bernoulli_log_likelihood(logits, x), ref)


def test_binarize_draws_pixels_with_the_right_probability():
    x = torch.full((1, 1, 200, 200), 0.5)  # p = 0.75
    b = binarize(x, torch.Generator().manual_seed(0))
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    assert b.mean().item() == pytest.approx(0.75, abs=0.01)
    assert binarize(torch.full((2, 2), -1.0)).sum() == 0 and binarize(torch.ones(2, 2)).sum() == 4


def test_conv_vae_shapes_loss_and_errors():
    model = ConvVAE(latent_dim=3, width=8)
    x = binarize(torch.rand(5, 1, 28, 28) * 2 - 1)
    logits, mu, logvar = model(x)
    assert logits.shape == x.shape and mu.shape == logvar.shape == (5, 3)
    loss, logs = vae_loss(model, x, beta=2.0)
    loss.backward()
    assert loss.ndim == 0 and {"distortion", "rate"} == set(logs)
    assert all(p.grad is not None for p in model.parameters())
    assert model.sample(4).shape == (4, 1, 28, 28)
    with pytest.raises(ValueError, match="z: expected"):
        model.decode(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="latent_dim"):
        ConvVAE(latent_dim=0)


def test_importance_weighted_bound_tightens_the_elbo():
    torch.manual_seed(0)
    model = ConvVAE(latent_dim=4, width=8).eval()
    x = binarize(torch.rand(8, 1, 28, 28) * 2 - 1, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    elbo = torch.stack([elbo_terms(model, x, g)["elbo"] for _ in range(200)]).mean(0).detach()
    l1 = torch.stack([importance_weighted_bound(model, x, 1, g) for _ in range(200)]).mean(0)
    l64 = importance_weighted_bound(model, x, 64, g)
    torch.testing.assert_close(l1, elbo, rtol=0, atol=2.0)  # L_1 is the ELBO (up to MC noise)
    assert (l64 > elbo).all()


# ------------------------------------------------------------------------------------------------- VQ
def test_nearest_code_matches_brute_force():
    vq = VectorQuantizer(32, 8, init_scale=1.0)
    z = torch.randn(100, 8)
    torch.testing.assert_close(vq.nearest(z), torch.cdist(z, vq.codebook.weight).argmin(1))


def test_straight_through_and_the_two_vq_losses_send_gradients_where_eq3_says():
    torch.manual_seed(0)
    vq = VectorQuantizer(4, 3, beta=0.25, init_scale=1.0)
    z_e = torch.randn(2, 3, 2, 2, requires_grad=True)
    q = vq(z_e)
    e = vq.codebook.weight[q.indices].permute(0, 3, 1, 2).detach()  # the chosen codes
    torch.testing.assert_close(q.z_q.detach(), e)  # forward: the codes
    # 1) straight-through: a decoder gradient at z_q arrives unchanged at z_e, and not at the codebook
    w = torch.randn_like(z_e)
    (gz,) = torch.autograd.grad((w * q.z_q).sum(), z_e, retain_graph=True)
    torch.testing.assert_close(gz, w)
    assert torch.autograd.grad((w * q.z_q).sum(), vq.codebook.weight, retain_graph=True, allow_unused=True)[0] is None
    # 2) codebook loss ||sg[z_e] - e||^2: gradient to the codebook only
    n = z_e.numel()
    assert torch.autograd.grad(q.codebook_loss, z_e, retain_graph=True, allow_unused=True)[0] is None
    (gcb,) = torch.autograd.grad(q.codebook_loss, vq.codebook.weight, retain_graph=True)
    expected = torch.zeros_like(vq.codebook.weight)
    diff = (e - z_e.detach()).permute(0, 2, 3, 1).reshape(-1, 3)
    expected.index_add_(0, q.indices.flatten(), 2 * diff / n)
    torch.testing.assert_close(gcb, expected)
    # 3) commitment beta ||z_e - sg[e]||^2: gradient to the encoder only, 2 beta (z_e - e) / n
    assert torch.autograd.grad(q.commitment_loss, vq.codebook.weight, retain_graph=True, allow_unused=True)[0] is None
    (gc,) = torch.autograd.grad(q.commitment_loss, z_e)
    torch.testing.assert_close(gc, 2 * 0.25 * (z_e.detach() - e) / n)


def test_perplexity_and_dead_code_restarts():
    assert perplexity(torch.arange(8), 8).item() == pytest.approx(8.0)
    assert perplexity(torch.zeros(10, dtype=torch.long), 8).item() == pytest.approx(1.0)
    vq = VectorQuantizer(6, 2, init_scale=1.0)
    before = vq.codebook.weight.detach().clone()
    counts = torch.tensor([3, 0, 1, 0, 2, 2])
    z_e = torch.randn(1, 2, 4, 4)
    assert vq.restart_dead_codes(z_e, counts, torch.Generator().manual_seed(0)) == 2
    after = vq.codebook.weight.detach()
    torch.testing.assert_close(after[[0, 2, 4, 5]], before[[0, 2, 4, 5]])
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, 2)
    for k in (1, 3):
        assert (flat - after[k]).abs().sum(1).min() == 0  # moved onto an encoder output


def test_vqvae_tokenizer_interface_and_a_few_steps_of_learning():
    torch.manual_seed(0)
    model = VQVAE(channels=1, n_codes=16, code_dim=4, width=16, init_scale=1.0)
    x = load_dataset("mnist", "test").tensors()[0][:16]
    tokens = model.encode(x)
    assert tokens.shape == (16, 7, 7) and tokens.dtype == torch.int64 and model.vocab_size == 16
    assert model.decode(tokens).shape == x.shape
    with pytest.raises(ValueError, match=r"ids in \[0, 16\)"):
        model.decode(torch.full((1, 7, 7), 16))
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    first = None
    for _ in range(60):
        loss, logs = vqvae_loss(model, x)
        first = first if first is not None else logs["reconstruction"].item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert logs["reconstruction"].item() < 0.7 * first


def test_a_decoder_only_fine_tune_keeps_every_token_and_lowers_the_reconstruction_error():
    from t2ilib.train import TrainConfig, Trainer

    torch.manual_seed(0)
    model = VQVAE(channels=1, n_codes=16, code_dim=4, width=16, init_scale=1.0)
    x = load_dataset("mnist", "test").tensors()[0][:32]
    tokens, frozen = model.encode(x), {k: v.clone() for k, v in model.state_dict().items() if "decoder" not in k}
    decoder = {k: v.clone() for k, v in model.state_dict().items() if "decoder" in k}
    freeze_tokens(model)
    assert all(not p.requires_grad for p in [*model.encoder.parameters(), *model.quantizer.parameters()])
    assert all(p.requires_grad for p in model.decoder.parameters())
    first = decoder_loss(model, (x,))[0].item()
    z_q = model.quantizer.codebook(tokens).permute(0, 3, 1, 2)
    assert first == pytest.approx(F.mse_loss(model.decoder(z_q), x).item())  # || D(e_q(E(x))) - x ||^2
    Trainer(model, decoder_loss, lambda step: x, TrainConfig(steps=40, lr=3e-3, log_every=40, precision="fp32")).fit()
    assert decoder_loss(model, x)[0].item() < 0.7 * first
    assert torch.equal(model.encode(x), tokens)  # a model trained on these tokens stays valid
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in frozen.items())
    assert any(not torch.equal(state[k], v) for k, v in decoder.items())


def test_restarting_vq_loss_restarts_only_codes_a_full_window_left_unused():
    torch.manual_seed(0)
    model = VQVAE(channels=1, n_codes=16, code_dim=4, width=16, init_scale=1.0)
    with torch.no_grad():
        model.quantizer.codebook.weight[8:] = 100.0  # far from every encoder output: never picked
    x = load_dataset("mnist", "test").tensors()[0][:8]
    loss_fn = RestartingVQLoss(every=2, until=5)
    loss, logs = loss_fn(model, (x, 0))
    assert loss.ndim == 0 and logs["restarted"].item() == 0 and set(logs) >= {"reconstruction", "perplexity"}
    loss_fn(model, (x, 1))
    assert (model.quantizer.codebook.weight[8:] == 100.0).all()
    loss, logs = loss_fn(model, (x, 2))  # the window 0-1 is complete: the far codes are dead and move
    assert logs["restarted"].item() >= 8 and (model.quantizer.codebook.weight[8:] != 100.0).all()
    resumed = RestartingVQLoss(every=2, until=5)  # a resumed run: no complete window before step 4
    with torch.no_grad():
        model.quantizer.codebook.weight[8:] = 100.0
    assert resumed(model, (x, 4))[1]["restarted"].item() == 0 and (model.quantizer.codebook.weight[8:] == 100.0).all()
    resumed(model, (x, 5))
    assert resumed(model, (x, 6))[1]["restarted"].item() == 0  # step 6 >= until: the codebook is left alone
    odd = RestartingVQLoss(every=2)  # resumed between two restarts: counts from there, restarts a window later
    with torch.no_grad():
        model.quantizer.codebook.weight[8:] = 100.0
    for step in (3, 4, 5):
        assert odd(model, (x, step))[1]["restarted"].item() == 0
    assert odd(model, (x, 6))[1]["restarted"].item() >= 8
    with pytest.raises(ValueError, match="every"):
        RestartingVQLoss(every=0)

# ----------------------------------------------------------------------------------------------- dVAE
def test_gumbel_max_samples_the_softmax_and_the_relaxation_is_a_distribution():
    logits = torch.tensor([[1.0, 0.0, -1.0, 2.0]]).repeat(50_000, 1)
    y = gumbel_softmax(logits, tau=0.5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(y.sum(1), torch.ones(50_000))
    freq = torch.bincount(y.argmax(1), minlength=4).float() / 50_000
    torch.testing.assert_close(freq, F.softmax(logits[0], 0), atol=0.01, rtol=0)
    # same distribution of relaxed samples as torch's own gumbel_softmax
    torch.manual_seed(0)
    ref = F.gumbel_softmax(logits, tau=0.5, dim=1)
    torch.testing.assert_close(y.mean(0), ref.mean(0), atol=0.01, rtol=0)
    # low temperature -> nearly one-hot
    assert (gumbel_softmax(logits[:1000], tau=0.01).max(1).values > 0.99).float().mean() > 0.95


def test_straight_through_gumbel_is_one_hot_forward_with_the_soft_gradient():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, generator=g).requires_grad_(True)
    w = torch.randn(3, 5, generator=g)
    hard = gumbel_softmax(logits, 0.7, hard=True, generator=torch.Generator().manual_seed(0))
    one_hot = F.one_hot(hard.detach().argmax(1), 5).float()
    torch.testing.assert_close(hard.detach(), one_hot)  # one-hot up to float rounding of y - sg[y]
    (g_hard,) = torch.autograd.grad((w * hard).sum(), logits)
    soft = gumbel_softmax(logits, 0.7, generator=torch.Generator().manual_seed(0))
    (g_soft,) = torch.autograd.grad((w * soft).sum(), logits)
    torch.testing.assert_close(g_hard, g_soft)
    with pytest.raises(ValueError, match="tau"):
        gumbel_softmax(logits, 0.0)


def test_kl_to_uniform_matches_torch_distributions():
    logits = torch.randn(2, 7, 3, 3)
    q = D.Categorical(logits=logits.permute(0, 2, 3, 1))
    u = D.Categorical(logits=torch.zeros(2, 3, 3, 7))
    torch.testing.assert_close(kl_to_uniform(logits), D.kl_divergence(q, u).flatten(1).sum(1))
    assert kl_to_uniform(torch.zeros(1, 7, 2, 2)).abs().max() < 1e-5


def test_cosine_anneal_and_annealed_batches():
    assert cosine_anneal(0, 100, 1.0, 1 / 16) == 1.0
    assert cosine_anneal(50, 100, 1.0, 0.0) == pytest.approx(0.5)
    assert cosine_anneal(100, 100, 1.0, 1 / 16) == 1 / 16 and cosine_anneal(500, 100, 1.0, 1 / 16) == 1 / 16
    x = torch.zeros(4, 1, 8, 8)
    b = annealed_batches(lambda step: (x,), steps=100, kl_weight=2.0, kl_warmup=10)
    assert b(0)[1:] == (1.0, 0.0) and b(100)[1:] == (1 / 16, 2.0)


def test_dvae_tokenizer_interface_and_loss():
    torch.manual_seed(0)
    model = DiscreteVAE(channels=3, vocab_size=32, embed_dim=8, width=16)
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    tokens = model.encode(x)
    assert tokens.shape == (4, 8, 8) and int(tokens.max()) < 32
    assert model.decode(tokens).shape == x.shape
    torch.testing.assert_close(tokens, model.logits(x).argmax(1))
    loss, logs = dvae_loss(model, (x, 1.0, 0.5))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    assert {"reconstruction", "kl", "tau", "perplexity"} == set(logs)
    with pytest.raises(ValueError, match="integer grid"):
        model.decode(torch.zeros(4, 8, 8))
