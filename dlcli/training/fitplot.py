"""fit.png: a regression run on one input feature and one target, drawn as a curve fit.

    fit_grid(x, points)          evenly spaced raw inputs (G, 1) over the data's range
    predict_curve(spec, net, device, xs, decode)
                                 the model's predictions there, in the target's original units
    fit_png(train, test, curve)  the training points (dots), the test points (outlined
                                 diamonds) and the fitted curve (a line) on round-ticked axes
    run_fit_png(spec, dataset, net, device)
                                 all three for a finished run: its own split and task (finish.py
                                 writes RUN_DIR/fit.png with it, as boundary.png for 2-D classes)

Drawn with Pillow like the other pictures (plots.py: palette, fonts, ticks); numpy, torch and
Pillow are imported inside the functions.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dlcli.training.engine.metrics import scores_of
from dlcli.training.plots import _PALETTE, _font, _label, nice_ticks

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from dlcli.training.data import Dataset
    from dlcli.training.runs.spec import RunSpec

TRAIN_COLOR, TEST_COLOR, CURVE_COLOR = _PALETTE[0], _PALETTE[1], _PALETTE[3]
SIZE = (720, 480)


def fit_grid(x: np.ndarray, points: int = 200) -> np.ndarray:
    """`points` raw inputs (points, 1), float32, evenly spaced from the smallest x to the
    largest (x: the data's one feature, any shape with one value per sample)."""
    import numpy as np

    values = np.asarray(x, dtype=np.float64).reshape(len(x), -1)[:, 0]
    return np.linspace(values.min(), values.max(), points, dtype=np.float32)[:, None]


def predict_curve(
    spec: RunSpec,
    net: nn.Module,
    device: torch.device,
    xs: np.ndarray,
    decode: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """The model's predictions at raw inputs xs (G, 1), in the target's original units (G,):
    xs preprocessed as in training (`spec.preprocess`), the outputs (G, T) through `decode`
    (the run's task: standardised outputs back to original units), the first target kept."""
    import numpy as np
    import torch

    outputs = scores_of(net, torch.from_numpy(spec.preprocess(xs)).to(device))
    predicted = np.asarray(decode(outputs.float().cpu().numpy()), dtype=np.float64)
    return predicted.reshape(len(xs), -1)[:, 0]


def draws_fit(spec: RunSpec) -> bool:
    """Whether a run gets fit.png: regression with one target on one input feature (flat)."""
    task = spec.task
    return (
        spec.train.regression and spec.layout == "flat" and spec.sample_shape == (1,)
        and task.outputs == 1
    )  # fmt: skip


def run_fit_png(
    spec: RunSpec, dataset: Dataset, net: nn.Module, device: torch.device, points: int = 200
) -> bytes:
    """fit.png of a trained run: its training and test points (its own seeded split,
    `run_split`) and the model's curve over `points` inputs spanning the data, in the target's
    original units (the run's task decodes the outputs)."""
    from dlcli.training.runs.spec import run_split

    split = run_split(spec, dataset, spec.train.seed)
    xs = fit_grid(dataset.x, points)
    ys = predict_curve(spec, net, device, xs, spec.task.decode)  # type: ignore[union-attr]
    x = dataset.x.reshape(len(dataset.x), -1)[:, 0]
    y = dataset.y.reshape(len(dataset.y), -1)[:, 0]
    names = ((dataset.feature_names or ["x"])[0], (dataset.target_names or ["y"])[0])
    train, test = (x[split.train], y[split.train]), (x[split.test], y[split.test])
    return fit_png(train, test, (xs[:, 0], ys), names)


@dataclass(frozen=True)
class Axes:
    """The plot area of fit.png and the mapping of data values to its pixels."""

    left: float
    top: float
    right: float
    bottom: float
    x_ticks: tuple[float, ...]
    y_ticks: tuple[float, ...]

    @classmethod
    def covering(cls, xs: list[float], ys: list[float], size: tuple[int, int] = SIZE) -> Axes:
        """Round ticks on both axes covering every finite value given."""
        xs = [v for v in xs if math.isfinite(v)] or [0.0, 1.0]
        ys = [v for v in ys if math.isfinite(v)] or [0.0, 1.0]
        width, height = size
        return cls(
            64, 34, width - 20, height - 46,
            tuple(nice_ticks(min(xs), max(xs), most=8)), tuple(nice_ticks(min(ys), max(ys))),
        )  # fmt: skip

    def px(self, v: float) -> float:
        lo, hi = self.x_ticks[0], self.x_ticks[-1]
        return self.left + (self.right - self.left) * (v - lo) / (hi - lo)

    def py(self, v: float) -> float:
        lo, hi = self.y_ticks[0], self.y_ticks[-1]
        return self.bottom - (self.bottom - self.top) * (v - lo) / (hi - lo)


def fit_png(
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    curve: tuple[np.ndarray, np.ndarray],
    names: tuple[str, str] = ("x", "y"),
) -> bytes:
    """The training points (dots), the fitted curve (xs, predictions: a line) and the test
    points on top (outlined diamonds), each pair as arrays in original units; `names` are the
    feature's and the target's (the title and the x axis name them)."""
    from PIL import Image, ImageDraw

    flat = [[float(v) for v in a.reshape(-1).tolist()] for pair in (train, test, curve)
            for a in pair]  # fmt: skip
    (tx, ty), (sx, sy), (cx, cy) = zip(flat[0::2], flat[1::2], strict=True)
    axes = Axes.covering([*tx, *sx, *cx], [*ty, *sy, *cy])
    img = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(img)
    font, small = _font(15), _font(12)
    _frame(draw, axes, names, font, small)
    for x, y in zip(tx, ty, strict=True):
        u, v = axes.px(x), axes.py(y)
        draw.ellipse((u - 3, v - 3, u + 3, v + 3), fill=TRAIN_COLOR)
    line = [(axes.px(x), axes.py(y)) for x, y in zip(cx, cy, strict=True) if math.isfinite(y)]
    if len(line) > 1:
        draw.line(line, fill=CURVE_COLOR, width=3, joint="curve")
    for x, y in zip(sx, sy, strict=True):  # on top: the points the model never saw
        u, v = axes.px(x), axes.py(y)
        draw.polygon([(u, v - 5), (u + 5, v), (u, v + 5), (u - 5, v)], fill=TEST_COLOR,
                     outline="black")  # fmt: skip
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _frame(draw, axes: Axes, names: tuple[str, str], font, small) -> None:
    """Title, legend (header row), box, grid, ticks and axis names."""
    draw.text((axes.left, 8), f"fit: {names[1]} against {names[0]}", fill="black", font=font)
    x = axes.right
    for label, color, marker in reversed(
        [("training", TRAIN_COLOR, "dot"), ("test", TEST_COLOR, "diamond"),
         ("fitted", CURVE_COLOR, "line")]
    ):  # fmt: skip
        x -= draw.textlength(label, font=small)
        draw.text((x, 11), label, fill="black", font=small)
        x -= 14
        if marker == "line":
            draw.line((x - 10, 18, x + 8, 18), fill=color, width=3)
        elif marker == "dot":
            draw.ellipse((x - 3, 15, x + 3, 21), fill=color)
        else:
            draw.polygon([(x, 13), (x + 5, 18), (x, 23), (x - 5, 18)], fill=color, outline="black")
        x -= 22
    draw.rectangle((axes.left, axes.top, axes.right, axes.bottom), outline=(80, 80, 80))
    for v in axes.y_ticks:
        y = axes.py(v)
        if axes.top < y < axes.bottom:
            draw.line((axes.left, y, axes.right, y), fill=(232, 232, 232))
        draw.text((axes.left - 4, y), _label(v, list(axes.y_ticks)), fill="black", font=small,
                  anchor="rm")  # fmt: skip
    for v in axes.x_ticks:
        x = axes.px(v)
        if axes.left < x < axes.right:
            draw.line((x, axes.top, x, axes.bottom), fill=(232, 232, 232))
        draw.text((x, axes.bottom + 6), _label(v, list(axes.x_ticks)), fill="black", font=small,
                  anchor="ma")  # fmt: skip
    draw.text(((axes.left + axes.right) / 2, axes.bottom + 24), names[0], fill="black",
              font=small, anchor="ma")  # fmt: skip
