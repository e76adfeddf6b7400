"""measures.evaluation on tiny trained runs: every measure under its column (io.tables), none for a
run that diverged, and the direction curve and noise measures checked against direct computations."""

import math

import pytest
import torch

from batch_momentum.data import prepared
from batch_momentum.io import runs
from batch_momentum.io import tables as T
from batch_momentum.measures import evaluation
from batch_momentum.training import loop, models
from conftest import tiny_with

CPU = torch.device("cpu")


def trained_run(cells, params, blob, batch_size: int, momentum: float, seed: int = 1):
    """Train one seed of a cell and write its files to cells/bs<B>_lam<λ>/seed<s>/, as the train step does."""
    result = loop.train_cell(params, blob, batch_size, momentum, [seed], CPU, log=lambda s: None)[0]
    run_dir = cells / f"bs{batch_size}_lam{momentum}" / f"seed{seed}"
    runs.write_run(run_dir, result, params)
    return run_dir


@pytest.fixture(scope="module")
def tiny():
    p = tiny_with(train=dict(max_epochs=15, target_train_acc=0.35, lr=0.1))
    return p, prepared.prepare(p.data)


def test_every_measure_is_written_under_its_column(tmp_path, tiny):
    p, blob = tiny
    run_dir = trained_run(tmp_path, p, blob, 8, 0.5)
    metrics, curve = evaluation.evaluate_run(run_dir, p, blob, CPU)
    summary = runs.load_run(run_dir, p, blob["meta"], CPU)[2]
    sh = p.sharpness
    assert list(metrics) == [
        T.CELL,
        *summary,
        *T.SPLIT_METRICS,
        *T.HESSIAN,
        *T.sharpness_columns(sh.epsilons, sh.subspace_dim),
        T.ADAPTIVE_SHARPNESS,
        T.SHARPNESS_WALL_S,
        *T.NOISE_INIT.all,
        *T.NOISE_FINAL.all,
        T.NOISE_WALL_S,
        T.SHARPNESS_SUBSET,
        T.NOISE_SUBSET,
    ]
    assert metrics[T.CELL] == "bs8_lam0.5/seed1" and metrics[T.STATUS] == "ok"
    assert (metrics[T.SHARPNESS_SUBSET], metrics[T.NOISE_SUBSET]) == (sh.subset, p.noise.subset)
    assert all(
        math.isfinite(metrics[c]) for c in (T.HESSIAN_TOP, T.HESSIAN_TRACE, T.ADAPTIVE_SHARPNESS, *T.NOISE_FINAL.all)
    )
    for columns in (T.NOISE_INIT, T.NOISE_FINAL):
        assert metrics[columns.nsr] == metrics[columns.b_simple] / 8  # B_simple / B
    # the training split's numbers are the model's own on the whole split
    model = runs.load_run(run_dir, p, blob["meta"], CPU)[0]
    assert (metrics[T.TRAIN_LOSS], metrics[T.TRAIN_ACC]) == models.model_loss_and_accuracy(
        model, blob["x_train"], blob["y_train"]
    )
    # the direction curve: direction_points values of t in [-span, span], at t = 0 the loss on the subset
    assert list(curve) == list(T.DIRECTION_ROW) and len(curve[T.T]) == sh.direction_points
    assert curve[T.T][0] == -sh.direction_span and curve[T.T][-1] == sh.direction_span
    middle = curve[T.T].index(0.0)
    x, y = blob["x_train"][: sh.subset], blob["y_train"][: sh.subset]
    assert (curve[T.LOSS][middle], curve[T.ACC][middle]) == models.model_loss_and_accuracy(model, x, y)


def test_a_diverged_run_gets_its_accuracy_per_split_and_no_measures(tmp_path):
    p = tiny_with(train=dict(lr=1e6, max_epochs=2))
    blob = prepared.prepare(p.data)
    run_dir = trained_run(tmp_path, p, blob, 8, 0.9)
    metrics, curve = evaluation.evaluate_run(run_dir, p, blob, CPU)
    summary = runs.load_run(run_dir, p, blob["meta"], CPU)[2]
    assert metrics[T.STATUS] == "diverged"
    assert list(metrics) == [T.CELL, *summary, *T.SPLIT_METRICS]
    assert curve == {T.T: [], T.LOSS: [], T.ACC: []}


def test_noise_measures_are_keyed_by_the_columns_asked_for(tiny):
    p, blob = tiny
    torch.manual_seed(0)
    model = models.build(p, blob["meta"])
    x, y = blob["x_train"][:100], blob["y_train"][:100]
    small = evaluation.noise_measures(model, x, y, 8, 200, p.noise, 0, T.NOISE_INIT)
    assert list(small) == list(T.NOISE_INIT.all) and all(math.isfinite(v) for v in small.values())
    # B = 150 > the 100 examples of the subset: no batch to sample, but the expected cosine over n_train = 200
    large = evaluation.noise_measures(model, x, y, 150, 200, p.noise, 0, T.NOISE_FINAL)
    assert list(large) == list(T.NOISE_FINAL.all)
    assert math.isnan(large[T.NOISE_FINAL.cosine]) and math.isnan(large[T.NOISE_FINAL.cosine_std])
    b = large[T.NOISE_FINAL.b_simple]
    assert b == small[T.NOISE_INIT.b_simple]  # the same weights and examples
    assert large[T.NOISE_FINAL.cosine_expected] == pytest.approx(1 / math.sqrt(1 + b * (1 / 150 - 1 / 200)))


def test_diverged_run_evaluates_to_null_accuracy_not_class_zero(tmp_path):
    p = tiny_with(train={"lr": 1e6, "max_epochs": 5})
    blob = prepared.prepare(p.data)
    res = loop.train_cell(p, blob, 8, 0.9, [1], torch.device("cpu"), log=lambda s: None)
    runs.write_run(tmp_path, res[0], p)
    model, _, summary = runs.load_run(tmp_path, p, blob["meta"], torch.device("cpu"))
    metrics = evaluation.evaluate_cell(model, blob)
    assert summary["status"] == "diverged"
    for split in prepared.SPLITS:
        assert not (metrics[f"{split}_acc"] == metrics[f"{split}_acc"])  # NaN: NaN logits have no accuracy


# ----------------------------------------------------------------------------- all seeds of a cell together
def trained_cell(cells, params, blob, batch_size: int, momentum: float, seeds, nan_seed=None):
    """Train a cell's seeds together and write their runs as the train step does; the run of
    `nan_seed` is written with NaN weights and status diverged (a seed that blew up in a healthy cell)."""
    dirs = []
    for seed, result in zip(seeds, loop.train_cell(params, blob, batch_size, momentum, seeds, CPU, log=lambda s: None)):
        if seed == nan_seed:
            result["state"] = {k: torch.full_like(v, float("nan")) for k, v in result["state"].items()}
            result["summary"][T.STATUS] = "diverged"
        dirs.append(cells / f"bs{batch_size}_lam{momentum}" / f"seed{seed}")
        runs.write_run(dirs[-1], result, params)
    return dirs


def _same(a, b, rel):
    """Two metrics dicts with the same keys in the same order; numbers equal to `rel`, the rest exactly
    (wall times aside)."""
    assert list(a) == list(b)
    for k in (k for k in a if not k.endswith("wall_s")):
        if isinstance(a[k], float):
            assert a[k] == pytest.approx(b[k], rel=rel, abs=1e-7, nan_ok=True), k
        else:
            assert a[k] == b[k], k


def test_the_seeds_of_a_cell_measured_together_equal_each_seed_measured_alone(tmp_path, tiny):
    """evaluate_runs (stacked) against evaluate_run (one seed at a time) on a cell of 3 trained seeds:
    the same keys in the same order, the same counts and flags, every number to 1e-3 relative (float32:
    power iteration and L-BFGS-B amplify rounding a little; losses and accuracies agree to ~1e-6),
    but the full-space ε-sharpness, whose box maximum together (sign ascent) is at least L-BFGS-B's."""
    p, blob = tiny
    dirs = trained_cell(tmp_path, p, blob, 8, 0.5, [1, 2, 3])
    lines = []
    together = evaluation.evaluate_runs(dirs, p, blob, CPU, log=lines.append)
    full = [T.sharpness_column(eps, None) for eps in p.sharpness.epsilons]
    for d, (metrics, curve) in zip(dirs, together):
        alone_metrics, alone_curve = evaluation.evaluate_run(d, p, blob, CPU)
        # full-space ε-sharpness: sign ascent together, L-BFGS-B alone; it reaches at least L-BFGS-B's maximum
        for c in full:
            assert alone_metrics[c] <= metrics[c] < 1.1 * alone_metrics[c]
        _same(
            {k: v for k, v in metrics.items() if k not in full},
            {k: v for k, v in alone_metrics.items() if k not in full},
            1e-3,
        )
        for split in T.SPLITS:
            assert metrics[T.loss_column(split)] == pytest.approx(alone_metrics[T.loss_column(split)], rel=1e-6)
            assert metrics[T.acc_column(split)] == alone_metrics[T.acc_column(split)]
        assert curve[T.T] == alone_curve[T.T] and curve[T.ACC] == alone_curve[T.ACC]
        assert curve[T.LOSS] == pytest.approx(alone_curve[T.LOSS], rel=1e-5)
        assert metrics[T.SHARPNESS_WALL_S] > 0 and metrics[T.NOISE_WALL_S] > 0
    # progress: one line per part, naming the cell and the number of seeds
    assert any(line.startswith("bs8_lam0.5: hessian top eigenvalue (3 seeds) ") for line in lines)
    assert any("gradient noise at the final weights (3 seeds)" in line for line in lines)


def test_a_diverged_seed_keeps_its_status_and_does_not_spoil_the_others(tmp_path, tiny):
    p, blob = tiny
    healthy = evaluation.evaluate_runs(trained_cell(tmp_path / "a", p, blob, 8, 0.5, [1, 2, 3]), p, blob, CPU)
    dirs = trained_cell(tmp_path / "b", p, blob, 8, 0.5, [1, 2, 3], nan_seed=2)
    spoiled = evaluation.evaluate_runs(dirs, p, blob, CPU, log=lambda s: None)
    summary = runs.load_run(dirs[1], p, blob["meta"], CPU)[2]
    metrics, curve = spoiled[1]
    assert metrics[T.STATUS] == "diverged"
    assert list(metrics) == [T.CELL, *summary, *T.SPLIT_METRICS]
    assert all(math.isnan(metrics[c]) for c in T.SPLIT_METRICS)
    assert curve == {T.T: [], T.LOSS: [], T.ACC: []}
    for i in (0, 2):  # the other seeds: their numbers as in the cell where every seed is healthy
        _same(spoiled[i][0], healthy[i][0], rel=1e-12)
        assert spoiled[i][1] == healthy[i][1]


def test_a_cell_whose_seeds_all_diverged_gets_no_measures(tmp_path):
    p = tiny_with(train=dict(lr=1e6, max_epochs=2))
    blob = prepared.prepare(p.data)
    out = evaluation.evaluate_runs(trained_cell(tmp_path, p, blob, 8, 0.9, [1, 2]), p, blob, CPU)
    assert [m[T.STATUS] for m, _ in out] == ["diverged", "diverged"]
    assert all(c == {T.T: [], T.LOSS: [], T.ACC: []} for _, c in out)


def _candidates(p, blob, seeds, reached, status=None):
    """Candidate rows (T.CELL_CANDIDATES' keys) of one cell and their trained models: seed s at η = 0.1."""
    results = loop.train_cell(p, blob, 8, 0.5, seeds, CPU, log=lambda s: None)
    rows, finals = [], []
    for seed, r, at in zip(seeds, results, reached):
        rows.append(
            {T.BATCH_SIZE: 8, T.MOMENTUM: 0.5, T.LR: 0.1, T.SEED: seed, T.STATUS: (status or {}).get(seed, "ok")}
            | {T.REACHED_TARGET: at}
        )
        finals.append(models.build(p, blob["meta"]))
        finals[-1].load_state_dict(r["state"])
    return rows, finals


@pytest.mark.parametrize("primary", [T.sharpness_column(1e-3, None), T.HESSIAN_TRACE])
def test_every_candidate_at_the_target_gets_the_primary_and_the_adaptive_sharpness(tiny, primary):
    """measure_candidates: the primary measure and the adaptive sharpness for every candidate at the target,
    NaN for one short of it (the top eigenvalue still measured: it trained) and for one that diverged; the
    values those of the runs' own measures (sharpness_measures_stacked on the same models and seeds); a
    value already known (a kept run) taken as it is, not measured again; only the test split measured."""
    p, blob = tiny
    seeds = [1, 2, 3, 4]
    rows, finals = _candidates(p, blob, seeds, [True, "True", False, True], status={4: "diverged"})
    lines = []
    out = evaluation.measure_candidates(rows, finals, p, blob, CPU, primary=primary, log=lines.append)
    assert [list(o) for o in out] == [[T.LR, T.SEED, T.TEST_ACC, T.HESSIAN_TOP, primary, T.ADAPTIVE_SHARPNESS]] * 4
    from batch_momentum.training import stacked

    sh = p.sharpness
    net = stacked.StackedNet(finals[:3], blob["meta"]["input_shape"])
    xs, ys = blob["x_train"][: sh.subset], blob["y_train"][: sh.subset]
    clock = evaluation._Clock("c", 3, lambda s: None)
    ref = evaluation.sharpness_measures_stacked(net, xs, ys, sh, seeds[:3], clock)
    for i in (0, 1):  # at the target
        for c in (T.HESSIAN_TOP, primary, T.ADAPTIVE_SHARPNESS):
            assert out[i][c] == pytest.approx(ref[i][c], rel=1e-4), (i, c)
        assert out[i][T.ADAPTIVE_SHARPNESS] > 0
    assert out[2][T.HESSIAN_TOP] == pytest.approx(ref[2][T.HESSIAN_TOP], rel=1e-4)  # short of the target
    assert math.isnan(out[2][primary]) and math.isnan(out[2][T.ADAPTIVE_SHARPNESS])
    assert all(math.isnan(out[3][c]) for c in (T.HESSIAN_TOP, primary, T.ADAPTIVE_SHARPNESS))  # diverged
    test_acc = [models.model_loss_and_accuracy(m, blob["x_test"], blob["y_test"])[1] for m in finals]
    assert [o[T.TEST_ACC] for o in out] == pytest.approx(test_acc, abs=1e-6)
    assert any("test accuracy (4 seeds)" in line for line in lines)
    assert not any("loss and accuracy per split" in line for line in lines)
    # a kept run's values are taken as they are: planted numbers come back, and no ascent runs for it alone
    known = {(0.1, 1): {T.HESSIAN_TOP: 11.0, primary: 12.0, T.ADAPTIVE_SHARPNESS: 13.0}}
    again = evaluation.measure_candidates(rows, finals, p, blob, CPU, primary=primary, known=known)
    assert [again[0][c] for c in (T.HESSIAN_TOP, primary, T.ADAPTIVE_SHARPNESS)] == [11.0, 12.0, 13.0]
    assert again[1][T.ADAPTIVE_SHARPNESS] == pytest.approx(out[1][T.ADAPTIVE_SHARPNESS], rel=1e-4)
