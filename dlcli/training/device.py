"""Where a run computes: the device (`resolve_device`) and torch's CPU thread count.

The thread count is part of a run's numbers (float reductions may depend on it), so `set_threads`
fixes it and config.json records it; `evaluate` and `resume` set it again from there.
torch is imported inside the functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dlcli.errors import InputError
from dlcli.training.config import DEVICES

if TYPE_CHECKING:
    import torch


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda, else mps, else cpu; an unavailable device is an InputError (exit 2)."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps and mps.is_available())
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if mps_ok else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise InputError(
                f"--device cuda: no CUDA GPU is available to this PyTorch "
                f"({torch.__version__}); use --device cpu or auto"
            )
        return torch.device("cuda")
    if name == "mps":
        if not mps_ok:
            raise InputError(
                "--device mps: Apple's MPS backend is not available here; use --device cpu or auto"
            )
        return torch.device("mps")
    raise InputError(f"invalid --device '{name}': expected {', '.join(DEVICES)}")


_TORCH_DEFAULT_THREADS: int | None = None


def default_threads() -> int:
    """PyTorch's own default (physical cores, or OMP_NUM_THREADS), read before we change it."""
    import torch

    global _TORCH_DEFAULT_THREADS
    if _TORCH_DEFAULT_THREADS is None:
        _TORCH_DEFAULT_THREADS = torch.get_num_threads()
    return _TORCH_DEFAULT_THREADS


def set_threads(threads: int | None) -> int:
    """Fix torch's intra-op threads (results may depend on the count); recorded in config.json."""
    import torch

    if threads is not None and not (isinstance(threads, int) and 1 <= threads <= 1024):
        # from a damaged config.json (the command line's --threads is checked in TrainConfig)
        raise InputError(f"invalid thread count {threads!r}: expected 1 to 1024")
    n = threads or default_threads()
    torch.set_num_threads(n)
    return n
