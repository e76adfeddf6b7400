"""Gradient noise measures on cases with known answers."""

import math

import pytest
import torch

from batch_momentum.measures import noise
from batch_momentum.training.models import make_model


def synthetic_grads(n, p, seed=0, mu_scale=1.0, s_scale=1.0):
    """Per-example gradients from N(mu, diag(s^2)), float64; returns (grads, mu, s)."""
    gen = torch.Generator().manual_seed(seed)
    mu = mu_scale * torch.randn(p, generator=gen, dtype=torch.float64)
    s = s_scale * (0.5 + torch.rand(p, generator=gen, dtype=torch.float64))
    grads = mu + s * torch.randn(n, p, generator=gen, dtype=torch.float64)
    return grads, mu, s


def test_noise_scale_known_answer():
    grads, mu, s = synthetic_grads(20000, 50, mu_scale=0.3)
    expected = float((s**2).sum() / (mu @ mu))
    out = noise.noise_scale_from_grads(grads)
    assert set(out) == {"b_simple", "b_simple_unbiased", "trace_sigma", "grad_norm_sq", "n"}
    assert out["n"] == 20000
    assert out["trace_sigma"] == pytest.approx(float((s**2).sum()), rel=0.02)
    assert out["b_simple"] == pytest.approx(expected, rel=0.03)
    assert out["b_simple_unbiased"] == pytest.approx(expected, rel=0.03)


def test_noise_scale_bias_correction():
    # small n: |G_hat|^2 ~ |mu|^2 + tr(Sigma)/n inflates the plain estimate's denominator
    n, p = 40, 400
    vals_plain, vals_unb = [], []
    for seed in range(30):
        grads, mu, s = synthetic_grads(n, p, seed=seed, mu_scale=0.2)  # B_simple ~ 27 ~ n
        expected = float((s**2).sum() / (mu @ mu))
        out = noise.noise_scale_from_grads(grads)
        vals_plain.append(out["b_simple"] / expected)
        vals_unb.append(out["b_simple_unbiased"] / expected)
    med = lambda v: sorted(v)[len(v) // 2]
    assert med(vals_plain) < 0.75  # biased low by about 1/(1 + B_simple/n) ~ 0.6
    assert med(vals_unb) == pytest.approx(1.0, abs=0.1)


def test_noise_scale_exact_small_case():
    grads = torch.tensor([[1.0, 0.0], [3.0, 2.0]], dtype=torch.float64)
    out = noise.noise_scale_from_grads(grads)
    # mean (2, 1); deviations (-1,-1), (1,1): tr(Sigma) = 4 / 1 = 4; |G|^2 = 5
    assert out["trace_sigma"] == pytest.approx(4.0)
    assert out["grad_norm_sq"] == pytest.approx(5.0)
    assert out["b_simple"] == pytest.approx(0.8)
    assert out["b_simple_unbiased"] == pytest.approx(4.0 / 3.0)
    # zero mean after correction -> inf
    assert noise.noise_scale_from_grads(torch.tensor([[1.0], [-1.0]]))["b_simple_unbiased"] == math.inf


def test_noise_to_signal():
    assert noise.noise_to_signal(100.0, 8) == 12.5


def test_cosine_full_batch_is_one():
    grads, _, _ = synthetic_grads(100, 30)
    out = noise.batch_gradient_cosine_from_grads(grads, 100, n_batches=8)
    assert out["mean"] == pytest.approx(1.0, abs=1e-12)
    assert out["std"] == pytest.approx(0.0, abs=1e-12)
    assert out["batch_size"] == 100


@pytest.mark.parametrize("b", [1, 8, 64, 400])
def test_cosine_known_answer(b):
    n, p = 1000, 2000
    grads, _, _ = synthetic_grads(n, p, mu_scale=0.2)
    ns = noise.noise_scale_from_grads(grads)
    expected = math.sqrt(ns["grad_norm_sq"] / (ns["grad_norm_sq"] + ns["trace_sigma"] * (1 / b - 1 / n)))
    out = noise.batch_gradient_cosine_from_grads(grads, b, n_batches=64, seed=1)
    assert out["mean"] == pytest.approx(expected, rel=0.03)


def test_expected_cosine_closed_form():
    assert noise.expected_cosine(0.0, 8, 4000) == 1.0  # no noise: every batch points the same way
    assert noise.expected_cosine(123.0, 4000, 4000) == 1.0  # the full batch is the full gradient
    # B_simple = B and n -> infinity: noise and signal equal in size, cos = 1/sqrt(2)
    assert noise.expected_cosine(100.0, 100, 10**12) == pytest.approx(2**-0.5)
    # B_simple (1/B - 1/n) = 3: cos = 1/2
    assert noise.expected_cosine(4.0, 1, 4) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        noise.expected_cosine(1.0, 5, 4)


@pytest.mark.parametrize("b", [8, 64, 400])
def test_expected_cosine_matches_sampled_batches(b):
    n, p = 1000, 2000
    grads, _, _ = synthetic_grads(n, p, mu_scale=0.2)
    ns = noise.noise_scale_from_grads(grads)
    sampled = noise.batch_gradient_cosine_from_grads(grads, b, n_batches=64, seed=1)["mean"]
    assert noise.expected_cosine(ns["b_simple"], b, n) == pytest.approx(sampled, rel=0.03)


def test_cosine_grows_with_batch():
    grads, _, _ = synthetic_grads(500, 500, mu_scale=0.2)
    means = [noise.batch_gradient_cosine_from_grads(grads, b)["mean"] for b in (1, 10, 100, 500)]
    assert means == sorted(means)


def test_bad_batch_size():
    grads, _, _ = synthetic_grads(10, 3)
    with pytest.raises(ValueError):
        noise.batch_gradient_cosine_from_grads(grads, 11)


@pytest.fixture
def model_data():
    torch.manual_seed(0)
    model = make_model("mlp", (40,), 10, hidden=(32, 32))
    x = torch.randn(300, 40)
    y = torch.randint(0, 10, (300,))
    return model, x, y


def test_per_example_grads_match_autograd(model_data):
    model, x, y = model_data
    g = noise.per_example_grads(model, x[:20], y[:20], chunk_size=7)
    assert g.shape == (20, sum(p.numel() for p in model.parameters()))
    for i in (0, 13, 19):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x[i : i + 1]), y[i : i + 1]).backward()
        ref = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
        torch.testing.assert_close(g[i], ref, rtol=1e-5, atol=1e-6)
    # the mean of per-example gradients is the batch gradient
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(x[:20]), y[:20]).backward()
    ref = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    torch.testing.assert_close(g.mean(0), ref, rtol=1e-4, atol=1e-6)


def test_streaming_matches_matrix(model_data):
    model, x, y = model_data
    grads = noise.per_example_grads(model, x, y)
    ref = noise.noise_scale_from_grads(grads)
    got = noise.noise_scale(model, x, y, chunk_size=64)  # 5 chunks, the last one short
    for k in ("b_simple", "b_simple_unbiased", "trace_sigma", "grad_norm_sq"):
        assert got[k] == pytest.approx(ref[k], rel=1e-5)
    assert got["n"] == 300
    for b in (1, 16, 300):
        c_ref = noise.batch_gradient_cosine_from_grads(grads, b, n_batches=16, seed=3)
        c_got = noise.batch_gradient_cosine(model, x, y, b, n_batches=16, seed=3, chunk_size=64)
        assert c_got["mean"] == pytest.approx(c_ref["mean"], abs=1e-5)
        assert c_got["std"] == pytest.approx(c_ref["std"], abs=1e-5)
    both = noise.gradient_noise(model, x, y, (4, 32), n_batches=8)
    assert set(both["cosine"]) == {4, 32}


def test_cnn_model_works():
    torch.manual_seed(0)
    model = make_model("cnn", (40,), 10, hidden=(4, 4))
    x, y = torch.randn(12, 40), torch.randint(0, 10, (12,))
    out = noise.noise_scale(model, x, y, chunk_size=5)
    assert out["b_simple"] > 0 and out["n"] == 12


@pytest.mark.parametrize("name,hidden", [("cnn", (4, 4)), ("linear", ())])
def test_per_example_grads_of_every_model_kind_match_autograd(name, hidden):
    # the MLP above and "linear" take the hand-written dense path; the CNN takes torch.func
    torch.manual_seed(0)
    model = make_model(name, (40,), 10, hidden=hidden)
    x, y = torch.randn(9, 40), torch.randint(0, 10, (9,))
    g = noise.per_example_grads(model, x, y, chunk_size=4)
    for i in (0, 4, 8):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x[i : i + 1]), y[i : i + 1]).backward()
        ref = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
        torch.testing.assert_close(g[i], ref, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- stacked (all seeds of a cell)
def _models(name="mlp", hidden=(32, 32), seeds=(1, 2, 3), dtype=torch.float32):
    out = []
    for s in seeds:
        torch.manual_seed(s)
        out.append(make_model(name, (40,), 10, hidden=hidden).to(dtype))
    return out


def test_gradient_noise_stacked_on_a_one_layer_case_with_a_closed_form():
    """A linear model with zero weights: every logit is 0, so dz_i = 1/C − onehot(y_i) and the
    per-example gradient is (dz_i x_iᵀ, dz_i); with x_i = ±e (one coordinate), |g_i|² = |dz_i|² (2),
    and the mean gradient and B_simple follow in closed form."""
    model = make_model("linear", (1,), 2, hidden=())
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.zero_()
    x = torch.tensor([[1.0], [1.0], [-1.0], [1.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1])
    model = model.double()
    dz = torch.full((4, 2), 0.5, dtype=torch.float64)
    dz[torch.arange(4), y] -= 1.0
    g = torch.cat([dz.unsqueeze(2) * x.unsqueeze(1), dz.unsqueeze(2)], dim=2).reshape(4, -1)  # (4, 4) by hand
    G = g.mean(0)
    trace_sigma = float(((g - G) ** 2).sum() / 3)
    got = noise.gradient_noise_stacked([model], x, y, seeds=[0], batch_sizes=(4,))[0]
    assert got["trace_sigma"] == pytest.approx(trace_sigma, rel=1e-12)
    assert got["grad_norm_sq"] == pytest.approx(float(G @ G), rel=1e-12)
    assert got["b_simple"] == pytest.approx(trace_sigma / float(G @ G), rel=1e-12)
    assert got["cosine"][4] == {"mean": 1.0, "std": 0.0, "batch_size": 4}


@pytest.mark.parametrize("dtype,rel", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_gradient_noise_stacked_equals_each_models_own(dtype, rel):
    """Three dense models at once, each with its own seed's batches: noise scale, its parts and the
    batch-gradient cosines as gradient_noise gives for each alone (float64 to 1e-10, float32 to 1e-4)."""
    ms = _models(dtype=dtype)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(120, 40, generator=g, dtype=dtype), torch.randint(0, 10, (120,), generator=g)
    seeds, sizes = [7, 8, 9], (1, 8, 64, 120)
    got = noise.gradient_noise_stacked(ms, x, y, seeds, batch_sizes=sizes, n_batches=16)
    for m, s, r in zip(ms, seeds, got):
        own = noise.gradient_noise(m, x, y, sizes, n_batches=16, seed=s, chunk_size=50)
        for k in ("b_simple", "b_simple_unbiased", "trace_sigma", "grad_norm_sq"):
            assert r[k] == pytest.approx(own[k], rel=rel)
        assert r["n"] == own["n"] and set(r["cosine"]) == set(sizes)
        for b in sizes:
            assert r["cosine"][b]["mean"] == pytest.approx(own["cosine"][b]["mean"], rel=rel)
            assert r["cosine"][b]["std"] == pytest.approx(own["cosine"][b]["std"], rel=10 * rel, abs=1e-6)
    assert got[0]["cosine"][8] != got[1]["cosine"][8]


def test_gradient_noise_stacked_keeps_a_nan_model_to_itself_and_falls_back_for_convolutions():
    ms = _models()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(60, 40, generator=g), torch.randint(0, 10, (60,), generator=g)
    clean = noise.gradient_noise_stacked(ms, x, y, [1, 2, 3], batch_sizes=(8,), n_batches=8)
    with torch.no_grad():
        ms[1][1].weight[0, 0] = float("nan")
    spoiled = noise.gradient_noise_stacked(ms, x, y, [1, 2, 3], batch_sizes=(8,), n_batches=8)
    assert math.isnan(spoiled[1]["trace_sigma"])
    assert spoiled[0] == clean[0] and spoiled[2] == clean[2]
    cnns = _models("cnn", (4, 4), seeds=(1, 2))
    got = noise.gradient_noise_stacked(cnns, x, y, [1, 2], batch_sizes=(8,), n_batches=8)
    assert got == [noise.gradient_noise(m, x, y, (8,), n_batches=8, seed=s) for m, s in zip(cnns, (1, 2))]
    with pytest.raises(ValueError, match="2 seeds for 3 models"):
        noise.gradient_noise_stacked(ms, x, y, [1, 2])
