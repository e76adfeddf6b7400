"""How train_cell runs one update of its stacked network: eagerly, or as a captured CUDA graph.

At small batch sizes on a GPU an update is a few dozen tiny kernels, and the time goes to
launching them from Python, not to the arithmetic. A CUDA graph records the whole update
once (gather of the batch, forward, backward, momentum step) and replays it with one
launch. The graph reads its batch from a static index buffer; the weights, momentum and
gradient buffers are updated in place, so a replay is the same update as the eager one.

* Eager: x[idx], y[idx] and opt.update, as written.
* Graphed: one graph per index shape (S, b), captured on first use. An epoch whose last
  batch is short uses two graphs. When seeds stop (opt.keep) the stack shrinks and the
  graphs are dropped and captured again for the new S. Used on CUDA up to MAX_BATCH
  examples per update: beyond it an update is arithmetic, not launches, and a graph would
  only hold its activations' memory for good. A capture that fails falls back to eager
  updates for the rest of the run, says so in the log and in the run's update_path.

Capture needs a few warm-up updates first (on a side stream, as the CUDA graphs notes of
PyTorch ask); they would move the weights, so the state is saved before and restored after
them: training is the same sequence of updates as the eager path's.
"""
from __future__ import annotations

import torch

WARMUP = 3        # eager updates before a capture (lazy initialisation of cuBLAS and the allocator)
MAX_BATCH = 1024  # train.cuda_graph auto: graphs on CUDA for batch sizes up to this


class Eager:
    name = "eager"

    def __init__(self, opt, x: torch.Tensor, y: torch.Tensor):
        self.opt, self.x, self.y = opt, x, y

    def __call__(self, idx: torch.Tensor) -> None:
        """One update of every model of the stack on its own batch: idx (S, b) row indices."""
        self.opt.update(self.x[idx], self.y[idx])

    def keep(self, rows: list[int]) -> None:
        self.opt.keep(rows)


class CudaBackend:
    """Warm-up on a side stream and capture into a torch.cuda.CUDAGraph."""

    def warm_up(self, fn, times: int) -> None:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(times):
                fn()
        torch.cuda.current_stream().wait_stream(side)

    def capture(self, fn):
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        return graph.replay


class Graphed(Eager):
    """The update replayed from captured graphs. `backend` does the warm-up and the capture
    (CudaBackend; tests pass one that runs the function again instead of replaying it, which
    checks the bookkeeping here: static buffers, restored state, recapture after keep)."""

    def __init__(self, opt, x: torch.Tensor, y: torch.Tensor, backend=None, log=print):
        super().__init__(opt, x, y)
        self.backend = backend or CudaBackend()
        self.graphs: dict[tuple[int, ...], tuple[torch.Tensor, object]] = {}
        self.log = log
        self.failed: str | None = None  # why the capture failed; then every update is eager

    def _state(self) -> list[torch.Tensor]:
        """What an update changes and the next one reads: the weights and the momentum buffers."""
        return list(self.opt.net.params) + list(self.opt.m)

    def _capture(self, idx: torch.Tensor):
        static = idx.clone()

        def update():
            self.opt.update(self.x[static], self.y[static])

        saved = [t.detach().clone() for t in self._state()]
        self.backend.warm_up(update, WARMUP)
        with torch.no_grad():
            for t, s in zip(self._state(), saved):
                t.copy_(s)
        return static, self.backend.capture(update)  # recording runs nothing: the state stays as restored

    def __call__(self, idx: torch.Tensor) -> None:
        if self.failed:
            return super().__call__(idx)
        key = tuple(idx.shape)
        if key not in self.graphs:
            try:
                self.graphs[key] = self._capture(idx)
            except RuntimeError as exc:  # an op that cannot be captured: the eager update is the same update
                self.failed = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                self.graphs.clear()
                self.log(f"CUDA graph capture failed ({self.failed}); every update of this run is eager")
                return super().__call__(idx)
        static, replay = self.graphs[key]
        static.copy_(idx)
        replay()

    @property
    def name(self) -> str:
        return f"eager (cuda graph capture failed: {self.failed})" if self.failed else "cuda graph"

    def keep(self, rows: list[int]) -> None:
        self.graphs.clear()  # the stack only shrinks: its old graphs (and their memory) are never replayed again
        self.opt.keep(rows)


def updater(opt, x: torch.Tensor, y: torch.Tensor, device: torch.device, mode: str, batch_size: int,
            log=print) -> Eager:
    """train.cuda_graph: 'auto' replays captured graphs on CUDA at batch sizes up to MAX_BATCH and
    runs eagerly otherwise; 'never' always runs eagerly."""
    if mode == "auto" and device.type == "cuda" and batch_size <= MAX_BATCH:
        return Graphed(opt, x, y, log=log)
    return Eager(opt, x, y)

