"""`Run`, one run being trained (what the set-up hands the loop), and `RunResult`, its outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli.training.engine.batches import Inputs, inputs_for
from dlcli.training.engine.tasks import REGRESSION_METRICS

if TYPE_CHECKING:
    import numpy as np
    import torch

    from dlcli.training.data import Dataset, Rows
    from dlcli.training.engine.callbacks import Callback
    from dlcli.training.engine.strategy import Strategy
    from dlcli.training.engine.tasks import Task
    from dlcli.training.runs.spec import Prepared, RunSpec


@dataclass
class Run:
    """One run being trained: what `fit` and its helpers share."""

    folder: Path
    spec: RunSpec  # the run's config, written to folder/config.json
    dataset: Dataset  # as loaded (the decision-region plot draws its points)
    data: Prepared  # the split, preprocessed
    device: torch.device
    strategy: Strategy  # one process, or this rank's share of a data-parallel run
    callbacks: Sequence[Callback]  # the caller's (rank 0's alone)
    start: float  # time.perf_counter() when the command began

    @property
    def task(self) -> Task:
        """Classification or regression (engine/tasks.py), with the fitted target statistics."""
        return self.spec.task

    @property
    def batches(self) -> int:
        """Batches per epoch (the last one may be short)."""
        return -(-len(self.data.y_train) // self.spec.train.batch_size)  # ceil

    def on_device(self, x: np.ndarray | Rows, y: np.ndarray) -> tuple[Inputs, torch.Tensor]:
        """A prepared split -> (its inputs, labels on the run's device): preprocessed splits live
        on the device whole, stored ones (uint8 pixels, memory maps) are gathered per batch."""
        import torch

        return inputs_for(self.spec, x, self.device), torch.from_numpy(y).to(self.device)


@dataclass
class RunResult:
    """The outcome of a run; `to_dict()` is the `--json` document (and metrics.json)."""

    model: str
    data: str
    epochs: int
    best_epoch: int
    stopped_early: bool
    train_loss: float
    train_accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    test_loss: float | None
    test_accuracy: float | None
    params: int
    weight_norm: float  # L2 norm of the weights (parameters with ndim >= 2) at the end
    seconds: float
    out: str
    device: str
    n_train: int
    n_val: int
    n_test: int
    classes: list[str] = field(default_factory=list)
    data_info: dict[str, Any] = field(default_factory=dict)  # e.g. vocabulary, coverage
    task: str = "classification"  # or "regression" (then the keys below; accuracies None)
    targets: list[str] | None = None  # regression: the target names
    # regression: in the targets' original units (tasks.Regression); train: as it trained
    train_mse: float | None = None
    train_rmse: float | None = None
    train_mae: float | None = None
    train_r2: float | None = None
    val_mse: float | None = None
    val_rmse: float | None = None
    val_mae: float | None = None
    val_r2: float | None = None
    test_mse: float | None = None
    test_rmse: float | None = None
    test_mae: float | None = None
    test_r2: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The --json document; a classification run's has no regression keys."""
        document = asdict(self)
        if self.task == "classification":
            for key in REGRESSION_KEYS:
                document.pop(key)
        return document


REGRESSION_KEYS = (
    "targets",
    *(f"{split}_{m}" for split in ("train", "val", "test") for m in REGRESSION_METRICS),
)
