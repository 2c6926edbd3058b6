"""Data-parallel training under torchrun: the `DDP` strategy, gloo on CPU, NCCL on CUDA.

    torchrun --nproc-per-node 2 -m dlcli train cnn --batch-size 64 ...
    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29400 \
        -m dlcli train resnet ...

torchrun starts one process per rank and sets WORLD_SIZE, RANK, LOCAL_RANK (and the
rendezvous) in their environment; `setup` joins the process group from them and returns the
rank's device and its `Strategy` (strategy.py: the verbs the loop calls, and why the shares make
the gradient exact). With one process (no torchrun, or WORLD_SIZE 1) it returns the one-process
`Strategy`, and the loop runs as before, bit for bit. Besides the strategy:

    launched, is_main    whether torchrun started this process with several ranks; whether it
                         is rank 0 (both known before `setup`: the command line asks them)
    teardown, leave      leave the group once, after the last collective; end the rank's
                         process (`leave`, from the command line: why os._exit, see there)
    Follower             a non-main rank ends with rank 0's error, quietly

BatchNorm: SyncBatchNorm on CUDA (batch statistics over the global batch). PyTorch's
SyncBatchNorm runs on GPUs only, so on CPU (gloo) each rank normalises with its own share's
statistics and the running averages are rank 0's (DDP broadcasts buffers each step).

A collective waits at most DLCLI_DIST_TIMEOUT seconds (default 300) for a dead or stuck rank.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import signal
from typing import TYPE_CHECKING, Any

from dlcli import interrupts
from dlcli.errors import DlcliError, InputError, RunFailure
from dlcli.training.engine.device import resolve_device
from dlcli.training.engine.metrics import scores_of
from dlcli.training.engine.strategy import Strategy

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch
    from torch import nn

    from dlcli.training.engine.batches import Inputs
    from dlcli.training.engine.tasks import Task

TIMEOUT_SECONDS = 300.0  # default wait of a collective for a dead or stuck rank


class Follower(DlcliError):
    """A non-main rank ends with rank 0's error; rank 0 prints it, this rank prints nothing."""

    def __init__(self, exit_code: int) -> None:
        super().__init__("")
        self.exit_code = exit_code


_joined = False  # this process joined a process group (it is a rank under torchrun)


def launched() -> bool:
    """Started by torchrun (or any launcher setting WORLD_SIZE) with more than one rank."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_main() -> bool:
    """Whether this process is rank 0 (torchrun's RANK; one process: yes), before `setup` too."""
    return os.environ.get("RANK", "0") == "0"


def setup(device_name: str) -> tuple[torch.device, Strategy]:
    """The rank's device and strategy; under torchrun also join the process group (once per
    process): `DDP`, else the one-process `Strategy`."""
    import torch
    import torch.distributed as dist

    device = resolve_device(device_name)
    if not launched():
        return device, Strategy()
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise InputError(
            f"data-parallel training on {device.type} is not supported by PyTorch's backends "
            "(gloo: CPU, NCCL: CUDA); use --device cpu or cuda"
        )
    if not dist.is_initialized():
        from datetime import timedelta

        timeout = float(os.environ.get("DLCLI_DIST_TIMEOUT", TIMEOUT_SECONDS))
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout))
        # torchrun passes SIGINT/SIGTERM on to the ranks (and sends SIGTERM when a rank fails):
        # save as for Ctrl-C, and report SIGTERM as SIGTERM (143); the command line installed
        # these already, a library caller under torchrun gets them here
        if not interrupts.installed():
            interrupts.install()
        atexit.register(teardown)
        global _joined
        _joined = True
    return device, DDP(dist.get_rank(), dist.get_world_size())


def teardown() -> None:
    """Leave the process group, if this process is in one (atexit, `leave`, `DDP.end`)."""
    if _joined:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def leave(code: int) -> None:
    """End a rank's process with `code` (the command line's last act under torchrun): leave the
    group if a failure left it joined, flush stdout and stderr, and `os._exit`.

    Why not a normal exit: DDP's reducer keeps the ProcessGroupGloo alive after
    `destroy_process_group` (a C++ reference no collection frees: its two worker threads and
    gloo's tcp loop are still running after `teardown`, tests/cli/test_processes.py counts them),
    and a normal exit runs the interpreter's finalization and the C++ static destructors while those
    threads run. Now and then that aborted a rank at exit ("terminate called without an active
    exception", SIGABRT; rank 1 of `train --nproc 2` in about 1 run in 5 on a busy machine),
    after the run was written, and torchrun then failed the whole run. Every file of the run is
    written, fsynced and closed before this point; nothing is left for exit handlers to do."""
    if not _joined:
        return
    import contextlib
    import sys

    teardown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


class DDP(Strategy):
    """The verbs of `Strategy` (strategy.py) for `world` ranks under torchrun."""

    def __init__(self, rank: int, world: int) -> None:
        self.rank, self.world = rank, world

    def prepare(self, net: nn.Module) -> nn.Module:
        """On CUDA: BatchNorm -> SyncBatchNorm (GPU only in PyTorch; see the module docstring)."""
        if next(net.parameters()).device.type == "cuda":
            import torch

            return torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
        return net

    def wrap(self, net: nn.Module, device: torch.device) -> nn.Module:
        """DistributedDataParallel: gradients are averaged over ranks (each rank scales its
        loss by its share, `Share.weight`)."""
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(net, device_ids=ids)

    def seed_epoch(self, seed: int, epoch: int) -> None:
        """Seed each rank's dropout/augmentation stream from (seed, epoch, rank), so ranks draw
        different masks and a resumed run draws the same ones."""
        import torch

        torch.manual_seed((seed * 1_000_003 + epoch) * 4099 + self.rank)

    def reduce(self, sums: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        dist.all_reduce(sums)
        return sums

    def measure(
        self, net: nn.Module, x: Inputs, y: torch.Tensor, task: Task, loss_name: str
    ) -> dict[str, float | None]:
        """Each rank scores rows rank, rank+W, ... and the sums (loss in float64, the task's
        sums (hits; errors and target moments), count) are all-reduced."""
        import torch

        if len(y) == 0:
            return super().measure(net, x, y, task, loss_name)
        xs, ys = x.strided(self.rank, self.world), y[self.rank :: self.world]
        sums = torch.zeros(2 + task.sums_size, dtype=torch.float64, device=y.device)
        if len(ys):
            scores = scores_of(net, xs)
            sums[0] = float(task.loss(loss_name)(scores, ys)) * len(ys)
            sums[1:-1] = task.sums(scores, ys)
            sums[-1] = len(ys)
        loss_sum, *rest, seen = self.reduce(sums).tolist()
        return {"loss": loss_sum / seen, **task.reduce(rest, seen)}

    def any(self, flag: bool) -> bool:
        import torch

        device = _collective_device()
        return bool(self.reduce(torch.tensor([float(flag)], device=device)).item() > 0)

    def from_main(self, make: Callable[[], Any]) -> Any:
        """An error on rank 0 ends the others with `Follower`, quietly: rank 0 reports it."""
        payload: dict[str, Any]
        failure: BaseException | None = None
        if self.rank == 0:
            try:
                payload = {"value": make()}
            except DlcliError as exc:
                payload, failure = {"error": exc.exit_code}, exc
            except BaseException as exc:
                payload, failure = {"error": 1}, exc
            _broadcast_bytes(json.dumps(payload).encode())
            if failure is not None:
                raise failure
            return payload["value"]
        payload = json.loads(_broadcast_bytes(None))
        if "error" in payload:
            raise Follower(payload["error"])
        return payload["value"]

    def finishing(self) -> None:
        """Let no second SIGTERM from torchrun cut short the checkpoint and the one line."""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def lost(self, exc: BaseException) -> bool:
        import torch.distributed as dist

        if isinstance(exc, getattr(dist, "DistError", ())):
            return True
        text = str(exc).lower()
        return any(s in text for s in ("gloo", "nccl", "connection", "timed out", "timeout"))

    def end(self) -> None:
        """Every rank waits for the others (a rank that left while a peer was still in a
        collective made gloo fail that peer), then leaves the group. The command line then
        ends the process through `leave` (see there why)."""
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()  # the last collective
        teardown()


def _collective_device() -> torch.device:
    import torch
    import torch.distributed as dist

    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _broadcast_bytes(data: bytes | None) -> bytes:
    """Rank 0's bytes to every rank (length first, then the bytes as a uint8 tensor)."""
    import torch
    import torch.distributed as dist

    device = _collective_device()
    size = torch.tensor([len(data) if data is not None else 0], dtype=torch.int64, device=device)
    dist.broadcast(size, 0)
    if data is not None:
        buffer = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(device)
    else:
        buffer = torch.empty(int(size.item()), dtype=torch.uint8, device=device)
    dist.broadcast(buffer, 0)
    return buffer.cpu().numpy().tobytes() if data is None else data


def lost_failure(exc: BaseException, folder: Any) -> RunFailure:
    """The one line for a lost rank."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    first = re.sub(r"^\[[^\]]*\] ", "", first)  # gloo's [source:line] prefix
    if len(first) > 120:  # a long first line: cut at a word, and say so
        first = first[:120].rsplit(" ", 1)[0].rstrip(" ,;:") + " ..."
    return RunFailure(
        f"a rank of the data-parallel run was lost ({first}); the checkpoint is saved: "
        f"continue with --resume {folder}"
    )
