"""Scores and a split's metrics, shared by the loop, `evaluate` and the decision-region plot
(the losses and metrics themselves are the task's: tasks.py).

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


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def weight_norm(model: nn.Module) -> float:
    """The L2 norm (square root of the sum of squares) of the weights: every parameter with
    ndim >= 2 (linear and conv weights, embeddings), not biases or norm scales; metrics.json's
    `weight_norm`, which an L2 penalty (--weight-decay) pulls down."""
    import torch

    with torch.no_grad():
        squares = [p.detach().double().pow(2).sum() for p in model.parameters() if p.ndim >= 2]
        return float(torch.stack(squares).sum().sqrt()) if squares else 0.0
