"""The device a step runs on, its name as results record it, and CPU threads."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from batch_momentum.config import ParamsError


def resolve(name: str) -> torch.device:
    """`auto` is CUDA when torch sees one, else the CPU; `cuda` without one is a one-line error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ParamsError("train.device = 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'")
    return torch.device(name)


def name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model name from /proc/cpuinfo (else what platform knows)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # CPU-GPU sync point: read a clock only once the device is idle


def full_float32() -> None:
    """Convolutions on CUDA in full float32, as matmuls already are by default: cuDNN would use
    TF32 (10-bit mantissa) for them, and a CNN's numbers would then differ from the CPU's by more
    than float32 rounding."""
    torch.backends.cudnn.allow_tf32 = False  # the legacy flag first: set alone, the new API would
    # leave it True, and reading it (cudnn.flags(), torch's compilers) then raises "a mix of the
    # legacy and new APIs"
    conv, rnn = getattr(torch.backends.cudnn, "conv", None), getattr(torch.backends.cudnn, "rnn", None)
    if hasattr(conv, "fp32_precision") and hasattr(rnn, "fp32_precision"):  # torch >= 2.9
        conv.fp32_precision = rnn.fp32_precision = "ieee"


def setup(device_name: str, threads: int | None) -> torch.device:
    """Resolve the device and set torch's CPU threads (None: torch's default). On CUDA, cuBLAS is
    deterministic only with a fixed workspace (PyTorch's reproducibility notes), which must be set
    before the first cuBLAS call: it is set here unless the environment already sets it."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    full_float32()
    if threads is not None:
        torch.set_num_threads(threads)
    return resolve(device_name)
