"""Synthetic sequence tasks for the recurrent lesson (numpy only, imported inside the function).

`first_symbol_task`: the class is written at step 0 (a one-hot over `classes` channels) and every
later step is Gaussian noise on all channels plus one extra noise channel; the net must carry the
first step through `steps - 1` distracting ones. A plain tanh RNN's gradient fades over such a gap;
the LSTM's cell state, gated by a forget gate that can stay open, carries it (Hochreiter &
Schmidhuber, 1997). Saved as an .npz with x (N, T, F) and y, it is `dlcli train lstm` data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def first_symbol_task(
    n: int, steps: int = 50, classes: int = 4, seed: int = 0, noise: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """x: (n, steps, classes + 1) float32, y: (n,) int64 — the class of step 0."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, size=n)
    x = np.zeros((n, steps, classes + 1), np.float32)
    x[:, 1:, :] = rng.normal(0.0, noise, size=(n, steps - 1, classes + 1))
    x[np.arange(n), 0, y] = 1.0
    return x, y.astype(np.int64)
