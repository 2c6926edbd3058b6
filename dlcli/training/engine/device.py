"""Where a run computes: the device (`resolve_device`) and torch's CPU thread count.

(Precision and --compile: precision.py; the ranks of a data-parallel run: distributed.py.)

The thread count is part of a run's numbers (float reductions may depend on it), so `set_threads`
fixes it and config.json records it; `evaluate` and `resume` set it again from there.
torch is imported inside the functions.

The default thread count (no --threads), "threads that never lose". Measured on a 2-core machine
(tests/bench/bench_threads.py): an OpenMP thread with no core of its own spins against the other
work and a run takes 3-12x longer than with one thread (mlp 1.9 s -> 11.8 s, resnet 4.3 s ->
51 s), while small batches gain nothing from a second thread even on a quiet machine. So:

    1. one thread if a batch is small work: its forward pass (eval mode, one thread, measured
       once before training) takes under SMALL_BATCH_SECONDS, where thread start-up and
       synchronisation cost about what the threads save (the digits mlp: ~0.2 ms);
    2. else the cores that are idle right now (from /proc/stat over IDLE_SAMPLE_SECONDS; the
       1-minute load average elsewhere), at least 1 and at most PyTorch's own default (the
       physical cores, or OMP_NUM_THREADS; torchrun sets it to 1 per rank) shared by the ranks
       on this machine.

A default chosen this way may differ between two runs of the same command on a machine whose
load changes, and with it the last digits of the numbers: give --threads N to repeat a run
bit for bit (config.json records the count; resume and evaluate reuse it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dlcli.errors import InputError
from dlcli.training.config import DEVICES

if TYPE_CHECKING:
    from collections.abc import Callable

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


SMALL_BATCH_SECONDS = 0.0007  # forward pass of one batch; below it one thread (rule 1)
IDLE_SAMPLE_SECONDS = 0.05

_TORCH_DEFAULT_THREADS: int | None = None


def torch_threads() -> int:
    """PyTorch's own default (physical cores, or OMP_NUM_THREADS), read before we change it."""
    import torch

    global _TORCH_DEFAULT_THREADS
    if _TORCH_DEFAULT_THREADS is None:
        _TORCH_DEFAULT_THREADS = torch.get_num_threads()
    return _TORCH_DEFAULT_THREADS


def idle_cores() -> float:
    """Logical cores idle right now: /proc/stat sampled twice (Linux), else cores minus the
    1-minute load average, else all of them."""
    import os
    import time

    cores = os.cpu_count() or 1

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
        return values[3] + values[4], sum(values[:8])  # idle + iowait, all but guest time

    try:
        idle0, total0 = sample()
        time.sleep(IDLE_SAMPLE_SECONDS)
        idle1, total1 = sample()
        return cores * (idle1 - idle0) / max(1, total1 - total0)
    except (OSError, ValueError, IndexError):
        pass
    try:
        return max(0.0, cores - os.getloadavg()[0])
    except (AttributeError, OSError):
        return float(cores)


def local_world_size() -> int:
    """Ranks on this machine (torchrun's LOCAL_WORLD_SIZE; one process: 1): they share its cores."""
    import os

    return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def default_threads() -> int:
    """Rule 2 of the module docstring: the idle cores, within PyTorch's default per rank."""
    most = torch_threads()
    if most <= 1:
        return 1
    ranks = local_world_size()
    return max(1, min(most, int(idle_cores() / ranks + 0.25)))


def set_threads(threads: int | None, probe: Callable[[], float] | None = None) -> int:
    """Fix torch's intra-op threads (results may depend on the count); recorded in config.json.
    `threads` None: the rule of the module docstring, with `probe()` the seconds of one batch's
    forward pass on one thread (rule 1; without a probe, rule 2 alone)."""
    import torch

    if threads is not None and not (isinstance(threads, int) and 1 <= threads <= 1024):
        # from a damaged config.json (the command line's --threads is checked in TrainConfig)
        raise InputError(f"invalid thread count {threads!r}: expected 1 to 1024")
    n = threads or default_threads()
    if threads is None and n > 1 and probe is not None:
        torch.set_num_threads(1)
        if probe() < SMALL_BATCH_SECONDS:
            n = 1
    torch.set_num_threads(n)
    return n
