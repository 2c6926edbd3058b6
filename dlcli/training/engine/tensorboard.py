"""`TensorBoard`: a training callback that writes RUN/tensorboard/ event files (`--tensorboard`).

    RUN/tensorboard/train/        loss, accuracy, lr, grad_norm, seconds   (one point per epoch)
    RUN/tensorboard/validation/   loss, accuracy

Steps are the epochs as history.csv numbers them (from 1), and the values are history.csv's, so
`tensorboard --logdir runs/` draws the curves of every run with train and validation on one
chart (Keras' layout: one sub-run per split, the same tags). `lr` is the learning rate of the
epoch's last optimizer step (`TrainConfig.lr_at`, the schedule the loop follows); `grad_norm` is
the mean over the epoch's steps of the global L2 norm of the gradients (after the backward pass,
unscaled: the loop's optimizer step unscales float16 gradients in place). Any other number in
the epoch's row (a column the loop may log later) is written under its own name.

A resumed run appends to the same folders; the points of epochs that the interruption lost are
purged (`purge_step`), so every epoch appears once. The `tensorboard` package is an optional
extra: `require()` names it in one line before training starts. Like every callback it never
prints; the loop stays silent.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

from dlcli.errors import InputError
from dlcli.training.engine.callbacks import Callback

FOLDER = "tensorboard"  # inside the run folder
SPLITS = {"train": "", "validation": "val_"}  # sub-run -> prefix of its history.csv columns
NOT_SCALARS = ("epoch", "epochs", "improved")


def require() -> None:
    """InputError (one line, naming the extra) when the tensorboard package is missing."""
    if importlib.util.find_spec("tensorboard") is None:
        raise InputError(
            "--tensorboard needs the 'tensorboard' package: pip install 'dlcli[tensorboard]'"
        )


class TensorBoard(Callback):
    """Event files for TensorBoard, one point per epoch (see the module docstring)."""

    def __init__(self) -> None:
        require()
        self.writers: dict[str, Any] = {}
        self.norms: list[Any] = []  # this epoch's gradient norms (tensors: no sync per step)

    def on_train_begin(self, info: dict[str, Any]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        from dlcli.training.runs.spec import read_spec

        self.close()
        folder = Path(info["out"])
        self.train_config = read_spec(folder)[0].train
        self.batches = int(info["batches"])
        first = int(info.get("first_epoch") or 0)
        purge = first + 1 if first else None  # a resumed run: drop what the last one logged
        self.writers = {
            split: SummaryWriter(str(folder / FOLDER / split), purge_step=purge) for split in SPLITS
        }

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        self.norms = []

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        import torch

        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        if grads:
            self.norms.append(torch.linalg.vector_norm(torch.stack(_norms(grads))).detach())

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        import torch

        step = int(logs.get("epoch", epoch + 1))
        scalars: dict[str, dict[str, float]] = {"train": {}, "validation": {}}
        for key, value in logs.items():
            if key in NOT_SCALARS or not isinstance(value, int | float) or value is None:
                continue
            if key.startswith("val_"):
                scalars["validation"][key[4:]] = value
            else:
                scalars["train"][key] = value
        total = self.train_config.epochs * self.batches
        scalars["train"]["lr"] = self.train_config.lr_at(step * self.batches - 1, total)
        if self.norms:
            scalars["train"]["grad_norm"] = float(torch.stack(self.norms).mean())
        for split, values in scalars.items():
            writer = self.writers[split]
            for name, value in values.items():
                if isinstance(value, bool) or not math.isfinite(float(value)):
                    continue
                writer.add_scalar(name, float(value), step)
            writer.flush()

    def on_train_end(self, logs: dict[str, Any]) -> None:
        self.close()

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers = {}


def _norms(grads: list[Any]) -> list[Any]:
    import torch

    return [torch.linalg.vector_norm(g.detach().float()) for g in grads]
