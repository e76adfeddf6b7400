"""How train_cell runs one update of its stacked network: eagerly, or as a captured CUDA graph.

At small batch sizes on a GPU an update is a few dozen tiny kernels, and the time goes to
launching them from Python, not to the arithmetic. A CUDA graph records the whole update
once (gather of the batch, forward, backward, momentum step) and replays it with one
launch. The graph reads its batch from a static index buffer; the weights, momentum and
gradient buffers are updated in place, so a replay is the same update as the eager one.

* Eager: x[idx], y[idx] and opt.update, as written.
* Graphed: one graph per index shape (S, b), captured before the epoch's clock starts
  (prepare), or else on first use. An epoch whose last batch is short uses two graphs.
  When seeds stop (opt.keep) the stack shrinks and the graphs are dropped and captured
  again for the new S. Used on CUDA up to MAX_BATCH examples per update: beyond it an
  update is arithmetic, not launches, and a graph would only hold its activations' memory.

A capture that fails stops the run with one line saying to set train.cuda_graph: never. It
does not go on eagerly: after a failed capture PyTorch's allocator and streams are not
reliably usable in the same process (PyTorch issues 51436 and 180395).

Capture needs a few warm-up updates first (on a side stream, as the CUDA graphs notes of
PyTorch ask); they would move the weights, so the state is saved before and restored after
them: training is the same sequence of updates as the eager path's.
"""

from __future__ import annotations

import torch

WARMUP = 3  # eager updates before a capture (lazy initialisation of cuBLAS and the allocator)
MAX_BATCH = 1024  # train.cuda_graph auto: graphs on CUDA for batch sizes up to this


class Eager:
    name = "eager"

    def __init__(self, opt, x: torch.Tensor, y: torch.Tensor):
        self.opt, self.x, self.y = opt, x, y

    def __call__(self, idx: torch.Tensor) -> None:
        """One update of every model of the stack on its own batch: idx (S, b) row indices."""
        self.opt.update(self.x[idx], self.y[idx])

    def prepare(self, perms: torch.Tensor, batch_size: int) -> None:
        """Called before an epoch's clock starts; nothing to set up for eager updates."""

    def keep(self, rows: list[int]) -> None:
        self.opt.keep(rows)


class CaptureError(ValueError):
    """A CUDA graph of the update could not be captured; the message says how to train without one."""


class CudaBackend:
    """Warm-up on a side stream and capture into a torch.cuda.CUDAGraph. One side stream for all
    warm-ups (cuBLAS keeps a workspace per stream)."""

    def __init__(self):
        self.side = None

    def warm_up(self, fn, times: int) -> None:
        self.side = self.side or torch.cuda.Stream()
        self.side.wait_stream(torch.cuda.current_stream())
        try:
            with torch.cuda.stream(self.side):
                for _ in range(times):
                    fn()
        finally:
            torch.cuda.current_stream().wait_stream(self.side)

    def capture(self, fn):
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        return graph.replay


class Graphed(Eager):
    """The update replayed from captured graphs. `backend` does the warm-up and the capture
    (CudaBackend; tests pass one that runs the function again instead of replaying it, which
    checks the bookkeeping here: static buffers, restored state, recapture after keep)."""

    name = "cuda graph"

    def __init__(self, opt, x: torch.Tensor, y: torch.Tensor, backend=None):
        super().__init__(opt, x, y)
        self.backend = backend or CudaBackend()
        self.graphs: dict[tuple[int, ...], tuple[torch.Tensor, object]] = {}

    def _state(self) -> list[torch.Tensor]:
        """What an update changes and the next one reads: the weights and the momentum buffers."""
        return list(self.opt.net.params) + list(self.opt.m)

    def _capture(self, idx: torch.Tensor):
        static = idx.clone()

        def update():
            self.opt.update(self.x[static], self.y[static])

        saved = [t.detach().clone() for t in self._state()]
        try:
            self.backend.warm_up(update, WARMUP)
        finally:  # the warm-up's updates never count, also when it fails
            with torch.no_grad():
                for t, s in zip(self._state(), saved):
                    t.copy_(s)
        try:
            replay = self.backend.capture(update)  # recording runs nothing: the state stays as restored
        except RuntimeError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CaptureError(
                f"could not capture a CUDA graph of the update at batch shape {tuple(idx.shape)} "
                f"({first}); set train.cuda_graph: never in params.yaml to train with eager "
                f"updates"
            ) from None
        return static, replay

    def prepare(self, perms: torch.Tensor, batch_size: int) -> None:
        """Capture the graphs an epoch over `perms` (S, n) replays, the full batch's shape and a
        short last one's, before the epoch's clock starts: a capture (warm-up updates, a device
        sync, building the graph) is set-up, and counted as training time it would make the
        epochs after each shrink of the stack look slower at small batch sizes only."""
        n = perms.shape[1]
        for lo in (0, (n - 1) // batch_size * batch_size):
            self._graph(perms[:, lo : lo + batch_size])

    def _graph(self, idx: torch.Tensor):
        """(static index buffer, replay) of the graph for idx's shape, captured if there is none yet."""
        key = tuple(idx.shape)
        if key not in self.graphs:
            self.graphs[key] = self._capture(idx)
        return self.graphs[key]

    def __call__(self, idx: torch.Tensor) -> None:
        static, replay = self._graph(idx)
        static.copy_(idx)
        replay()

    def keep(self, rows: list[int]) -> None:
        self.graphs.clear()  # the stack only shrinks: its old graphs (and their memory) are never replayed again
        self.opt.keep(rows)


def uses_graphs(mode: str, device: torch.device, batch_size: int) -> bool:
    """train.cuda_graph: 'auto' replays captured graphs on CUDA at batch sizes up to MAX_BATCH;
    'never', another device or a larger batch runs eagerly."""
    return mode == "auto" and device.type == "cuda" and batch_size <= MAX_BATCH


def updater(opt, x: torch.Tensor, y: torch.Tensor, device: torch.device, mode: str, batch_size: int) -> Eager:
    return (Graphed if uses_graphs(mode, device, batch_size) else Eager)(opt, x, y)
