"""`Strategy`: what data parallelism asks of the loop, behind one object with a few verbs.

Lightning's idea: the loop calls the verbs and never `torch.distributed`, and has no branch on
whether it runs alone. This module's `Strategy` is one process, where every verb is the identity
(the loop runs as it would without any of this, bit for bit); `distributed.DDP` is the same
verbs under torchrun, and `distributed.setup` picks one.

    rank, world, is_main    who this process is: rank 0 alone calls the callbacks, checkpoints
                            and writes the run folder; the others receive its result
    prepare(net)            the model before its optimizer is made (DDP on CUDA: SyncBatchNorm)
    wrap(net, device)       the module that trains (DDP: DistributedDataParallel)
    epoch_order(...)        the sampler: the epoch's seeded permutation, and where this rank's
                            share of each global batch lies in it (`--batch-size` is global)
    reduce(sums)            epoch totals (loss sums, hits, counts) summed over ranks
    measure(net, x, y, ...) a split's loss and metrics (DDP: scored in shares, sums reduced)
    any(flag)               a stop request seen by rank 0's callbacks stops every rank
    from_main(make)         `make()` on rank 0, its JSON-able result on every rank
    finishing()             the run is ending: a second SIGTERM may not cut the save short
    lost(exc)               a collective failed because a rank died or timed out
    end()                   every rank has the result: leave the process group together

Why the shares make the gradient exact: DDP averages gradients over the W ranks. Rank r sees
n_r of a global batch of L examples and scales its mean loss by n_r * W / L (`Share.weight`), so
the average is (1/L) * sum of per-example gradients: the one-process full-batch mean, also for
unequal shares (an odd batch) and a short last batch. A last batch with fewer examples than
ranks is computed whole by every rank (weight 1: the same mean gradient W times) and counted by
rank 0 alone. torch is imported inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dlcli.training.engine.metrics import measure

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch
    from torch import nn

    from dlcli.training.engine.batches import Inputs
    from dlcli.training.engine.tasks import Task


@dataclass(frozen=True)
class Share:
    """This rank's part of one global batch: rows [start, stop) of the rank's epoch order."""

    start: int
    stop: int
    count: int  # examples this rank counts in the epoch's metrics
    weight: float | None  # loss scale (None: 1, the one-process case)


def shares_of(
    order: torch.Tensor, batch_size: int, rank: int, world: int
) -> tuple[torch.Tensor, list[Share]]:
    """This rank's rows of the epoch's permutation `order`, and where each global batch's share
    lies in them: rank r takes rows r, r+W, ... of each global batch. One process: `order`
    itself, batches of `batch_size`."""
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


class Strategy:
    """One process: the verbs of the module docstring, each the identity."""

    rank, world = 0, 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def prepare(self, net: nn.Module) -> nn.Module:
        return net

    def wrap(self, net: nn.Module, device: torch.device) -> nn.Module:
        return net

    def seed_epoch(self, seed: int, epoch: int) -> None:
        """Seed this rank's dropout/augmentation stream for the epoch (one process: untouched)."""

    def epoch_order(
        self, n: int, batch_size: int, seed: int, epoch: int, device: torch.device
    ) -> tuple[torch.Tensor, list[Share]]:
        """A fresh permutation per epoch from (seed, epoch) alone, so a resumed run shuffles
        alike, and where each batch lies in it. Every rank draws the same permutation and keeps
        its share of each global batch."""
        import torch

        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        self.seed_epoch(seed, epoch)
        order, shares = shares_of(torch.randperm(n, generator=g), batch_size, self.rank, self.world)
        return order.to(device), shares

    def reduce(self, sums: torch.Tensor) -> torch.Tensor:
        """Sum a tensor of totals over ranks (in place; returned)."""
        return sums

    def measure(
        self, net: nn.Module, x: Inputs, y: torch.Tensor, task: Task, loss_name: str
    ) -> dict[str, float | None]:
        """A split's loss and the task's metrics (`metrics.measure`)."""
        return measure(net, x, y, task, loss_name)

    def any(self, flag: bool) -> bool:
        """True on every rank if it is true on any."""
        return flag

    def from_main(self, make: Callable[[], Any]) -> Any:
        """`make()` on rank 0, its JSON-able result sent to every rank."""
        return make()

    def finishing(self) -> None:
        """The run is ending (Ctrl-C, SIGTERM, a lost rank)."""

    def lost(self, exc: BaseException) -> bool:
        """Whether `exc` is a collective that failed because a rank died or timed out."""
        return False

    def end(self) -> None:
        """Every rank has the run's result: leave together."""
