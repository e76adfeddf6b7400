"""Keskar et al.'s protocol with a learning-rate sweep: per (B, lambda), every candidate eta x every
seed trained to the training-accuracy target in one stacked network, and each seed's own choice of
eta by its validation accuracy among its runs that reached the target (params' equal_acc section).

Why each seed chooses for itself: the choice of eta is then part of what a seed's run measures, so
the spread of the choice over seeds is inside the interval of every comparison over seeds, and one
seed that stalls at the best eta moves only its own choice, never the others'."""

from __future__ import annotations

from pathlib import Path

from batch_momentum import config
from batch_momentum.io import runs
from batch_momentum.io import tables as T
from batch_momentum.training import bracket, loop


def choose_seed(candidates: list[dict]) -> dict:
    """One seed's choice of eta from its candidate runs (one summary per eta): among the eta whose run
    reached the target, the one with the best validation accuracy (ties: the smaller eta). When none
    reached it, the one with the best training accuracy (then the smaller eta) is kept with `reached`
    False: its run is shown, never counted as at equal training accuracy."""
    reached = [c for c in candidates if c[T.REACHED_TARGET]]
    if reached:
        best = max(reached, key=lambda c: (c[T.VAL_ACC], -c[T.LR]))
        return dict(
            lr=best[T.LR],
            reached=True,
            why=f"best validation accuracy ({best[T.VAL_ACC]:.4f}) of the {len(reached)} of {len(candidates)} "
            f"eta whose run reached the target",
        )
    best = max(candidates, key=lambda c: (c[T.TRAIN_ACC], -c[T.LR]))
    return dict(
        lr=best[T.LR],
        reached=False,
        why=f"no eta of {sorted(c[T.LR] for c in candidates)} reached the target; kept the closest "
        f"(training accuracy {best[T.TRAIN_ACC]:.4f})",
    )


def choose_per_seed(candidates: list[dict]) -> dict[int, dict]:
    """choose_seed for every seed of a cell's candidate rows (T.CELL_CANDIDATES), by seed."""
    by_seed: dict[int, list[dict]] = {}
    for c in candidates:
        by_seed.setdefault(int(c[T.SEED]), []).append(c)
    return {seed: choose_seed(rows) for seed, rows in sorted(by_seed.items())}


def train_equal_acc(
    params: config.Params, blob: dict, batch_size: int, momentum: float, device, out: Path, cores: int = 1
) -> None:
    """The start of the sweep x every seed in one stacked network, then each extension the bracket asks for
    (training.bracket.sweep) as a stack of its own over the same `cores`: a model's numbers do not depend on
    the stack it trains in. Each seed's kept run goes to out/seed<s>/, one row per candidate run to
    out/candidates.csv, every candidate's final weights to out/candidates.pt (for the eta view of evaluate),
    the choices and the side's bracket to out/choice.json."""
    ea, seeds = params.equal_acc, list(params.equal_acc.seed)
    trained: list[dict] = []

    def train(lrs: list[float], sweep_round: int) -> list[dict]:
        members = [(lr, s) for lr in lrs for s in seeds]
        what = "the start" if sweep_round == 0 else f"extension {sweep_round}"
        print(
            f"equal accuracy, {what}: B={batch_size}, lambda={momentum}, eta {lrs} x seeds {seeds} = {len(members)} "
            f"models stacked, target {ea.target_train_acc} within {ea.max_epochs} epochs, on {device}",
            flush=True,
        )
        done = loop.train_cell(
            params,
            blob,
            batch_size,
            momentum,
            [s for _, s in members],
            device,
            log=lambda s: print(s, flush=True),
            lrs=[lr for lr, _ in members],
            budget=loop.Budget(ea.max_epochs, ea.target_train_acc, ea.patience),
            cores=cores,
        )
        for r in done:
            last = r["curve"][-1]
            r["summary"].update(
                {
                    T.PROTOCOL: T.EQUAL_ACC,
                    T.TRAIN_ACC: last[T.TRAIN_ACC],
                    T.VAL_ACC: last[T.VAL_ACC],
                    T.SWEEP_ROUND: sweep_round,
                }
            )
        trained.extend(done)
        return [{c: r["summary"][c] for c in T.CELL_CANDIDATES.columns} for r in done]

    result = bracket.sweep(ea.lrs(batch_size, momentum), ea.extend_factor, ea.extend_cap, train)
    rows, side = result["rows"], result["bracket"]
    lrs = side[T.STEPS_TRAINED]
    choices = choose_per_seed(rows)
    for r in trained:
        s = r["summary"]
        s.update({T.CHOSEN_LR: choices[s[T.SEED]]["lr"], T.LR_CANDIDATES: lrs})
        if s[T.LR] == choices[s[T.SEED]]["lr"]:
            runs.write_run(out / f"seed{s[T.SEED]}", r, params)
    runs.write_candidates(
        out,
        rows,
        dict(
            batch_size=batch_size,
            momentum=momentum,
            candidates=lrs,
            seeds={str(k): v for k, v in choices.items()},
            bracket=dict(side, ladder=result["rounds"]),
        ),
        trained,
    )
    print(
        f"kept eta per seed {[choices[s]['lr'] for s in seeds]} (seeds {seeds}); best eta {side[T.BEST_LR]:g}: "
        f"{bracket.status_text(side)} -> {out}",
        flush=True,
    )
