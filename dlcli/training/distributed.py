"""Data-parallel training under torchrun: DistributedDataParallel, gloo on CPU, NCCL on CUDA.

    torchrun --nproc-per-node 2 -m dlcli train cnn --batch-size 64 ...
    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29400 \
        -m dlcli train resnet ...

torchrun starts one process per rank and sets WORLD_SIZE, RANK, LOCAL_RANK (and the
rendezvous) in their environment; `setup` joins the process group from them. With one process
(no torchrun, or WORLD_SIZE 1) every function here is a no-op and the loop runs as before, bit
for bit. What the loop asks of this module:

    setup(device)        join the group (CUDA: this rank's local GPU); the rank's device
    seed_epoch, shares   every rank computes the same seeded permutation of the epoch, then
                         takes a strided share of each global batch (`--batch-size` is global)
    wrap(net)            DistributedDataParallel (SyncBatchNorm on CUDA); gradients are
                         averaged over ranks, so each rank scales its loss by its share
    all_reduce_sums      epoch totals (loss sums, hits, counts): exact whole-set metrics
    measure              a split scored in shares, sums all-reduced (per-epoch validation)
    is_main, from_main   rank 0 alone prints, writes and checkpoints; others receive results
    any_rank             a stop request seen by rank 0's callbacks stops every rank
    peer_lost            a collective failed because a rank died or timed out
    teardown, leave      leave the group once, after the last collective; end the rank's
                         process (`leave`, from the command line: why os._exit, see there)

Why the shares make the gradient exact: DDP averages gradients over the W ranks. Rank r sees
n_r of a global batch of L examples and scales its mean loss by n_r * W / L, so the average is
(1/L) * sum of per-example gradients: the one-process full-batch mean, also for unequal shares
(an odd batch) and a short last batch. A last batch with fewer examples than ranks is computed
whole by every rank (weight 1: the same mean gradient W times) and counted by rank 0 alone.

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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dlcli import interrupts
from dlcli.errors import DlcliError, InputError, RunFailure

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch
    from torch import nn

    from dlcli.training.batches import Inputs

TIMEOUT_SECONDS = 300.0  # default wait of a collective for a dead or stuck rank


@dataclass(frozen=True)
class Share:
    """This rank's part of one global batch: rows [start, stop) of the rank's epoch order."""

    start: int
    stop: int
    count: int  # examples this rank counts in the epoch's metrics
    weight: float | None  # loss scale (None: 1, the one-process case)


class Follower(DlcliError):
    """A non-main rank ends with rank 0's error; rank 0 prints it, this rank prints nothing."""

    def __init__(self, exit_code: int) -> None:
        super().__init__("")
        self.exit_code = exit_code


_rank, _world = 0, 1
_joined = False  # this process joined a process group (it is a rank under torchrun)


def launched() -> bool:
    """Started by torchrun (or any launcher setting WORLD_SIZE) with more than one rank."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def rank() -> int:
    return _rank if _world > 1 else int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return _world


def local_world_size() -> int:
    """Ranks on this machine (torchrun's LOCAL_WORLD_SIZE): they share its cores."""
    return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def launched_as_main() -> bool:
    """Before `setup`: whether this process will be rank 0 (torchrun's RANK; one process: yes)."""
    return os.environ.get("RANK", "0") == "0"


def is_main() -> bool:
    return rank() == 0


def setup(device_name: str) -> torch.device:
    """The rank's device; under torchrun also join the process group (once per process)."""
    import torch
    import torch.distributed as dist

    from dlcli.training.device import resolve_device

    global _rank, _world
    device = resolve_device(device_name)
    if not launched():
        return device
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
    _rank, _world = dist.get_rank(), dist.get_world_size()
    return device


def finishing() -> None:
    """The run is ending (Ctrl-C, SIGTERM, a lost rank): let no second SIGTERM from torchrun
    cut short the checkpoint and the one line being written."""
    if _world > 1:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def teardown(sync: bool = False) -> None:
    """Leave the process group, once: `sync` at the end of a run (every rank waits for the
    others first: a rank that left while a peer was still in a collective made gloo fail that
    peer), else (atexit, or `leave`, after a failure or a signal) at once. The command line
    then ends the process through `leave` (see there why)."""
    global _rank, _world
    if _world > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            if sync:
                dist.barrier()  # the last collective
            dist.destroy_process_group()
    _rank, _world = 0, 1


def leave(code: int) -> None:
    """End a rank's process with `code` (the command line's last act under torchrun): leave the
    group if a failure left it joined, flush stdout and stderr, and `os._exit`.

    Why not a normal exit: DDP's reducer keeps the ProcessGroupGloo alive after
    `destroy_process_group` (a C++ reference no collection frees: its two worker threads and
    gloo's tcp loop are still running after `teardown`, tests/test_processes.py counts them), and
    a normal exit runs the interpreter's finalization and the C++ static destructors while those
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


# --- the epoch's shares ---------------------------------------------------------------------------


def seed_epoch(seed: int, epoch: int) -> None:
    """Under DDP: seed each rank's dropout/augmentation stream from (seed, epoch, rank), so ranks
    draw different masks and a resumed run draws the same ones (one process: untouched)."""
    if _world > 1:
        import torch

        torch.manual_seed((seed * 1_000_003 + epoch) * 4099 + _rank)


def shares(order: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, list[Share]]:
    """This rank's rows of the epoch's permutation `order`, and where each global batch's share
    lies in them. One process: `order` itself, batches of `batch_size`."""
    return shares_of(order, batch_size, _rank, _world)


def shares_of(
    order: torch.Tensor, batch_size: int, rank: int, world: int
) -> tuple[torch.Tensor, list[Share]]:
    """`shares` for any (rank, world): rank r takes rows r, r+W, ... of each global batch."""
    import torch

    n = len(order)
    parts, out, at = [], [], 0
    for lo in range(0, n, batch_size):
        batch = order[lo : lo + batch_size]
        size = len(batch)
        if world == 1:
            part, count, weight = batch, size, None
        elif size < world:  # fewer examples than ranks: all compute it, rank 0 counts it
            part, count, weight = batch, size if rank == 0 else 0, 1.0
        else:
            part = batch[rank::world]
            count, weight = len(part), len(part) * world / size
        parts.append(part)
        out.append(Share(at, at + len(part), count, weight))
        at += len(part)
    return (torch.cat(parts) if parts and world > 1 else order), out


# --- the model and the collectives ----------------------------------------------------------------


def sync_batchnorm(net: nn.Module) -> nn.Module:
    """Under DDP on CUDA: BatchNorm -> SyncBatchNorm (GPU only in PyTorch; see the docstring)."""
    if _world > 1 and next(net.parameters()).device.type == "cuda":
        import torch

        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
    return net


def wrap(net: nn.Module, device: torch.device) -> nn.Module:
    """The module to train with: DistributedDataParallel under torchrun, else `net` itself."""
    if _world == 1:
        return net
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(net, device_ids=ids)


def all_reduce_sums(sums: torch.Tensor) -> torch.Tensor:
    """Sum a tensor of totals over ranks (in place; returned)."""
    if _world > 1:
        import torch.distributed as dist

        dist.all_reduce(sums)
    return sums


def any_rank(flag: bool) -> bool:
    """True on every rank if it is true on any (a stop request of rank 0's callbacks)."""
    if _world == 1:
        return flag
    import torch

    device = _collective_device()
    return bool(all_reduce_sums(torch.tensor([float(flag)], device=device)).item() > 0)


def measure(net: nn.Module, x: Inputs, y: torch.Tensor, loss_name: str):
    """(mean loss, accuracy) of a split: one process, `metrics.measure`; under DDP each rank
    scores rows rank, rank+W, ... and the sums (loss in float64, hits, count) are all-reduced."""
    import torch

    from dlcli.training.metrics import loss_function, scores_of
    from dlcli.training.metrics import measure as whole

    if _world == 1 or len(y) == 0:
        return whole(net, x, y, loss_name)
    xs, ys = x.strided(_rank, _world), y[_rank::_world]
    sums = torch.zeros(3, dtype=torch.float64, device=y.device)
    if len(ys):
        scores = scores_of(net, xs)
        sums[0] = float(loss_function(loss_name)(scores, ys)) * len(ys)
        sums[1] = float((scores.argmax(1) == ys).sum())
        sums[2] = len(ys)
    loss_sum, hits, seen = all_reduce_sums(sums).tolist()
    return loss_sum / seen, hits / seen


def from_main(make: Callable[[], Any]) -> Any:
    """`make()` on rank 0, its JSON-able result sent to every rank (an error on rank 0 ends the
    others with `Follower`, quietly: rank 0 reports it)."""
    if _world == 1:
        return make()
    payload: dict[str, Any]
    failure: BaseException | None = None
    if _rank == 0:
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


def peer_lost(exc: BaseException) -> bool:
    """A collective failed under DDP: a rank died, or did not answer within the timeout."""
    if _world == 1:
        return False
    import torch.distributed as dist

    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc).lower()
    return any(s in text for s in ("gloo", "nccl", "connection", "timed out", "timeout"))


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
