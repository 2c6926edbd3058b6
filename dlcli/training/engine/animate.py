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
from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError
from dlcli.files import atomic_write_bytes
from dlcli.training.engine.callbacks import Callback
from dlcli.training.runs.files import ANIMATION

if TYPE_CHECKING:
    import numpy as np


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

        scratch = copy.deepcopy(self.model).eval()  # the trained net itself stays untouched
        frames = []
        for epoch, loss, weights in self.recorded:
            scratch.load_state_dict(weights)
            with torch.inference_mode():
                scores = scratch(self.points)  # (G*G, C)
            classes = scores.argmax(1).to("cpu", torch.uint8).numpy()
            frames.append((epoch, loss, classes.reshape(self.grid, self.grid)))
        atomic_write_bytes(self.out / ANIMATION, boundary_gif(frames, self.extent, self.x, self.y))


def boundary_gif(
    frames: list[tuple[int, float | None, np.ndarray]],
    extent: tuple[float, float, float, float],
    points: np.ndarray,
    labels: np.ndarray,
    size: int = 360,
    frame_ms: int = 120,
) -> bytes:
    """An animated GIF of decision regions: frames of (epoch, loss or None, (G, G) predicted
    classes, row 0 = largest x2), the training points on top, epoch and loss in a corner.

    Drawn straight into one shared 22-colour palette (light class colours, dark class colours,
    black, white): no quantisation, and flat regions compress to a few kB per frame.
    """
    import io

    import numpy as np
    from PIL import Image, ImageDraw

    from dlcli.training.plots import _PALETTE, _font

    k = len(_PALETTE)
    light = [tuple(int(255 - (255 - c) * 0.35) for c in rgb) for rgb in _PALETTE]
    black, white = 2 * k, 2 * k + 1
    palette = [c for rgb in [*light, *_PALETTE, (0, 0, 0), (255, 255, 255)] for c in rgb]
    # the points do not move: draw them once, paste them onto every frame through a mask
    layer = Image.new("P", (size, size), 0)
    layer.putpalette(palette)
    mask = Image.new("L", (size, size), 0)
    draw_layer, draw_mask = ImageDraw.Draw(layer), ImageDraw.Draw(mask)
    x1min, x1max, x2min, x2max = extent
    for (a, b), c in zip(points.tolist(), labels.tolist(), strict=True):
        x = (a - x1min) / (x1max - x1min) * size
        y = (x2max - b) / (x2max - x2min) * size
        box = (x - 3, y - 3, x + 3, y + 3)
        draw_layer.ellipse(box, fill=k + c % k, outline=black)
        draw_mask.ellipse(box, fill=255)
    font = _font(14)
    images = []
    for epoch, loss, classes in frames:
        img = Image.fromarray((np.asarray(classes) % k).astype(np.uint8), "P")
        img.putpalette(palette)
        img = img.resize((size, size), Image.NEAREST)  # type: ignore[attr-defined]  # Pillow 9.0 has no Image.Resampling
        img.paste(layer, (0, 0), mask)
        draw = ImageDraw.Draw(img)
        text = f"epoch {epoch}" + (f"  loss {loss:.3f}" if loss is not None else "")
        left, top, right, bottom = draw.textbbox((6, 4), text, font=font)
        draw.rectangle((left - 3, top - 2, right + 3, bottom + 2), fill=white)
        draw.text((6, 4), text, fill=black, font=font)
        images.append(img)
    durations = [frame_ms] * (len(images) - 1) + [1500]  # hold the last frame
    buf = io.BytesIO()
    images[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=durations,
        loop=0,
        optimize=False,
    )
    return buf.getvalue()
