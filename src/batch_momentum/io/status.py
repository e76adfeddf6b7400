"""A run's status, one of Status, and the rules that decide it: it diverged, it stalled short of a
target, or it used its budget without training. Decided by the training loop (this module has no
torch: the report quotes the thresholds in its text)."""

from __future__ import annotations

from enum import Enum

from batch_momentum.io import tables as T


class Status(str, Enum):
    """How a run ended; the value is what the files and tables hold ("ok", "diverged", ...)."""

    OK = "ok"  # trained: reached the target, or used its budget and learned
    DIVERGED = "diverged"  # its training loss became NaN, infinite, or larger than DIVERGED_LOSS
    STALLED = "stalled"  # the equal-accuracy protocol gave up: patience epochs added less than STALL_GAIN
    DID_NOT_TRAIN = "did not train"  # used its budget without learning (did_not_train)

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


# A mean cross-entropy above this has blown up (chance level is ln(classes), 2.3 for 10 classes):
# the run is "diverged" even while its loss is still a finite number.
DIVERGED_LOSS = 1e3
STALL_GAIN = 0.005  # a run "stalls" when `patience` epochs add less than this to its best training accuracy
NO_GAIN = 0.05  # a run "did not train" when its final training accuracy is within this of its initial one


def did_not_train(curve: list[dict]) -> str | None:
    """Why a run that used its whole budget counts as not trained, or None. Two signs, from its
    curve (row 0 = the initial weights): its final training accuracy is within NO_GAIN of the
    initial one (it stayed at about chance), or it made no progress in the second half of its
    epochs (the lowest training loss there is not below the lowest of the first half: it got stuck
    or fell back, as a too large step does)."""
    first, last = curve[0][T.TRAIN_ACC], curve[-1][T.TRAIN_ACC]
    if last <= first + NO_GAIN:
        return f"training accuracy {last:.3f} after {int(curve[-1][T.EPOCH])} epochs, {first:.3f} at the start"
    losses = [r[T.TRAIN_LOSS] for r in curve[1:]]
    if len(losses) >= 4:
        half = len(losses) // 2
        early, late = min(losses[:half]), min(losses[half:])
        if not late < early:
            return (
                f"no progress in the second half of its {len(losses)} epochs (lowest training loss {late:.3g} "
                f"there, {early:.3g} before)"
            )
    return None


def stalled(accs: list[float], patience: int) -> bool:
    """accs[0] is before training: stalled when max(last `patience`) < max(before them) + STALL_GAIN."""
    return len(accs) > patience and max(accs[-patience:]) < max(accs[:-patience]) + STALL_GAIN
