"""Callbacks, Keras style: what happens around an epoch, so that the loop has no branch for it.

`Callback` is the public interface (`dlcli.Callback`): the CLI's progress, `--animate`,
`--tensorboard` and a library caller's hooks implement it. The loop itself brings three that
keep the run (rank 0's and every rank's alike):

    History        records the epoch's row in the `TrainState` (history.csv's rows) and tells
                   the callbacks after it whether the validation loss improved
    EarlyStopping  --patience: keeps the best epoch's weights, stops when patience runs out
    Checkpointing  snapshots the state every epoch (cheap, in memory) and writes it at most every
                   CHECKPOINT_SECONDS, always at the end (`flush`)

With --log-grads `GradNorms` (grads.py) comes first: it adds the row's grad_norm columns.
`CallbackList` calls them in that order, then the caller's, so that the checkpoint holds an
epoch before any caller's hook runs (a Ctrl-C in a progress bar saves the epoch just shown).
They share one `Keep`: the `TrainState` and the best weights, what a checkpoint holds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli.training.runs import checkpoint

if TYPE_CHECKING:
    import torch
    from torch import nn

    from dlcli.training.engine.strategy import Strategy
    from dlcli.training.runs.checkpoint import Tensors, TrainState

CHECKPOINT_SECONDS = 1.0  # the longest a finished epoch waits in memory before it is on disk


class Callback:
    """Progress hooks, Keras style: the loop calls them, the CLI (or any caller) implements them.
    All are optional; `epoch` counts from 0.

        on_train_begin(info)         model, params, device, out, epochs, first_epoch, batches,
                                     n_train, n_val, n_test, input_shape, classes, layers, notes
        on_epoch_begin(epoch, logs)  batches, epochs
        on_batch_end(batch, logs)    batch (from 1), batches, loss (called only if overridden)
        on_gradients(batch)          after backward, before the optimizer step: the gradients
                                     as the step uses them (called only if overridden)
        on_epoch_end(epoch, logs)    the history row (epoch, loss, accuracy, val_loss,
                                     val_accuracy, seconds), epochs, improved
        on_train_end(logs)           the result: `RunResult.to_dict()`

    Before `on_train_begin` the loop sets `self.model` to the network being trained (Keras
    style), for callbacks that look at it (`--animate` draws its decision regions).

    To stop training, a hook sets `self.stop_training = True`. The loop looks after each epoch
    (after `on_epoch_end`): it saves the checkpoint and finishes normally with the epochs done
    (weights, metrics, `on_train_end`; the result's `epochs` counts them). The run stays
    resumable: `resume` trains on to its epoch total. The loop sets the flag back to False when
    training begins. (`stopped_early` in the result means --patience ran out, not this.)
    """

    stop_training: bool = False
    model: Any = None  # the network being trained (set by the loop before on_train_begin)

    def on_train_begin(self, info: dict[str, Any]) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None: ...
    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None: ...
    def on_gradients(self, batch: int) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None: ...
    def on_train_end(self, logs: dict[str, Any]) -> None: ...


@dataclass
class Keep:
    """What a checkpoint holds beside the model and optimizer: the loop's state between epochs
    and, with --patience, the best epoch's weights."""

    state: TrainState
    best: Tensors | None = None


class History(Callback):
    """Each epoch's row goes into the state's history (a copy: rows never change once kept);
    the callbacks after it see `epochs` and `improved` (the validation loss is the best yet)."""

    def __init__(self, keep: Keep, epochs: int, patience: int) -> None:
        self.keep, self.epochs, self.patience = keep, epochs, patience

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        improved = self.keep.state.record(dict(logs), self.patience)
        logs |= {"epochs": self.epochs, "improved": improved}


class EarlyStopping(Callback):
    """--patience: keep the weights of the epoch with the best validation loss (restored before
    the run is scored) and stop once `patience` epochs in a row brought no better one (the
    count is the state's: `TrainState.record`, so that a resumed run counts on)."""

    def __init__(self, keep: Keep) -> None:
        self.keep = keep

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if logs["improved"]:
            self.keep.best = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.stop_training = self.keep.state.stopped_early


class Checkpointing(Callback):
    """Every epoch ends with a snapshot of the state in memory (cheap); it goes to disk at most
    every CHECKPOINT_SECONDS, and always at the end of training and on Ctrl-C (`flush`), so that
    small fast epochs do not pay a file write each (a hard kill loses at most those seconds).
    Under DDP rank 0 alone has one."""

    def __init__(
        self, folder: Path, keep: Keep, opt: torch.optim.Optimizer, device: torch.device
    ) -> None:
        self.folder, self.keep, self.opt, self.device = folder, keep, opt, device
        self.pending: tuple[dict, dict] | None = None  # (tensors, metadata) not yet on disk
        self.last_write = time.perf_counter()

    def on_train_begin(self, info: dict[str, Any]) -> None:
        self.last_write = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        keep = self.keep
        self.pending = checkpoint.capture(self.model, self.opt, keep.best, keep.state, self.device)
        if time.perf_counter() - self.last_write >= CHECKPOINT_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the snapshot now, if one is waiting (the end of training, Ctrl-C)."""
        if self.pending is not None:
            checkpoint.save(self.folder, *self.pending)
            self.pending, self.last_write = None, time.perf_counter()


class CallbackList:
    """The run's callbacks, called in order (the loop's own first); the loop talks to this."""

    def __init__(self, callbacks: Sequence[Callback], strategy: Strategy) -> None:
        self.callbacks, self.strategy = list(callbacks), strategy
        # on_batch_end only where overridden: logging a batch's loss costs a device sync
        self.batch_hooks = [cb for cb in self.callbacks if _overrides(cb, "on_batch_end")]
        self.grad_hooks = [cb for cb in self.callbacks if _overrides(cb, "on_gradients")]
        self.saver = next((cb for cb in self.callbacks if isinstance(cb, Checkpointing)), None)

    def on_train_begin(self, info: dict[str, Any], model: nn.Module) -> None:
        """Reset the stop flags, hand each callback the model, and call `on_train_begin`."""
        for cb in self.callbacks:
            cb.stop_training = False
            cb.model = model  # Keras style: a callback may look at the model (e.g. --animate)
            cb.on_train_begin(info)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_batch_end(self, batch: int, batches: int, loss: torch.Tensor) -> None:
        """`on_batch_end` of the callbacks that override it; the loss becomes a number (a
        device sync) only for them."""
        if self.batch_hooks:
            logs = {"batch": batch + 1, "batches": batches, "loss": float(loss.detach())}
            for cb in self.batch_hooks:
                cb.on_batch_end(batch, logs)

    def on_gradients(self, batch: int) -> None:
        for cb in self.grad_hooks:
            cb.on_gradients(batch)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def stop_training(self) -> bool:
        """A callback asked to stop (on any rank: every rank stops)."""
        return self.strategy.any(any(cb.stop_training for cb in self.callbacks))

    def flush(self) -> None:
        """The checkpoint's last snapshot to disk (training ended, or was interrupted)."""
        if self.saver is not None:
            self.saver.flush()

    def on_train_end(self, logs: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_train_end(logs)


def _overrides(cb: Callback, hook: str) -> bool:
    return getattr(type(cb), hook, None) is not getattr(Callback, hook)
