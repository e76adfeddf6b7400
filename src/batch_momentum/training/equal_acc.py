"""Keskar et al.'s protocol: per (B, lambda), every candidate eta x every seed trained to the
training-accuracy target in one stacked network, and the choice of eta by validation accuracy
among the candidates whose every seed reached it (params' equal_acc section)."""

from __future__ import annotations

from pathlib import Path

from batch_momentum import config
from batch_momentum.io import runs
from batch_momentum.io import tables as T
from batch_momentum.training import loop


def choose_lr(candidates: list[dict]) -> dict:
    """The equal-accuracy protocol's choice of eta for one (B, lambda), from one summary per
    (eta, seed): among the eta whose every seed reached the target, the one with the best mean
    validation accuracy (the fair comparison of Shallue et al. 2019). When no eta qualifies, the
    one with the most seeds at the target, then the best mean training accuracy, is kept and
    `reached` is False: its runs are shown, never counted as at equal training accuracy."""
    by_lr: dict[float, list[dict]] = {}
    for c in candidates:
        by_lr.setdefault(c[T.LR], []).append(c)

    def mean(lr, column):
        return sum(r[column] for r in by_lr[lr]) / len(by_lr[lr])

    def at_target(lr):
        return sum(r[T.REACHED_TARGET] for r in by_lr[lr])

    qualified = [lr for lr, rows in by_lr.items() if all(r[T.REACHED_TARGET] for r in rows)]
    if qualified:
        lr = max(qualified, key=lambda v: (mean(v, T.VAL_ACC), -v))
        return dict(
            lr=lr,
            reached=True,
            why=f"best mean validation accuracy ({mean(lr, T.VAL_ACC):.4f}) of the "
            f"{len(qualified)} of {len(by_lr)} eta whose every seed reached the "
            f"target",
        )
    lr = max(by_lr, key=lambda v: (at_target(v), mean(v, T.TRAIN_ACC), -v))
    return dict(
        lr=lr,
        reached=False,
        why=f"no eta of {sorted(by_lr)} brought every seed to the target; kept the "
        f"closest ({at_target(lr)} of {len(by_lr[lr])} seeds at the target, mean "
        f"training accuracy {mean(lr, T.TRAIN_ACC):.4f})",
    )


def train_equal_acc(params: config.Params, blob: dict, batch_size: int, momentum: float, device, out: Path) -> None:
    """Every candidate eta x every seed in one stacked network; the chosen eta's runs go to out/seed<s>/,
    one row per candidate run to out/candidates.csv, the choice to out/choice.json."""
    ea, seeds = params.equal_acc, list(params.equal_acc.seed)
    lrs = ea.lrs(batch_size, momentum)
    members = [(lr, s) for lr in lrs for s in seeds]
    print(
        f"equal accuracy: B={batch_size}, lambda={momentum}, eta {lrs} x seeds {seeds} = {len(members)} models "
        f"stacked, target {ea.target_train_acc} within {ea.max_epochs} epochs, on {device}",
        flush=True,
    )
    trained = loop.train_cell(
        params,
        blob,
        batch_size,
        momentum,
        [s for _, s in members],
        device,
        log=lambda s: print(s, flush=True),
        lrs=[lr for lr, _ in members],
        budget=loop.Budget(ea.max_epochs, ea.target_train_acc, ea.patience),
    )
    for r in trained:
        last = r["curve"][-1]
        r["summary"].update({T.PROTOCOL: T.EQUAL_ACC, T.TRAIN_ACC: last[T.TRAIN_ACC], T.VAL_ACC: last[T.VAL_ACC]})
    rows = [{c: r["summary"][c] for c in T.CELL_CANDIDATES.columns} for r in trained]
    choice = choose_lr(rows)
    for r in trained:
        r["summary"].update({T.CHOSEN_LR: choice["lr"], T.LR_CANDIDATES: lrs})
        if r["summary"][T.LR] == choice["lr"]:
            runs.write_run(out / f"seed{r['summary'][T.SEED]}", r, params)
    runs.write_candidates(out, rows, dict(choice, batch_size=batch_size, momentum=momentum, candidates=lrs))
    print(f"chose eta {choice['lr']:g}: {choice['why']} -> {out}", flush=True)
