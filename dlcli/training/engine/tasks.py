"""What a run learns, classification or regression: the one place that knows the task.

    Classification(num_classes)      class scores (B, C), labels int64 (B,), accuracy
    Regression(names, mean, std)     one output per target (B, T), no softmax; targets float32
                                     (B, T) standardised by the training split's mean and std;
                                     MSE, RMSE, MAE and R² in the targets' original units
    task_for(loss, classes, targets) a run's task (its --loss decides: `REGRESSION_LOSSES`);
                                     `RunSpec.task` builds it from config.json
    adapt(dataset, loss)             a loaded dataset as the task needs it, or one clear line
    higher_is_better(metric)         the sort direction of compare and sweeps (R², accuracy)

The loop, `finish`, `evaluate`, `predict`, `compare` and sweeps ask the task for the loss
function, the output size, the per-batch sums that reduce to a split's metrics (the same sums
under DDP, all-reduced), the metric names (history columns, table columns) and the predictions.
Pure Python at import; torch and numpy inside the methods.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError
from dlcli.training.config import REGRESSION_LOSSES

if TYPE_CHECKING:
    import numpy as np
    import torch

    from dlcli.training.data import Dataset

REGRESSION_METRICS = ("mse", "rmse", "mae", "r2")
RESIDUAL_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
# sort direction for compare/sweeps: these are better when higher, every other metric lower
HIGHER_IS_BETTER = ("accuracy", "r2")


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of `metric` (e.g. 'test_r2', 'val_accuracy') is the better one."""
    return metric.rsplit("_", 1)[-1] in HIGHER_IS_BETTER


def multiclass_hinge(scores: torch.Tensor, y: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """The multiclass SVM loss of the lesson: mean_i sum_{j != y_i} max(0, s_j - s_{y_i} + margin).

    (PyTorch's multi_margin_loss divides this sum by the number of classes.)
    """
    correct = scores.gather(1, y[:, None])  # (B, 1)
    margins = (scores - correct + margin).clamp_min(0.0)  # (B, C)
    return margins.scatter(1, y[:, None], 0.0).sum(dim=1).mean()


def accuracy(scores: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of correct predictions, as the float64 nearest to correct / n (a float32
    mean would print as 0.9720670580863953 beside the exact 0.9720670391061452)."""
    return int((scores.argmax(1) == y).sum()) / len(y)


@dataclass(frozen=True)
class Classification:
    """Class scores (B, C) against int64 labels; the metric is accuracy."""

    num_classes: int
    name: str = "classification"
    metrics: tuple[str, ...] = ("accuracy",)

    @property
    def outputs(self) -> int:
        return self.num_classes

    sums_size = 1  # the length of `sums`

    def loss(self, loss: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """'cross-entropy' or 'hinge' -> loss(scores (B, C), y (B,)) -> scalar tensor."""
        import torch.nn.functional as F

        return F.cross_entropy if loss == "cross-entropy" else multiclass_hinge

    def sums(self, scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(1,) float64: the correct predictions of a batch (summed over batches and ranks)."""
        return (scores.argmax(1) == y).sum().double().reshape(1)

    def reduce(self, sums: Sequence[float], n: float) -> dict[str, float | None]:
        return {"accuracy": sums[0] / n if n else None}

    def split_metrics(self, scores: torch.Tensor, y: torch.Tensor) -> dict[str, float | None]:
        """A whole split's metrics (the float64 nearest to correct / n: `accuracy`)."""
        return {"accuracy": accuracy(scores, y)}

    def encode(self, y: np.ndarray) -> np.ndarray:
        return y

    def adapt(self, dataset: Dataset, loss: str) -> Dataset:
        """Refuse targets that are not class labels: several target columns, or numbers with
        fractions (a measurement, not a class), naming the regression loss."""
        if dataset.target_names and not dataset.class_names:
            raise InputError(
                f"{dataset.name}: --loss {loss} needs one column of class labels; the targets "
                f"({', '.join(dataset.target_names[:5])}) are numbers: for regression use "
                "--loss mse (or mae, huber)"
            )
        fractions = [n for n in dataset.class_names if _fraction(n)]
        if fractions:
            raise InputError(
                f"{dataset.name}: the target is not a class label: it holds numbers such as "
                f"{fractions[0]} ({len(dataset.class_names)} distinct values), which --loss "
                f"{loss} would treat as classes; for regression use --loss mse (or mae, huber)"
            )
        if dataset.num_classes < 2:
            only = f" ('{dataset.class_names[0]}')" if dataset.class_names else ""
            raise InputError(
                f"{dataset.name}: every sample has the same label{only}; "
                "a classifier needs at least 2 classes"
            )
        return dataset


def _number(text: str) -> float | None:
    """A label as a number, or None for text."""
    try:
        return float(text)
    except ValueError:
        return None


def _fraction(text: str) -> bool:
    """Whether a label is a number with a fraction ('0.25'; '3' and '3.0' are classes)."""
    value = _number(text)
    return value is not None and math.isfinite(value) and not value.is_integer()


@dataclass(frozen=True)
class Regression:
    """One output per target; the model learns standardised targets, metrics and predictions
    are in original units (`mean`, `std`: the training split's, per target)."""

    names: tuple[str, ...]
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    name: str = "regression"
    metrics: tuple[str, ...] = REGRESSION_METRICS
    huber_delta: float = field(default=1.0)  # in standard deviations of the target

    @property
    def outputs(self) -> int:
        return len(self.names)

    @property
    def sums_size(self) -> int:
        """The length of `sums`: four per target."""
        return 4 * self.outputs

    def loss(self, loss: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """'mse', 'mae' or 'huber' -> loss(outputs (B, T), standardised y (B, T)) -> scalar."""
        import functools

        import torch.nn.functional as F

        if loss == "mae":
            return F.l1_loss
        if loss == "huber":
            return functools.partial(F.huber_loss, delta=self.huber_delta)
        return F.mse_loss

    def sums(self, scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(4T,) float64, standardised units: per target the squared and absolute errors, and
        the sums of y and y² (for R²'s total sum of squares), summed over batches and ranks."""
        import torch

        out, y = scores.detach().double(), y.double()
        err = out - y  # (B, T)
        return torch.cat([(err * err).sum(0), err.abs().sum(0), y.sum(0), (y * y).sum(0)])

    def reduce(self, sums: Sequence[float], n: float) -> dict[str, float | None]:
        """MSE, RMSE, MAE (over every sample and target) in original units, and R² = 1 - SSE/SST
        per target about its own mean on the split, averaged uniformly over targets."""
        t = self.outputs
        if not n:
            return dict.fromkeys(self.metrics)
        sse, sae, sy, syy = (sums[i * t : (i + 1) * t] for i in range(4))
        std = self.std or (1.0,) * t
        mse = sum(e * s * s for e, s in zip(sse, std, strict=True)) / (n * t)
        mae = sum(a * s for a, s in zip(sae, std, strict=True)) / (n * t)
        sst = [q - m * m / n for m, q in zip(sy, syy, strict=True)]
        r2 = (
            sum(1.0 - e / v for e, v in zip(sse, sst, strict=True)) / t
            if n > 1 and all(v > 0 for v in sst)
            else None  # a constant target (or one sample): R² is undefined
        )
        return {"mse": mse, "rmse": math.sqrt(mse), "mae": mae, "r2": r2}

    def split_metrics(self, scores: torch.Tensor, y: torch.Tensor) -> dict[str, float | None]:
        return self.reduce(self.sums(scores, y).tolist(), len(y))

    def encode(self, y: np.ndarray) -> np.ndarray:
        """Targets (N, T) in original units -> standardised float32 (what the model learns)."""
        import numpy as np

        mean = np.asarray(self.mean, dtype=np.float64)
        std = np.asarray(self.std, dtype=np.float64)
        return ((y - mean) / std).astype(np.float32)

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        """Model outputs (N, T) -> predictions in original units (float64)."""
        import numpy as np

        out = np.asarray(outputs, dtype=np.float64)
        return out * np.asarray(self.std) + np.asarray(self.mean)

    def residuals(self, predicted: np.ndarray, y: np.ndarray) -> list[dict[str, Any]]:
        """Per target, statistics of the residuals y - predicted (original units): mean, std,
        min, max and the 5/25/50/75/95 % quantiles (numpy's linear interpolation)."""
        import numpy as np

        res = np.asarray(y, np.float64) - np.asarray(predicted, np.float64)  # (N, T)
        rows = []
        for t, name in enumerate(self.names):
            r = res[:, t]
            q = np.quantile(r, RESIDUAL_QUANTILES) if len(r) else [None] * 5
            row: dict[str, Any] = {"target": name}
            row |= dict.fromkeys(("mean", "std", "min", "max"))
            if len(r):
                row |= {"mean": r.mean(), "std": r.std(), "min": r.min(), "max": r.max()}
            row |= {f"q{round(p * 100):02d}": v for p, v in zip(RESIDUAL_QUANTILES, q, strict=True)}
            rows.append({k: (None if v is None else float(v)) if k != "target" else v
                         for k, v in row.items()})  # fmt: skip
        return rows

    def fitted(self, y_train: np.ndarray) -> Regression:
        """This task with the training targets' mean and std (a constant target: std 1)."""
        import numpy as np

        y = np.asarray(y_train, dtype=np.float64)
        mean = y.mean(0) if len(y) else np.zeros(self.outputs)
        std = y.std(0) if len(y) else np.ones(self.outputs)
        std = np.where(std > 0, std, 1.0)
        return replace(self, mean=tuple(mean.tolist()), std=tuple(std.tolist()))

    def adapt(self, dataset: Dataset, loss: str) -> Dataset:
        """Class-labelled data (one target column, read as labels) as float targets (N, 1): each
        label back to its number, exactly as written; a text target is refused."""
        import numpy as np

        if dataset.target_names and not dataset.class_names:
            _check_varies(dataset, dataset.y, dataset.target_names)
            return dataset  # read as numeric targets already (several columns, a 2-D y)
        try:
            values = np.array([float(n) for n in dataset.class_names], dtype=np.float64)
        except ValueError:
            text = next(n for n in dataset.class_names if _number(n) is None)
            raise InputError(
                f"{dataset.name}: --loss {loss} is a regression loss, but the target is text "
                f"(e.g. '{text}'), not numbers; for class labels use --loss cross-entropy"
            ) from None
        if not np.isfinite(values).all():
            raise InputError(f"{dataset.name}: the target has a value that is not a finite number")
        y = values[dataset.y].astype(np.float32)[:, None]  # (N, 1)
        names = dataset.target_names or ["y"]
        _check_varies(dataset, y, names)
        return replace(dataset, y=y, class_names=[], target_names=names)

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "mean": list(self.mean), "std": list(self.std)}


def _check_varies(dataset: Dataset, y: np.ndarray, names: list[str]) -> None:
    """A target with one value in every sample has nothing to learn (and no R²): one line."""
    import numpy as np

    values = np.asarray(y).reshape(len(y), -1)
    for column, name in enumerate(names):
        if len(values) and (values[:, column] == values[0, column]).all():
            raise InputError(
                f"{dataset.name}: target '{name}' has the same value ({values[0, column]:g}) in "
                "every sample: a regression needs targets that vary"
            )


Task = Classification | Regression


def task_for(loss: str, num_classes: int, targets: dict[str, Any] | None) -> Task:
    """The task of a run with this loss: classification, or regression on `targets`
    ({"names", "mean", "std"}, as config.json keeps them)."""
    if loss not in REGRESSION_LOSSES:
        return Classification(num_classes)
    targets = targets or {}
    return Regression(
        tuple(targets.get("names") or ("y",)),
        tuple(targets.get("mean") or ()),
        tuple(targets.get("std") or ()),
    )


def adapt(dataset: Dataset, loss: str) -> Dataset:
    """`dataset` as a run with `loss` learns it (see each task's `adapt`)."""
    task: Task = Regression(()) if loss in REGRESSION_LOSSES else Classification(0)
    return task.adapt(dataset, loss)
