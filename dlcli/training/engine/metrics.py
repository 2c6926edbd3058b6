"""Losses and scores, shared by the loop, `evaluate` and the decision-region plot.

`scores_of` runs a model in eval mode over fixed-size chunks (`EVAL_BATCH`), so the loop's
test numbers and `dlcli evaluate`'s come out bit for bit alike. torch is imported inside.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn

    from dlcli.training.engine.batches import Inputs
    from dlcli.training.engine.tasks import Task

# fixed, so that evaluate reproduces the run's numbers bit for bit; 128: a conv net on CPU scores
# 3x32x32 images 25% faster in chunks of 128 than of 1024 (cache-sized activations)
EVAL_BATCH = 128


def multiclass_hinge(scores: torch.Tensor, y: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """The multiclass SVM loss of the lesson: mean_i sum_{j != y_i} max(0, s_j - s_{y_i} + margin).

    (PyTorch's multi_margin_loss divides this sum by the number of classes.)
    """
    correct = scores.gather(1, y[:, None])  # (B, 1)
    margins = (scores - correct + margin).clamp_min(0.0)  # (B, C)
    return margins.scatter(1, y[:, None], 0.0).sum(dim=1).mean()


def loss_function(name: str):
    """'cross-entropy' or 'hinge' -> loss(scores (B, C), y (B,)) -> scalar tensor (the
    classification losses; `tasks.Task.loss` gives any run's)."""
    import torch.nn.functional as F

    return F.cross_entropy if name == "cross-entropy" else multiclass_hinge


def scores_of(model: nn.Module, x: torch.Tensor | Inputs) -> torch.Tensor:
    """Class scores (N, C) in eval mode, in fixed-size chunks of the model's input (a tensor,
    or `batches.Inputs`, which converts stored chunks on the device)."""
    import torch

    model.eval()
    with torch.inference_mode():
        if len(x) == 0:
            return torch.zeros((0, 0))
        if isinstance(x, torch.Tensor):
            chunks: Iterator[torch.Tensor] = (
                x[i : i + EVAL_BATCH] for i in range(0, len(x), EVAL_BATCH)
            )
        else:
            chunks = x.chunks(EVAL_BATCH)
        return torch.cat([model(chunk) for chunk in chunks])


def measure(
    model: nn.Module, x: torch.Tensor | Inputs, y: torch.Tensor, task: Task, loss_name: str
) -> dict[str, float | None]:
    """{"loss": mean loss, then the task's metrics (accuracy; mse, rmse, mae, r2)} over a whole
    split; every value None for an empty split."""
    if len(y) == 0:
        return dict.fromkeys(("loss", *task.metrics))
    scores = scores_of(model, x)
    loss = task.loss(loss_name)(scores, y)
    return {"loss": float(loss), **task.split_metrics(scores, y)}


def accuracy(scores: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of correct predictions, as the float64 nearest to correct / n (a float32
    mean would print as 0.9720670580863953 beside the exact 0.9720670391061452)."""
    return int((scores.argmax(1) == y).sum()) / len(y)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
