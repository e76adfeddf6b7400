"""The report's figures: the data behind each (its tidy frame, a few drawn values), one colour per λ
and per B in every figure, hollow or crossed runs that do not count, and when an axis is logarithmic.
Made-up tables with the io.tables column names; no pipeline run."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from batch_momentum import config
from batch_momentum.io import tables as T
from batch_momentum.report.plots import noise, sharpness, style, temperature, training
from batch_momentum.report.plots.style import LINE, MARK, PANEL, X, Y, batch_color, lam_color
from batch_momentum.training.status import Status

LAMS, SIZES, SEEDS = (0.0, 0.5, 0.9), (8, 512), (1, 2, 3)
MEASURES = [(T.HESSIAN_TOP, "top Hessian eigenvalue"), (T.HESSIAN_TRACE, "Hessian trace")]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def grid() -> pd.DataFrame:
    """A made-up run table, λ × B × seed, every run ok and at the target: accuracy falls with B, the top
    eigenvalue is positive, the trace is negative for B = 8 (a linear axis)."""
    rows = [
        {
            T.CELL: f"bs{b}_lam{lam}/seed{s}",
            T.BATCH_SIZE: b,
            T.MOMENTUM: lam,
            T.SEED: s,
            T.STATUS: Status.OK.value,
            T.REACHED_TARGET: True,
            T.LR: 0.05,
            T.EPOCHS: 10,
            T.TRAIN_ACC: 0.99 - b / 1000 + s / 100,
            T.VAL_ACC: 0.8 - b / 2000,
            T.TEST_ACC: 0.8 - b / 2000 + s / 100,
            T.TRAIN_LOSS: 0.01 * s * b,
            T.TEMPERATURE: 0.05 * 4000 / (b * (1 - lam)),
            T.HESSIAN_TOP: b * (1 + lam) * s,
            T.HESSIAN_TRACE: b - 100.0 * s,
            T.NOISE_INIT.cosine: 0.5 + b / 1000,
            T.NOISE_FINAL.cosine: 0.4 + b / 1000 + s / 100,
            T.NOISE_INIT.cosine_expected: 0.3 + b / 1000,
            T.NOISE_FINAL.cosine_expected: 0.2 + b / 1000 + s / 100,
            T.NOISE_FINAL.nsr: 20.0 * s / b,
        }
        for lam in LAMS
        for b in SIZES
        for s in SEEDS
    ]
    return pd.DataFrame(rows)


def labelled(ax, label: str):
    (line,) = [line for line in ax.get_lines() if line.get_label() == label]
    return line


def hollow(ax):
    return [line for line in ax.get_lines() if line.get_markerfacecolor() == "none"]


def rgb(c) -> tuple:
    return to_rgba(tuple(c) if not isinstance(c, str) else c)[:3]


def same(a, b) -> bool:
    return rgb(a) == rgb(b)


# ----------------------------------------------------------------------------- style
def test_a_value_has_one_colour_whatever_the_other_values():
    assert list(style.lam_colors([0.9, 0, 0.5])) == [0.0, 0.5, 0.9]  # the call of plots/momentum.py
    assert style.lam_colors([0.5, 0.99])[0.5] == style.lam_colors(LAMS)[0.5] == lam_color(0.5)
    assert style.batch_colors([512, 8])[8] == style.batch_colors([1, 8, 4000])[8] == batch_color(8)
    assert len({lam_color(v) for v in (0, 0.5, 0.9, 0.95, 0.99)}) == 5
    assert len({batch_color(b) for b in (1, 8, 32, 128, 512, 4000)}) == 6
    assert lam_color(1.0) == lam_color(2.0) and batch_color(2**20) == batch_color(2**13)  # clipped, no error


@pytest.mark.parametrize(
    "values, column, scale",
    [
        ([1.0, 20.0], None, "log"),
        ([-1.0, 20.0], None, "linear"),
        ([0.0, 1.0], None, "linear"),
        ([np.nan, 2.0, np.inf], None, "log"),
        ([np.nan], None, "linear"),
        ([], None, "linear"),
        ([0.5, 0.9], T.TEST_ACC, "linear"),
        ([5.0, 9.0], T.HESSIAN_TOP, "log"),
    ],
)
def test_measure_scale_is_log_only_for_a_positive_measure(values, column, scale):
    assert style.measure_scale(values, column) == scale


# ----------------------------------------------------------------------------- training
def test_final_accuracy_lines_are_the_means_of_the_runs_that_trained():
    t = grid()
    t.loc[0, T.STATUS] = Status.DID_NOT_TRAIN.value  # λ = 0, B = 8, seed 1: a cross, out of the mean
    t.loc[1, T.STATUS] = Status.DIVERGED.value  # seed 2: left out
    ok = t[t[T.STATUS] == Status.OK.value]
    frame = training.final_accuracy_frame(t)
    for split in (T.TRAIN_ACC, T.TEST_ACC):
        line = frame[(frame[MARK] == LINE) & (frame[PANEL] == split)].set_index([T.MOMENTUM, T.BATCH_SIZE])[Y]
        expected = ok.groupby([T.MOMENTUM, T.BATCH_SIZE])[split].mean()
        pd.testing.assert_series_equal(line.sort_index(), expected, check_names=False)
    assert (frame[MARK] == style.RUN).sum() == 2 * len(ok)
    failed = frame[frame[MARK] == style.FAILED].set_index(PANEL)[Y]
    assert failed.to_dict() == {T.TRAIN_ACC: t.loc[0, T.TRAIN_ACC], T.TEST_ACC: t.loc[0, T.TEST_ACC]}

    train_ax, _ = training.plot_final_accuracy(t).axes
    line = labelled(train_ax, "λ = 0.5")
    np.testing.assert_allclose(line.get_ydata(), ok[ok[T.MOMENTUM] == 0.5].groupby(T.BATCH_SIZE)[T.TRAIN_ACC].mean())
    assert same(line.get_color(), lam_color(0.5))
    (cross,) = [line for line in train_ax.get_lines() if line.get_marker() == "x"]
    assert list(cross.get_ydata()) == [t.loc[0, T.TRAIN_ACC]] and same(cross.get_color(), lam_color(0.0))


def curves_of(t: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                T.CELL: r[T.CELL],
                T.BATCH_SIZE: r[T.BATCH_SIZE],
                T.MOMENTUM: r[T.MOMENTUM],
                T.SEED: r[T.SEED],
                T.EPOCH: e,
                T.TRAIN_ACC: 0.1 * e * r[T.SEED],
            }
            for _, r in t.iterrows()
            for e in range(3)
        ]
    )


def test_curves_are_coloured_by_batch_size_and_dashed_when_the_run_did_not_train():
    t = grid()
    t.loc[0, T.STATUS] = Status.DID_NOT_TRAIN.value
    frame = training.curves_frame(curves_of(t), t.iloc[:-1])  # the last run is missing from the table: ok
    assert frame[frame[T.CELL] == t.loc[0, T.CELL]][T.STATUS].eq(Status.DID_NOT_TRAIN.value).all()
    assert frame[T.STATUS].eq(Status.OK.value).sum() == 3 * (len(t) - 1)
    first = training.plot_curves(curves_of(t), t).axes[0]  # λ = 0
    (dashed,) = [line for line in first.get_lines() if line.get_linestyle() == "--"]
    assert same(dashed.get_color(), batch_color(8)) and list(dashed.get_ydata()) == [0.0, 0.1, 0.2]
    assert {rgb(line.get_color()) for line in first.get_lines()} == {rgb(batch_color(8)), rgb(batch_color(512))}


def test_time_to_accuracy_is_the_median_over_seeds_and_never_reached_sits_on_top():
    rows = [
        {
            T.CELL: f"bs{b}_lam{lam}/seed{s}",
            T.BATCH_SIZE: b,
            T.MOMENTUM: lam,
            T.SEED: s,
            T.MEASURE: m,
            T.LEVEL: lv,
            T.WALL_S: s * b / 8,
        }
        for m in (T.VAL_ACC, T.TRAIN_ACC)
        for lv in (0.9, 0.5)
        for lam in (0.0, 0.9)
        for b in SIZES
        for s in SEEDS
    ]
    tta = pd.DataFrame(rows)
    level = (tta[T.MEASURE] == T.TRAIN_ACC) & (tta[T.LEVEL] == 0.9)
    tta.loc[level & (tta[T.BATCH_SIZE] == 512), T.WALL_S] = np.nan  # no seed of B = 512 reaches 90%
    tta.loc[level & (tta[T.MOMENTUM] == 0.9) & (tta[T.SEED] == 3), T.WALL_S] = np.nan  # the median of seeds 1, 2
    frame = training.time_to_accuracy_frame(tta)
    assert list(frame[PANEL].unique()) == [
        "50% validation accuracy",
        "90% validation accuracy",
        "50% training accuracy",
        "90% training accuracy",
    ]
    at = frame[frame[PANEL] == "90% training accuracy"].set_index([MARK, T.MOMENTUM, T.BATCH_SIZE])[Y]
    assert at[(LINE, 0.9, 8)] == 1.5 and at[(LINE, 0.0, 8)] == 2.0 and np.isnan(at[(LINE, 0.0, 512)])
    assert at[(style.NEVER, 0.0, 512)] == at[(style.NEVER, 0.9, 512)] == 2 * tta[T.WALL_S].max()
    axes = training.plot_time_to_accuracy(tta).axes
    triangles = [line for line in axes[3].get_lines() if line.get_marker() == "^"]
    assert len(triangles) == 2 and all(line.get_markerfacecolor() == "none" for line in triangles)


def test_equal_runs_put_small_left_and_large_right_and_short_runs_hollow_out_of_the_mean():
    e = grid()
    e.loc[0, T.REACHED_TARGET] = False  # λ = 0, B = 8, seed 1
    frame = training.equal_runs_frame(e, [T.TEST_ACC, T.HESSIAN_TOP], SIZES)
    runs = frame[frame[MARK] != LINE]
    assert sorted(runs[X].unique()) == pytest.approx([-0.18, 0.18, 0.82, 1.18, 1.82, 2.18])
    assert (runs[X] < runs[T.MOMENTUM].map(LAMS.index)).eq(runs[T.BATCH_SIZE] == 8).all()
    short = frame[frame[MARK] == style.SHORT]
    assert list(short[Y]) == [e.loc[0, T.TEST_ACC], e.loc[0, T.HESSIAN_TOP]]
    mean = frame[(frame[MARK] == LINE) & (frame[PANEL] == T.TEST_ACC)].set_index([T.MOMENTUM, T.BATCH_SIZE])[Y]
    assert mean[(0.0, 8)] == pytest.approx(e.loc[1:2, T.TEST_ACC].mean())

    axes = training.plot_equal_runs(e, [(T.TEST_ACC, "test accuracy")] + MEASURES, SIZES).axes
    assert [ax.get_yscale() for ax in axes] == ["linear", "log", "linear"]  # accuracy, positive, negative trace
    (dot,) = hollow(axes[0])
    assert list(dot.get_ydata()) == [e.loc[0, T.TEST_ACC]] and same(dot.get_color(), batch_color(8))
    bars = [line for line in axes[0].get_lines() if len(line.get_xdata()) == 2]
    bar = next(line for line in bars if line.get_xdata()[0] == pytest.approx(-0.3))
    assert list(bar.get_ydata()) == [mean[(0.0, 8)]] * 2 and same(bar.get_color(), batch_color(8))


# ----------------------------------------------------------------------------- sharpness
def test_sharpness_grid_means_the_ok_runs_and_draws_those_short_of_the_target_hollow():
    t = grid()
    t.loc[0, T.REACHED_TARGET] = False  # λ = 0, B = 8, seed 1: hollow, in the mean
    t.loc[1, T.STATUS] = Status.DIVERGED.value  # seed 2: left out
    frame = sharpness.sharpness_grid_frame(t, [T.HESSIAN_TOP])
    mean = frame[frame[MARK] == LINE].set_index([T.MOMENTUM, T.BATCH_SIZE])[Y]
    assert mean[(0.0, 8)] == pytest.approx((t.loc[0, T.HESSIAN_TOP] + t.loc[2, T.HESSIAN_TOP]) / 2)
    assert len(frame[frame[MARK] != LINE]) == len(t) - 1
    axes = sharpness.plot_sharpness_grid(t, MEASURES).axes
    assert [ax.get_yscale() for ax in axes] == ["log", "linear"]
    (dot,) = hollow(axes[0])
    assert list(dot.get_ydata()) == [t.loc[0, T.HESSIAN_TOP]] and same(dot.get_color(), lam_color(0.0))


def test_directions_are_coloured_by_batch_size():
    d = pd.DataFrame(
        [
            {T.BATCH_SIZE: b, T.MOMENTUM: lam, T.SEED: s, T.T: x, T.LOSS: b + x**2}
            for lam in LAMS
            for b in (8, 32, 512)
            for s in SEEDS
            for x in (-1.0, 0.0, 1.0)
        ]
    )
    ax = sharpness.plot_directions_by_lambda(d, SIZES, 2).axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["B = 8", "B = 512"]  # only the two sizes
    large = ax.get_lines()[1]
    assert same(large.get_color(), batch_color(512)) and list(large.get_ydata()) == [513, 512, 513]


# ----------------------------------------------------------------------------- noise
def test_noise_frame_means_per_lambda_and_batch_with_the_sampled_cosine_beside_the_expected():
    t = grid()
    frame = noise.noise_frame(t).set_index([MARK, T.MOMENTUM, T.BATCH_SIZE])[Y]
    mean = t.groupby([T.MOMENTUM, T.BATCH_SIZE]).mean(numeric_only=True)
    assert frame[(noise.FINAL, 0.5, 8)] == pytest.approx(mean.loc[(0.5, 8), T.NOISE_FINAL.cosine_expected])
    assert frame[(noise.SAMPLED, 0.5, 8)] == pytest.approx(mean.loc[(0.5, 8), T.NOISE_FINAL.cosine])
    assert frame[(noise.NSR, 0.9, 512)] == pytest.approx(mean.loc[(0.9, 512), T.NOISE_FINAL.nsr])
    sampled_only = noise.noise_frame(t.drop(columns=[T.NOISE_FINAL.cosine_expected]))
    assert noise.SAMPLED not in set(sampled_only[MARK])
    assert sampled_only[sampled_only[MARK] == noise.FINAL][Y].max() == pytest.approx(mean[T.NOISE_FINAL.cosine].max())
    with pytest.raises(ValueError, match=T.NOISE_FINAL.nsr):
        noise.noise_frame(t.drop(columns=[T.NOISE_FINAL.nsr]))


def test_noise_figure_colours_lambda_and_logs_a_positive_ratio_only():
    t = grid()
    ax_c, ax_n = noise.plot_noise_vs_batch(t).axes
    assert same(labelled(ax_c, "λ = 0.5, final").get_color(), lam_color(0.5))
    np.testing.assert_allclose(
        labelled(ax_n, "λ = 0.9").get_ydata(), t[t[T.MOMENTUM] == 0.9].groupby(T.BATCH_SIZE)[T.NOISE_FINAL.nsr].mean()
    )
    assert ax_n.get_yscale() == "log"
    t[T.NOISE_FINAL.nsr] = 0.0
    assert noise.plot_noise_vs_batch(t).axes[1].get_yscale() == "linear"


# ----------------------------------------------------------------------------- temperature
def test_temperature_views_plot_the_ok_runs_against_g_and_the_loss_hollow_when_short():
    t = grid()
    t.loc[0, T.REACHED_TARGET] = False
    t.loc[1, T.STATUS] = Status.DIVERGED.value
    t.loc[2, T.HESSIAN_TOP] = np.nan
    frame = temperature.temperature_frame(t, [T.TEST_ACC, T.HESSIAN_TOP])
    assert len(frame) == 2 * (2 * (len(t) - 1) - 1)  # two x per point; the missing eigenvalue left out
    by_g = frame[frame[temperature.AGAINST] == T.TEMPERATURE]
    np.testing.assert_allclose(by_g[X], 200.0 / (by_g[T.BATCH_SIZE] * (1 - by_g[T.MOMENTUM])))  # g of grid()
    assert len(frame[frame[MARK] == style.SHORT]) == 4

    axes = temperature.plot_temperature_views(t, [(T.TEST_ACC, "test"), (T.HESSIAN_TOP, "top")]).axes
    assert [ax.get_yscale() for ax in axes] == ["linear", "log", "linear", "log"]
    for ax in axes:
        faces = [c for c in ax.collections if len(c.get_facecolors()) == 0]
        assert len(faces) == 1 and same(faces[0].get_edgecolors()[0], lam_color(0.0))
        filled = {rgb(c.get_facecolors()[0]) for c in ax.collections if len(c.get_facecolors())}
        assert filled == {rgb(lam_color(lam)) for lam in LAMS}


def test_vs_temperature_on_the_finite_sum_cells():
    cells = pd.DataFrame(
        [
            {
                T.MOMENTUM: lam,
                T.BATCH_SIZE: b,
                T.TEMPERATURE: 1.0 / (b * (1 - lam)),
                "escape_fraction": np.nan if b == 32 else 1.0 / b,
            }
            for lam in (0.0, 0.9)
            for b in (1, 4, 32)
        ]
    )
    ax = temperature.plot_vs_temperature(cells, "escape_fraction").axes[0]
    assert sum(len(c.get_offsets()) for c in ax.collections) == 4  # NaN rows left out
    assert {rgb(c.get_facecolors()[0]) for c in ax.collections} == {rgb(lam_color(0.0)), rgb(lam_color(0.9))}


def test_a_lambda_has_one_colour_in_every_figure_whichever_lambdas_it_shows():
    t = grid()
    fewer = t[t[T.MOMENTUM] != 0.0]
    accuracy = labelled(training.plot_final_accuracy(t).axes[0], "λ = 0.5").get_color()
    sharp = labelled(sharpness.plot_sharpness_grid(fewer, MEASURES).axes[0], "λ = 0.5").get_color()
    cosine = labelled(noise.plot_noise_vs_batch(fewer).axes[0], "λ = 0.5, final").get_color()
    vs_batch = labelled(
        sharpness.plot_sharpness_vs_batch(fewer, T.HESSIAN_TOP, "top").axes[0], "momentum λ = 0.5"
    ).get_color()
    assert same(accuracy, sharp) and same(sharp, cosine) and same(cosine, vs_batch)


# ----------------------------------------------------------------------------- sections
def test_every_section_builds_its_figures_from_made_up_tables():
    from batch_momentum.analysis import findings, lecture
    from batch_momentum.report.sections import generalization, optimization, timing
    from batch_momentum.report.sections import noise as noise_section
    from batch_momentum.report.sections import sharpness as sharpness_section
    from batch_momentum.report.sections import temperature as temperature_section

    p = config.load(Path(__file__).resolve().parents[1] / "params.yaml")
    t = grid()
    measures = [lecture.TOP_EIGENVALUE, lecture.TRACE]
    timing_rows = pd.DataFrame(
        {
            T.DEVICE: "cpu",
            T.DEVICE_NAME: "x86_64",
            T.THREADS: 1,
            T.TORCH_VERSION: "2",
            T.N_TRAIN: 4000,
            T.BATCH_SIZE: list(SIZES),
            T.UPDATES_PER_EPOCH: [500, 8],
            T.PARALLEL_MEDIAN_S: [1e-3, 3e-2],
            T.SEQUENTIAL_MEDIAN_S: [8e-3, 0.5],
            T.SEQUENTIAL_EXTRAPOLATED: [False, True],
            T.EPOCH_MEASURED_S: [0.5, np.nan],
            T.EPOCH_ESTIMATED_S: [0.5, 0.24],
            T.REPEATS: 5,
        }
    )
    for col in (T.PARALLEL_MIN_S, T.PARALLEL_MAX_S, T.SEQUENTIAL_MIN_S, T.SEQUENTIAL_MAX_S):
        timing_rows[col] = timing_rows[T.PARALLEL_MEDIAN_S if "parallel" in col else T.SEQUENTIAL_MEDIAN_S]
    tta = t[list(T.RUN_KEY)].assign(**{T.MEASURE: T.TRAIN_ACC, T.LEVEL: 0.5, T.UPDATES: 10.0, T.WALL_S: 1.0})
    candidates = t.assign(**{T.CHOSEN: True})
    directions = pd.DataFrame(
        [
            {T.BATCH_SIZE: b, T.MOMENTUM: lam, T.SEED: min(p.grid.seed), T.T: x, T.LOSS: 1 + x * x}
            for lam in LAMS
            for b in SIZES
            for x in (-1.0, 0.0, 1.0)
        ]
    )
    line = {
        T.MOMENTUM: 0.0,
        T.SEED: min(p.grid.seed),
        T.SMALL: "bs8",
        T.LARGE: "bs512",
        T.ALPHA: [0.0, 1.0],
        T.TRAIN_LOSS: [0.1, 0.2],
        T.TEST_LOSS: [0.3, 0.4],
        T.TRAIN_ACC: [1.0, 0.99],
        T.TEST_ACC: [0.8, 0.7],
    }
    sections = [
        timing.timing_section(timing_rows),
        noise_section.noise_section(t),
        optimization.optimization_section(p, t, curves_of(t), tta),
        generalization.generalization_section(p, t, candidates, lecture.keskar_table(t, p), measures),
        sharpness_section.sharpness_section(p, t, directions, [line], measures),
        temperature_section.temperature_section(t, findings.collapse(t, t, p), measures),
    ]
    for s in sections:
        figures = s["figures"] + s.get("extra", [])
        assert figures and all(f["fig"].axes for f in figures), s["id"]
