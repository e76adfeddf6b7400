"""Tests of batch_momentum.landscape (interpolation, filter-normalized directions) and plots."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from batch_momentum.io import tables as T
from batch_momentum.measures import landscape as L
from batch_momentum.training.models import make_model


def _model(seed, name="mlp", shape=(40,), hidden=(32, 32)):
    torch.manual_seed(seed)
    return make_model(name, shape, 10, hidden=hidden)


def _data(n, seed, shape=(40,)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g), torch.randint(0, 10, (n,), generator=g)


def _loss_acc(model, state, x, y):
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        out = model(x)
    return float(F.cross_entropy(out, y)), int((out.argmax(1) == y).sum()) / len(y)


def test_interpolate_endpoints_exact():
    a, b = _model(0), _model(1)
    sa = {k: v.clone() for k, v in a.state_dict().items()}
    sb = {k: v.clone() for k, v in b.state_dict().items()}
    splits = {"train": _data(300, 0), "test": _data(200, 1)}
    model = _model(2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    curve = L.interpolate(model, sa, sb, splits, [0.0, 0.5, 1.0, -1.0, 2.0])
    assert set(curve) == {"alpha", "train_loss", "train_acc", "test_loss", "test_acc"}
    assert all(isinstance(v, list) and len(v) == 5 for v in curve.values())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()) and model.training
    probe = _model(3)
    for name, (x, y) in splits.items():
        assert (curve[f"{name}_loss"][0], curve[f"{name}_acc"][0]) == _loss_acc(probe, sa, x, y)
        assert (curve[f"{name}_loss"][2], curve[f"{name}_acc"][2]) == _loss_acc(probe, sb, x, y)
        mid = {k: 0.5 * sa[k] + 0.5 * sb[k] for k in sa}
        assert np.isclose(curve[f"{name}_loss"][1], _loss_acc(probe, mid, x, y)[0], rtol=1e-6)
    # chunked evaluation gives the same numbers up to rounding
    chunked = L.interpolate(model, sa, sb, splits, [0.0, 1.0], batch_size=64)
    np.testing.assert_allclose(chunked["train_loss"], [curve["train_loss"][0], curve["train_loss"][2]], rtol=1e-6)
    assert chunked["test_acc"] == [curve["test_acc"][0], curve["test_acc"][2]]


def test_filter_normalized_direction_row_norms():
    for model in (_model(0), _model(0, "cnn", (40,), hidden=(4, 8))):
        d = L.filter_normalized_direction(model, seed=5)
        d2 = L.filter_normalized_direction(model, seed=5)
        d3 = L.filter_normalized_direction(model, seed=6)
        params = list(model.parameters())
        assert len(d) == len(params)
        for di, d2i, p in zip(d, d2, params):
            assert di.shape == p.shape and torch.equal(di, d2i)
            if p.dim() <= 1:
                assert torch.count_nonzero(di) == 0
            else:
                dn = di.reshape(di.shape[0], -1).norm(dim=1)
                pn = p.detach().reshape(p.shape[0], -1).norm(dim=1)
                torch.testing.assert_close(dn, pn, rtol=1e-5, atol=1e-7)
        assert not all(torch.equal(a, b) for a, b in zip(d, d3))


def test_direction_curve():
    model = _model(0)
    model.train()
    x, y = _data(200, 0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ts = np.linspace(-1, 1, 5)
    c = L.direction_curve(model, x, y, ts, seed=1)
    assert set(c) == {"t", "loss", "acc"} and len(c["loss"]) == 5
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()) and model.training
    assert c["loss"][2] == _loss_acc(_model(9), before, x, y)[0]  # t = 0
    d = L.filter_normalized_direction(model, seed=1)
    shifted = {k: before[k] + 1.0 * di for k, di in zip([n for n, _ in model.named_parameters()], d)}
    assert np.isclose(c["loss"][4], _loss_acc(_model(9), {**before, **shifted}, x, y)[0], rtol=1e-6)
    assert c == L.direction_curve(model, x, y, ts, seed=1)


def test_the_interpolation_and_direction_figures_draw_the_curves_they_are_given():
    import matplotlib.pyplot as plt

    from batch_momentum.report.plots.sharpness import plot_direction_curves, plot_interpolation

    curve = {
        "alpha": [0, 0.5, 1],
        "train_loss": [0.1, 1, 0.2],
        "train_acc": [1, 0.5, 0.9],
        "test_loss": [0.3, 1.2, 0.5],
        "test_acc": [0.8, 0.4, 0.7],
    }
    fig = plot_interpolation(curve, "SB vs LB")
    loss_ax, acc_ax = fig.axes
    assert [(line.get_label(), list(line.get_ydata()), line.get_linestyle()) for line in loss_ax.get_lines()] == [
        ("train loss", curve["train_loss"], "-"),
        ("test loss", curve["test_loss"], "--"),
    ]  # train solid, test dashed
    assert [list(line.get_ydata()) for line in acc_ax.get_lines()] == [curve["train_acc"], curve["test_acc"]]
    assert all(list(line.get_xdata()) == curve["alpha"] for line in loss_ax.get_lines() + acc_ax.get_lines())
    curves = {"SB": {"t": [0, 1], "loss": [1, 2]}, "LB": {"t": [0, 1], "loss": [1, 3]}}
    fig2 = plot_direction_curves(curves)
    drawn = {line.get_label(): list(line.get_ydata()) for line in fig2.axes[0].get_lines()}
    assert drawn == {"SB": [1, 2], "LB": [1, 3]}
    plt.close(fig)
    plt.close(fig2)


def test_interpolate_factory_key_check_and_nonfinite_end_point():
    a, b = _model(0), _model(1)
    sa = {k: v.clone() for k, v in a.state_dict().items()}
    sb = {k: v.clone() for k, v in b.state_dict().items()}
    splits = {"train": _data(100, 0)}
    by_module = L.interpolate(_model(2), sa, sb, splits, [0.0, 0.3, 1.0])
    assert L.interpolate(lambda: _model(5), sa, sb, splits, [0.0, 0.3, 1.0]) == by_module
    # a diverged large-batch end point must not spoil the small-batch end (0·nan = nan)
    bad = {k: torch.full_like(v, float("nan")) for k, v in sb.items()}
    c = L.interpolate(_model(2), sa, bad, splits, [0.0, 1.0])
    assert c["train_loss"][0] == by_module["train_loss"][0] and np.isnan(c["train_loss"][1])
    missing = dict(sb)
    missing.pop("3.bias")
    with pytest.raises(ValueError, match="3.bias"):
        L.interpolate(_model(2), sa, missing, splits, [0.0])


def test_plot_interpolation_without_title_and_extra_split():
    import matplotlib.pyplot as plt

    from batch_momentum.report.plots.sharpness import plot_interpolation

    curve = {
        "alpha": [-1, 0, 1, 2],
        "train_loss": [2, 0.1, 0.2, 3],
        "train_acc": [0.1, 1, 0.9, 0.2],
        "val_loss": [2, 0.3, 0.4, 3],
        "val_acc": [0.1, 0.8, 0.7, 0.2],
    }
    fig = plot_interpolation(curve)
    loss_ax, acc_ax = fig.axes
    assert [list(line.get_ydata()) for line in loss_ax.get_lines()] == [curve["train_loss"], curve["val_loss"]]
    assert [line.get_linestyle() for line in acc_ax.get_lines()] == ["-", ":"]
    plt.close(fig)


def test_direction_curves_stacked_equal_each_models_own_and_keep_a_nan_model_to_itself():
    """Three models, each along its own seed's direction, one stacked forward per t: each curve is
    direction_curve's to float rounding (float64: 1e-12; float32: 1e-5). A model with NaN weights gets
    NaN losses; the others' curves are unchanged."""
    import copy

    from batch_momentum.training.stacked import StackedNet

    x, y = _data(150, 1)
    ts = np.linspace(-1, 1, 7)
    for dtype, rel in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        ms = [_model(s).to(dtype) for s in (1, 2, 3)]
        xd = x.to(dtype)
        got = L.direction_curves_stacked(StackedNet(ms, (40,)), ms, xd, y, ts, seeds=[4, 5, 6])
        for m, s, c in zip(ms, (4, 5, 6), got):
            own = L.direction_curve(m, xd, y, ts, seed=s)
            assert c[T.T] == own[T.T] and c[T.ACC] == own[T.ACC]
            assert c[T.LOSS] == pytest.approx(own[T.LOSS], rel=rel)
    bad = copy.deepcopy(ms[1])
    with torch.no_grad():
        bad[1].weight[0, 0] = float("nan")
    spoiled = L.direction_curves_stacked(
        StackedNet([ms[0], bad, ms[2]], (40,)), [ms[0], bad, ms[2]], xd, y, ts, [4, 5, 6]
    )
    assert all(np.isnan(v) for v in spoiled[1][T.LOSS])
    assert spoiled[0] == got[0] and spoiled[2] == got[2]
    with pytest.raises(ValueError, match="one seed per model"):
        L.direction_curves_stacked(StackedNet(ms, (40,)), ms, xd, y, ts, seeds=[4, 5])
