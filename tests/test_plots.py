"""The report's figures: the tidy frame behind each (which runs, which values, which mark), the page's one
colour per λ and per B, hollow or crossed runs that do not count, and when an axis is logarithmic.
Made-up tables with the io.tables column names; no pipeline run."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from batch_momentum import config
from batch_momentum.config import stability_threshold
from batch_momentum.io import tables as T
from batch_momentum.io.status import Status
from batch_momentum.report.plots import noise, sharpness, style, temperature, training
from batch_momentum.report.plots.style import FAILED, LINE, MARK, PANEL, RUN, SHORT, X, Y, batch_color, lam_color
from batch_momentum.report.sections.optimization import time_to_accuracy_table

LAMS, SIZES, SEEDS = (0.0, 0.5, 0.9), (8, 512), (1, 2, 3)
pytestmark = pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")  # seaborn 0.13.2 on pandas 3
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


def drawn_colors(fig) -> set:
    """The RGB colours of every line and dot drawn in the figure's axes (not the legend)."""
    out = set()
    for ax in fig.axes:
        out |= {rgb(line.get_color()) for line in ax.get_lines()}
        for c in ax.collections:
            out |= {tuple(v[:3]) for v in np.concatenate([c.get_facecolors(), c.get_edgecolors()])}
    return out


def rgb(c) -> tuple:
    return to_rgba(tuple(c) if not isinstance(c, str) else c)[:3]


def scales(fig) -> list[str]:
    """Each axes' y scale as the reader sees it, from its transform (seaborn's own scales are "function"):
    "log" when 1, 10, 100 lie equally spaced."""
    out = []
    for ax in fig.axes:
        v = ax.yaxis.get_transform().transform(np.array([1.0, 10.0, 100.0]))
        out.append("log" if np.isclose(v[1] - v[0], v[2] - v[1]) else "linear")
    return out


# ----------------------------------------------------------------------------- style
def test_a_value_has_one_colour_whatever_the_other_values():
    assert list(style.lam_colors([0.9, 0, 0.5])) == [0.0, 0.5, 0.9]  # the call of plots/momentum.py
    assert style.lam_colors([0.5, 0.99])[0.5] == style.lam_colors(LAMS)[0.5] == lam_color(0.5)
    assert style.batch_colors([512, 8])[8] == style.batch_colors([1, 8, 4000])[8] == batch_color(8)
    assert len({lam_color(v) for v in (0, 0.5, 0.9, 0.95, 0.99)}) == 5
    assert len({batch_color(b) for b in (1, 8, 32, 128, 512, 4000)}) == 6
    assert lam_color(1.0) == lam_color(2.0) and batch_color(2**20) == batch_color(2**13)  # clipped, no error


def test_the_palette_seaborn_gets_is_keyed_by_the_value_as_the_legend_names_it():
    t = style.named(grid())
    assert list(t["λ"].unique()) == ["0", "0.5", "0.9"] and list(t["B"].unique()) == ["8", "512"]
    lam = style.palette(t, T.MOMENTUM)
    assert lam.order == ["0", "0.5", "0.9"] and lam.values["0.5"] == lam_color(0.5)
    b = style.palette(t[t[T.BATCH_SIZE] == 512], T.BATCH_SIZE)
    assert b.values == {"512": batch_color(512)}  # the value's colour, whichever other values the figure has
    assert style.MARKERS[style.FAILED] == "x" and not style.FILLS[SHORT] and style.FILLS[RUN]  # crossed, hollow


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
    assert (frame[MARK] == RUN).sum() == 2 * len(ok)
    failed = frame[frame[MARK] == FAILED].set_index(PANEL)[Y]
    assert failed.to_dict() == {T.TRAIN_ACC: t.loc[0, T.TRAIN_ACC], T.TEST_ACC: t.loc[0, T.TEST_ACC]}
    assert (frame[X] == frame[T.BATCH_SIZE]).all()

    fig = training.plot_final_accuracy(t)
    assert [ax.get_title() for ax in fig.axes] == list(training.SPLIT_TITLES.values())
    assert drawn_colors(fig) <= {rgb(lam_color(lam)) for lam in LAMS} | {(1.0, 1.0, 1.0)}  # the page's λ colours


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


def test_curves_are_one_line_per_run_by_batch_size_and_dashed_when_the_run_did_not_train():
    t = grid()
    t.loc[0, T.STATUS] = Status.DID_NOT_TRAIN.value
    frame = training.curves_frame(curves_of(t), t.iloc[:-1])  # the last run is missing from the table: ok
    first = frame[frame[T.CELL] == t.loc[0, T.CELL]]
    assert first[MARK].eq(FAILED).all() and list(first[Y]) == [0.0, 0.1, 0.2] and first[PANEL].eq(0.0).all()
    assert frame[MARK].eq(RUN).sum() == 3 * (len(t) - 1) and frame[T.STATUS].eq(Status.OK.value).sum() == 3 * 17
    fig = training.plot_curves(curves_of(t), t)
    assert [ax.get_title() for ax in fig.axes] == ["λ = 0", "λ = 0.5", "λ = 0.9"]
    assert training.LINESTYLES == {RUN: "-", FAILED: "--"}  # the run that did not train: dashed
    assert drawn_colors(fig) == {rgb(batch_color(b)) for b in SIZES}


def time_to_accuracy_rows() -> pd.DataFrame:
    """Two validation and two training levels over λ × B × seeds; no seed of B = 512 reaches 90% training
    accuracy, and at λ = 0.9 seed 3 of every B does not either."""
    rows = [
        {
            T.CELL: f"bs{b}_lam{lam}/seed{s}",
            T.BATCH_SIZE: b,
            T.MOMENTUM: lam,
            T.SEED: s,
            T.MEASURE: m,
            T.LEVEL: lv,
            T.WALL_S: s * b / 8,
            T.UPDATES: 10 * s,
        }
        for m in (T.VAL_ACC, T.TRAIN_ACC)
        for lv in (0.9, 0.5)
        for lam in (0.0, 0.9)
        for b in SIZES
        for s in SEEDS
    ]
    tta = pd.DataFrame(rows)
    level = (tta[T.MEASURE] == T.TRAIN_ACC) & (tta[T.LEVEL] == 0.9)
    tta.loc[level & (tta[T.BATCH_SIZE] == 512), [T.WALL_S, T.UPDATES]] = np.nan  # no seed of B = 512 reaches 90%
    tta.loc[level & (tta[T.MOMENTUM] == 0.9) & (tta[T.SEED] == 3), [T.WALL_S, T.UPDATES]] = np.nan  # seeds 1, 2
    return tta


def test_time_to_accuracy_is_the_median_over_seeds_and_never_reached_sits_on_top():
    tta = time_to_accuracy_rows()
    frame = training.time_to_accuracy_frame(tta)
    titles = ["50% validation accuracy", "90% validation accuracy", "50% training accuracy", "90% training accuracy"]
    assert list(frame[PANEL].unique()) == titles
    at = frame[frame[PANEL] == "90% training accuracy"].set_index([MARK, T.MOMENTUM, T.BATCH_SIZE])[Y]
    assert at[(LINE, 0.9, 8)] == 1.5 and at[(LINE, 0.0, 8)] == 2.0 and np.isnan(at[(LINE, 0.0, 512)])
    assert at[(style.NEVER, 0.0, 512)] == at[(style.NEVER, 0.9, 512)] == 2 * tta[T.WALL_S].max()
    assert set(frame[MARK]) == {LINE, style.NEVER} and not style.FILLS[style.NEVER]  # hollow triangles
    fig = training.plot_time_to_accuracy(tta)
    assert [ax.get_title() for ax in fig.axes] == titles and set(scales(fig)) == {"log"}


def test_the_time_to_accuracy_table_has_a_row_per_level_and_lambda_and_a_column_per_batch_size():
    tta = time_to_accuracy_rows()
    view = time_to_accuracy_table(tta)
    assert list(view.columns) == ["accuracy", "λ"] + [f"B = {b}" for b in SIZES]
    titles = ["50% validation accuracy", "90% validation accuracy", "50% training accuracy", "90% training accuracy"]
    assert list(view["accuracy"]) == [t for t in titles for _ in (0.0, 0.9)] and list(view["λ"]) == [0.0, 0.9] * 4
    row = view[(view["accuracy"] == "90% training accuracy") & (view["λ"] == 0.9)].iloc[0]
    assert row["B = 512"] == "never" and row["B = 8"] == "1.5 s, 15 updates (2 of 3 seeds)"  # median of seeds 1, 2
    first = view.iloc[0]
    assert first["B = 8"] == "2 s, 20 updates" and first["B = 512"] == "128 s, 20 updates"  # every seed
    assert len(view) == tta.groupby([T.MEASURE, T.LEVEL, T.MOMENTUM]).ngroups  # one row per level and λ


def test_equal_runs_put_small_left_and_large_right_and_short_runs_hollow_out_of_the_mean():
    e = grid()
    e.loc[0, T.REACHED_TARGET] = False  # λ = 0, B = 8, seed 1
    frame = training.equal_runs_frame(e, [T.TEST_ACC, T.HESSIAN_TOP], SIZES)
    runs = frame[frame[MARK] != LINE]
    assert sorted(runs[X].unique()) == pytest.approx([-0.18, 0.18, 0.82, 1.18, 1.82, 2.18])
    assert (runs[X] < runs[T.MOMENTUM].map(LAMS.index)).eq(runs[T.BATCH_SIZE] == 8).all()
    short = frame[frame[MARK] == SHORT]
    assert list(short[Y]) == [e.loc[0, T.TEST_ACC], e.loc[0, T.HESSIAN_TOP]]
    mean = frame[(frame[MARK] == LINE) & (frame[PANEL] == T.TEST_ACC)].set_index([T.MOMENTUM, T.BATCH_SIZE])[Y]
    assert mean[(0.0, 8)] == pytest.approx(e.loc[1:2, T.TEST_ACC].mean())

    fig = training.plot_equal_runs(e, [(T.TEST_ACC, "test accuracy")] + MEASURES, SIZES)
    assert scales(fig) == ["linear", "log", "linear"]  # accuracy, positive, negative trace
    assert [ax.get_title() for ax in fig.axes] == ["test accuracy", "top Hessian eigenvalue", "Hessian trace"]
    assert drawn_colors(fig) <= {rgb(batch_color(b)) for b in SIZES} | {(1.0, 1.0, 1.0)}


# ----------------------------------------------------------------------------- sharpness
def test_sharpness_grid_means_the_ok_runs_and_draws_those_short_of_the_target_hollow():
    t = grid()
    t.loc[0, T.REACHED_TARGET] = False  # λ = 0, B = 8, seed 1: hollow, in the mean
    t.loc[1, T.STATUS] = Status.DIVERGED.value  # seed 2: left out
    frame = sharpness.sharpness_grid_frame(t, [T.HESSIAN_TOP])
    mean = frame[frame[MARK] == LINE].set_index([T.MOMENTUM, T.BATCH_SIZE])[Y]
    assert mean[(0.0, 8)] == pytest.approx((t.loc[0, T.HESSIAN_TOP] + t.loc[2, T.HESSIAN_TOP]) / 2)
    assert len(frame[frame[MARK] != LINE]) == len(t) - 1
    assert list(frame[frame[MARK] == SHORT][Y]) == [t.loc[0, T.HESSIAN_TOP]]
    assert scales(sharpness.plot_sharpness_grid(t, MEASURES)) == ["log", "linear"]


def test_sharpness_vs_batch_is_the_mean_and_range_over_seeds_of_the_finite_values():
    t = grid()
    t.loc[0, T.HESSIAN_TOP] = np.inf  # λ = 0, B = 8, seed 1: a diverged value, left out
    g = sharpness.sharpness_summary(t, T.HESSIAN_TOP).set_index([T.MOMENTUM, T.BATCH_SIZE])
    assert g.loc[(0.0, 8)].tolist() == [20.0, 16.0, 24.0]  # seeds 2 and 3: 8·2 and 8·3; mean, min, max
    assert g.loc[(0.9, 512), "max"] == pytest.approx(512 * 1.9 * 3)
    assert scales(sharpness.plot_sharpness_vs_batch(t, T.HESSIAN_TOP, "top")) == ["log"]
    with pytest.raises(ValueError, match="lacks columns"):
        sharpness.sharpness_summary(t.drop(columns=[T.HESSIAN_TOP]), T.HESSIAN_TOP)


def test_stability_frame_puts_each_run_at_its_threshold_and_marks_those_that_do_not_count():
    e = grid()
    e[T.LR] = np.where(e[T.BATCH_SIZE] == 8, 0.1, 2.0)  # η per batch size, as the protocol tunes it
    e[T.HESSIAN_TOP] = stability_threshold(e[T.LR], e[T.MOMENTUM]) * np.where(e[T.BATCH_SIZE] == 8, 0.25, 1.0)
    e.loc[0, T.REACHED_TARGET] = False  # λ = 0, B = 8, seed 1: short of the target, hollow
    e.loc[1, T.STATUS] = Status.DID_NOT_TRAIN.value
    e.loc[2, T.HESSIAN_TOP] = np.nan  # no eigenvalue: no dot
    frame = sharpness.stability_frame(e, SIZES)
    assert len(frame) == len(e) - 1
    large = frame[frame[T.BATCH_SIZE] == 512]
    np.testing.assert_allclose(large[X], 2 * (1 + large[T.MOMENTUM]) / 2.0)  # 2(1+λ)/η, η = 2: 1, 1.5, 1.9
    np.testing.assert_allclose(large[Y], large[X])  # at the edge of stability
    assert set(frame[sharpness.SIDE]) == {"small B = 8", "large B = 512"}
    by_mark = frame.groupby(MARK).size().to_dict()
    assert by_mark == {RUN: len(e) - 3, SHORT: 1, FAILED: 1}
    np.testing.assert_allclose(frame[frame[MARK] == RUN].groupby(T.BATCH_SIZE)[sharpness.RATIO].median(), [0.25, 1])
    assert "large B = 512: λ=0: 1.00, λ=0.5: 1.00, λ=0.9: 1.00" in sharpness.edge_text(frame)
    fig = sharpness.plot_stability(e, SIZES)
    assert fig.axes[0].get_xlabel() == "stability threshold 2(1+λ)/η"
    (diagonal,) = [line for line in fig.axes[0].get_lines() if line.get_label().startswith("y = x")]
    assert list(diagonal.get_xdata()) == list(diagonal.get_ydata())


def test_directions_are_the_two_sizes_of_one_seed_coloured_by_batch_size():
    d = pd.DataFrame(
        [
            {T.BATCH_SIZE: b, T.MOMENTUM: lam, T.SEED: s, T.T: x, T.LOSS: b + x**2}
            for lam in LAMS
            for b in (8, 32, 512)
            for s in SEEDS
            for x in (-1.0, 0.0, 1.0)
        ]
    )
    frame = sharpness.directions_frame(d, SIZES, 2)
    assert set(frame[T.BATCH_SIZE]) == set(SIZES) and set(frame[T.SEED]) == {2} and len(frame) == 3 * 2 * 3
    fig = sharpness.plot_directions_by_lambda(d, SIZES, 2)
    assert [ax.get_title() for ax in fig.axes] == [f"λ = {lam:g}, seed 2" for lam in LAMS]
    assert drawn_colors(fig) == {rgb(batch_color(8)), rgb(batch_color(512))}


# ----------------------------------------------------------------------------- noise
def test_noise_frame_means_per_lambda_and_batch_with_the_sampled_cosine_beside_the_expected():
    t = grid()
    frame = noise.noise_frame(t).set_index([PANEL, MARK, T.MOMENTUM, T.BATCH_SIZE])[Y]
    mean = t.groupby([T.MOMENTUM, T.BATCH_SIZE]).mean(numeric_only=True)
    assert frame[(noise.COSINE, noise.FINAL, 0.5, 8)] == pytest.approx(
        mean.loc[(0.5, 8), T.NOISE_FINAL.cosine_expected]
    )
    assert frame[(noise.COSINE, noise.SAMPLED, 0.5, 8)] == pytest.approx(mean.loc[(0.5, 8), T.NOISE_FINAL.cosine])
    assert frame[(noise.NSR, noise.FINAL, 0.9, 512)] == pytest.approx(mean.loc[(0.9, 512), T.NOISE_FINAL.nsr])
    sampled_only = noise.noise_frame(t.drop(columns=[T.NOISE_FINAL.cosine_expected]))
    assert noise.SAMPLED not in set(sampled_only[MARK])
    cos = sampled_only[(sampled_only[MARK] == noise.FINAL) & (sampled_only[PANEL] == noise.COSINE)]
    assert cos[Y].max() == pytest.approx(mean[T.NOISE_FINAL.cosine].max())
    with pytest.raises(ValueError, match=T.NOISE_FINAL.nsr):
        noise.noise_frame(t.drop(columns=[T.NOISE_FINAL.nsr]))


def test_noise_figure_logs_a_positive_ratio_only():
    t = grid()
    fig = noise.plot_noise_vs_batch(t)
    assert [ax.get_title() for ax in fig.axes] == [noise.COSINE, noise.NSR] and scales(fig)[1] == "log"
    assert fig.axes[0].get_ylim() == (-0.05, 1.05)
    t[T.NOISE_FINAL.nsr] = 0.0
    assert scales(noise.plot_noise_vs_batch(t))[1] == "linear"


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
    by_loss = frame[frame[temperature.AGAINST] == T.TRAIN_LOSS]
    ok = t[t[T.STATUS] == Status.OK.value]
    assert sorted(by_loss[by_loss[PANEL] == T.TEST_ACC][X]) == sorted(ok[T.TRAIN_LOSS])  # each run's final loss
    short = frame[frame[MARK] == SHORT]
    assert len(short) == 4 and (short[T.MOMENTUM] == 0.0).all() and (short[T.BATCH_SIZE] == 8).all()
    fig = temperature.plot_temperature_views(t, [(T.TEST_ACC, "test"), (T.HESSIAN_TOP, "top")])
    assert scales(fig) == ["linear", "linear", "log", "log"]  # a row per measure, g left, the final loss right
    assert [ax.get_title() for ax in fig.axes][:3:2] == ["noise temperature g | test", "noise temperature g | top"]


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
    frame = temperature.vs_temperature_frame(cells, "escape_fraction")
    assert len(frame) == 4 and sorted(frame[Y]) == [0.25, 0.25, 1.0, 1.0]  # NaN rows left out
    np.testing.assert_allclose(frame[X], 1.0 / (frame[T.BATCH_SIZE] * (1 - frame[T.MOMENTUM])))
    fig = temperature.plot_vs_temperature(cells, "escape_fraction")
    assert drawn_colors(fig) <= {rgb(lam_color(0.0)), rgb(lam_color(0.9)), (1.0, 1.0, 1.0)}


def test_a_lambda_has_one_colour_in_every_figure_whichever_lambdas_it_shows():
    t = grid()
    fewer = t[t[T.MOMENTUM] != 0.0]
    page = {rgb(lam_color(lam)) for lam in (0.5, 0.9)} | {(1.0, 1.0, 1.0)}  # white: the dots' edges
    for fig in (
        training.plot_final_accuracy(fewer),
        sharpness.plot_sharpness_grid(fewer, MEASURES),
        noise.plot_noise_vs_batch(fewer),
        sharpness.plot_sharpness_vs_batch(fewer, T.HESSIAN_TOP, "top"),
        temperature.plot_temperature_views(fewer, MEASURES),
    ):
        drawn = drawn_colors(fig)
        assert rgb(lam_color(0.5)) in drawn and drawn <= page, drawn - page


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
