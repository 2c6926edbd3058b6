"""`--animate`: the decision boundary as it learns, written as RUN_DIR/boundary.gif.

`BoundaryAnimation` is an ordinary callback. At ~50 epochs spread over the run it keeps a copy
of the weights (a state_dict clone: microseconds for the lesson's nets); after training it
predicts the class of every point of a coarse grid with each copy (forward passes in eval mode
on a scratch model, no gradients, no random numbers drawn: the run's numbers stay exactly those
of a run without it) and draws the frames. So the training loop itself is not slowed. The loop hands
callbacks the model (`callback.model`) just before `on_train_begin`, as Keras does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlcli.errors import InputError
from dlcli.files import atomic_write_bytes
from dlcli.training.engine.callbacks import Callback
from dlcli.training.runs.files import ANIMATION


def check_2d(model: str, model_config: Any, data: Any, seed: int) -> Any:
    """The run's dataset if --animate can draw it (2-D flat data), else an InputError."""
    from dlcli.training.families import get_family, load_family_data

    if get_family(model).layout_for(model_config, (2,)) != "flat":
        raise InputError(f"--animate draws 2-D data on a flat model (mlp), not '{model}'")
    dataset = load_family_data(model, model_config, data, seed)
    if tuple(dataset.sample_shape) != (2,):
        shape = "x".join(map(str, dataset.sample_shape))
        raise InputError(
            f"--animate needs 2-D data (2 features, e.g. --data spiral); "
            f"'{data.source}' has samples of shape {shape}"
        )
    return dataset


class BoundaryAnimation(Callback):
    """Collect the predicted class grid at `frames` epochs; write boundary.gif at the end."""

    def __init__(self, x: Any, y: Any, frames: int = 50, grid: int = 90) -> None:
        self.x, self.y, self.frames, self.grid = x, y, frames, grid
        self.model: Any = None  # set by the loop
        self.recorded: list[tuple[int, float | None, Any]] = []

    def on_train_begin(self, info: dict[str, Any]) -> None:
        import torch

        from dlcli.training.plots import grid_points
        from dlcli.training.runs.spec import read_spec

        self.out = Path(info["out"])
        spec, _ = read_spec(self.out)  # written before training starts, with the standardiser
        raw, self.extent = grid_points(self.x, self.grid)
        device = next(self.model.parameters()).device
        self.points = torch.from_numpy(spec.preprocess(raw)).to(device)
        first, last = info["first_epoch"], info["epochs"]
        n = min(self.frames, last - first)
        # epoch indices (0-based) whose end is drawn: spread evenly, the last one always
        self.chosen = {round(first + (last - first - 1) * i / max(n - 1, 1)) for i in range(n)}
        self.recorded = []
        if first == 0:
            self._record(0, None)  # the untrained net

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if epoch in self.chosen:
            self._record(epoch + 1, logs["loss"])

    def _record(self, epoch: int, loss: float | None) -> None:
        """Keep a copy of the weights now; the grid is predicted after training."""
        weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.recorded.append((epoch, loss, weights))

    def on_train_end(self, logs: dict[str, Any]) -> None:
        import copy

        import torch

        from dlcli.training.plots import boundary_gif

        scratch = copy.deepcopy(self.model).eval()  # the trained net itself stays untouched
        frames = []
        for epoch, loss, weights in self.recorded:
            scratch.load_state_dict(weights)
            with torch.inference_mode():
                scores = scratch(self.points)  # (G*G, C)
            classes = scores.argmax(1).to("cpu", torch.uint8).numpy()
            frames.append((epoch, loss, classes.reshape(self.grid, self.grid)))
        atomic_write_bytes(self.out / ANIMATION, boundary_gif(frames, self.extent, self.x, self.y))
