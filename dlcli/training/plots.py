"""The run's pictures, drawn with Pillow (~0.05 s to import, against ~0.8 s for matplotlib).

    curves_png(history, loss)    loss (named) and accuracy (regression: R²) per epoch, train
                                 and validation; with --log-grads a panel below: each layer's
                                 gradient norm
    boundary_png(spec, dataset, net, device)
                                 for 2-D data: the predicted class over a grid covering the data,
                                 with the points on top (boundary.png, ConvNetJS classify2d style)
    curves_overlay_png(runs)     every run's validation loss and accuracy (or R²), one
                                 colour per run, a legend naming its knobs (sweeps, compare);
                                 train=True adds the training curves, dashed
    boundary_grid_png(tiles)     the runs' boundary.png images side by side, captioned: the
                                 lesson's figure (3, 6, 20 hidden units on the spiral)

Elsewhere: fit.png (regression on one feature) in fitplot.py, boundary.gif (`--animate`) in
engine/animate.py; both draw with this module's palette, fonts and ticks.

Pillow, numpy and torch are imported inside the functions.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

from dlcli.training.dashes import dashed_line
from dlcli.training.engine.metrics import scores_of

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from dlcli.training.data import Dataset
    from dlcli.training.runs.spec import RunSpec


_PALETTE = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
]


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def nice_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Round tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten, the first
    tick at or below lo and the last at or above hi, at most `most` ticks (Heckbert's
    "nice numbers", as plotting libraries choose them)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        hi = lo + 1.0 if math.isfinite(lo) else 1.0
        lo = lo if math.isfinite(lo) else 0.0
    raw = (hi - lo) / max(most - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        step = m * power
        first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
        if last - first + 1 <= most:
            break
    return [k * step for k in range(first, last + 1)]


def _label(v: float, ticks: list[float]) -> str:
    """A tick's text with as many decimals as the step needs (0.2 not 0.20000000000000004)."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{v:.{decimals}f}"


def _panel(
    draw,
    box: tuple[int, int, int, int],
    title: str,
    series: list[tuple[str, list[float]]],
    font,
    small,
    y_range: tuple[float | None, float | None] = (None, None),
    legend: bool = True,
    log: bool = False,
    colors: list[tuple[int, int, int]] | None = None,
    dashed: frozenset[int] = frozenset(),
) -> None:
    """One line chart inside box=(x0, y0, x1, y1): title and legend in a header row above the
    plot area (so the legend never covers a line), round ticks, the lines.

    y_range fixes either end of the value axis (accuracy: (0, 1); loss: (0, None)); a free end
    goes to the next round tick beyond the data. `log`: a log-scale axis (positive values; ticks
    at powers of ten). `colors`: one per series (default: the palette's, in turn). `dashed`: the
    indices of the series drawn dashed.
    """
    colors = colors or [_PALETTE[j % len(_PALETTE)] for j in range(len(series))]
    if log:
        series = [(k, [math.log10(v) if v > 0 else math.nan for v in ys]) for k, ys in series]
    x0, y0, x1, y1 = box
    left, top, right, bottom = x0 + 52, y0 + 30, x1 - 14, y1 - 34
    draw.text((left, y0 + 6), title, fill="black", font=font)
    if legend:  # right-aligned in the header row, last series rightmost
        x: float = right
        for j, (label, _) in reversed(list(enumerate(series))):
            color = colors[j]
            x -= draw.textlength(label, font=small)
            draw.text((x, y0 + 9), label, fill="black", font=small)
            x -= 24
            draw.line((x, y0 + 16, x + 18, y0 + 16), fill=color, width=2)
            x -= 12
    values = [v for _, ys in series for v in ys if math.isfinite(v)]
    n = max((len(ys) for _, ys in series), default=0)
    if not values or n == 0:
        return
    lo = y_range[0] if y_range[0] is not None else min(values)
    hi = y_range[1] if y_range[1] is not None else max(values)
    ticks = nice_ticks(lo, hi)
    if log:  # whole powers of ten
        ticks = nice_ticks(math.floor(lo), max(math.ceil(hi), math.floor(lo) + 1))
        ticks = [t for t in ticks if t == int(t)] if len(ticks) > 2 else ticks
    if y_range[0] is None:
        lo = ticks[0]
    if y_range[1] is None:
        hi = ticks[-1]
    ticks = [t for t in ticks if lo - 1e-9 <= t <= hi + 1e-9]
    draw.rectangle((left, top, right, bottom), outline=(80, 80, 80))

    def px(i: int) -> float:
        return left + (right - left) * (i / max(n - 1, 1))

    def py(v: float) -> float:
        return bottom - (bottom - top) * ((v - lo) / (hi - lo))

    for v in ticks:  # y ticks and grid
        y = py(v)
        if top < y < bottom:
            draw.line((left, y, right, y), fill=(230, 230, 230))
        text = f"1e{v:g}" if log else _label(v, ticks)
        draw.text((left - 4, y), text, fill="black", font=small, anchor="rm")
    for epoch in nice_ticks(1, max(n, 2), most=8):  # x ticks: whole epochs 1..n
        if epoch != int(epoch) or not 1 <= epoch <= n:
            continue
        x = px(int(epoch) - 1)
        draw.line((x, bottom, x, bottom + 4), fill=(80, 80, 80))
        draw.text((x, bottom + 6), str(int(epoch)), fill="black", font=small, anchor="ma")
    draw.text(((left + right) // 2, bottom + 20), "epoch", fill="black", font=small, anchor="ma")
    for j, (_, ys) in enumerate(series):
        points = [(px(i), py(v)) for i, v in enumerate(ys) if math.isfinite(v)]
        (dashed_line if j in dashed else _solid)(draw, points, colors[j])


def _solid(draw, points: list[tuple[float, float]], color: tuple[int, int, int]) -> None:
    """A series' line, or its dot when it has one point."""
    if len(points) > 1:
        draw.line(points, fill=color, width=2)
    elif points:
        x, y = points[0]
        draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=color)


def score_column(history: list[dict]) -> tuple[str, str]:
    """The score a history holds, as (column, title): R² for a regression run (its `r2`
    column), else accuracy."""
    # "R^2": the fonts Pillow ships draw no superscript two
    return ("r2", "R^2") if any("r2" in r for r in history) else ("accuracy", "accuracy")


def _score_axis(
    series: list[tuple[str, list[float]]], key: str, title: str
) -> tuple[list[tuple[str, list[float]]], str, tuple[float, float]]:
    """Accuracy spans 0 to 1. R² tops at 1 and has no floor (an untrained net's can be -50):
    its axis spans 0 to 1, or -1 to 1 with anything below -1 drawn at -1 (the title says so)."""
    if key != "r2":
        return series, title, (0.0, 1.0)
    values = [v for _, ys in series for v in ys if math.isfinite(v)]
    if min(values, default=0.0) >= 0:
        return series, title, (0.0, 1.0)
    clipped = [(name, [max(v, -1.0) if math.isfinite(v) else v for v in ys]) for name, ys in series]
    return clipped, title + (" (below -1 drawn at -1)" if min(values) < -1 else ""), (-1.0, 1.0)


def curves_png(history: list[dict], loss: str = "cross-entropy") -> bytes:
    """Two panels, loss (named: `loss` is the run's --loss) and accuracy per epoch (R² for a
    regression run), train and validation. The loss axis starts at 0 and accuracy spans 0 to 1
    (R²: `_score_axis`), so runs compare by eye."""
    from PIL import Image, ImageDraw

    grads = [k for k in (history[0] if history else {}) if k.startswith("grad_norm/")]
    width, height = 900, 340
    img = Image.new("RGB", (width, height * (2 if grads else 1)), "white")
    draw = ImageDraw.Draw(img)
    font, small = _font(15), _font(12)

    def col(name: str) -> list[float]:
        return [float(r[name]) if r.get(name) not in (None, "") else float("nan") for r in history]

    has_val = any(r.get("val_loss") not in (None, "") for r in history)
    losses = [("train", col("loss"))] + ([("validation", col("val_loss"))] if has_val else [])
    key, title = score_column(history)
    scores = [("train", col(key))] + ([("validation", col(f"val_{key}"))] if has_val else [])
    scores, title, y_range = _score_axis(scores, key, title)
    name = loss if loss in ("hinge", "mse", "mae", "huber") else "cross-entropy"
    name += " loss" + (" (standardised targets)" if key == "r2" else "")
    _panel(draw, (0, 0, width // 2, height), name, losses, font, small, (0.0, None))
    _panel(draw, (width // 2, 0, width, height), title, scores, font, small, y_range)
    if grads:  # --log-grads: one line per layer; past 10, shaded from first (blue) to last (red)
        lines = [(k.removeprefix("grad_norm/"), col(k)) for k in grads]
        title, box = "gradient norm per layer (log scale)", (0, height, width, 2 * height)
        if len(lines) <= 10:
            _panel(draw, box, title, lines, font, small, log=True)
        else:
            shades = [_shade(j / (len(lines) - 1)) for j in range(len(lines))]
            title += f": {lines[0][0]} (blue) to {lines[-1][0]} (red)"
            _panel(draw, box, title, lines, font, small, legend=False, log=True, colors=shades)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _shade(t: float) -> tuple[int, int, int]:
    """Blue (t=0) to red (t=1): a layer's place in the model."""
    (r0, g0, b0), (r1, g1, b1) = _PALETTE[0], _PALETTE[3]
    return (round(r0 + (r1 - r0) * t), round(g0 + (g1 - g0) * t), round(b0 + (b1 - b0) * t))


def boundary_png(
    spec: RunSpec, dataset: Dataset, net: nn.Module, device: torch.device, grid: int = 240
) -> bytes:
    """Decision regions as ConvNetJS classify2d draws them: each pixel of a grid covering the
    (raw) 2-D data coloured by the class the model predicts there (light), the data points on
    top (dark, outlined). Row 0 of the grid is the top of the image (largest x2)."""
    import numpy as np
    import torch
    from PIL import Image, ImageDraw

    x = dataset.x  # (N, 2), as loaded
    points, (x1min, x1max, x2min, x2max) = grid_points(x, grid)  # (G*G, 2)
    scores = scores_of(net, torch.from_numpy(spec.preprocess(points)).to(device))
    classes = scores.argmax(1).cpu().numpy().reshape(grid, grid)  # (G, G)

    size = 480
    light = np.array([[int(255 - (255 - c) * 0.35) for c in rgb] for rgb in _PALETTE], np.uint8)
    img = Image.fromarray(light[classes % len(_PALETTE)], "RGB").resize((size, size), Image.NEAREST)  # type: ignore[attr-defined]  # Pillow 9.0 has no Image.Resampling
    draw = ImageDraw.Draw(img)
    for (p, q), c in zip(x.tolist(), dataset.y.tolist(), strict=True):
        u = (p - x1min) / (x1max - x1min) * size
        v = (x2max - q) / (x2max - x2min) * size
        draw.ellipse(
            (u - 4, v - 4, u + 4, v + 4), fill=_PALETTE[c % len(_PALETTE)], outline="black"
        )
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


# --- comparing runs (sweeps, compare) -----------------------------------------------------------


def _column(history: list[dict], name: str) -> list[float]:
    return [float(r[name]) if r.get(name) not in (None, "") else float("nan") for r in history]


def curves_overlay_png(runs: list[tuple[str, list[dict]]], train: bool = False) -> bytes:
    """Validation loss and accuracy (R² for regression runs) per epoch of every run (training
    ones where a run has no validation split); the legend below the panels names the runs.
    `train`: each run's training curves too, dashed, in its colour (the gap between the two)."""
    from PIL import Image, ImageDraw

    width, panel_height, row = 900, 340, 18
    height = panel_height + 10 + row * len(runs)
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    font, small = _font(15), _font(12)
    has_val = all(any(r.get("val_loss") not in (None, "") for r in h) for _, h in runs)
    key, title = score_column([r for _, h in runs for r in h[:1]])
    prefix, loss_key, acc_key = (
        ("validation", "val_loss", f"val_{key}") if has_val else ("training", "loss", key)
    )
    loss = [(str(i + 1), _column(h, loss_key)) for i, (_, h) in enumerate(runs)]
    acc = [(str(i + 1), _column(h, acc_key)) for i, (_, h) in enumerate(runs)]
    colors = [_PALETTE[i % len(_PALETTE)] for i in range(len(runs))]
    dashed: frozenset[int] = frozenset()
    if train and has_val:  # solid validation, dashed training: run i's pair in one colour
        loss += [(str(i + 1), _column(h, "loss")) for i, (_, h) in enumerate(runs)]
        acc += [(str(i + 1), _column(h, key)) for i, (_, h) in enumerate(runs)]
        colors, dashed = colors * 2, frozenset(range(len(runs), 2 * len(runs)))
        prefix = "validation (solid) and training (dashed)"
    acc, title, y_range = _score_axis(acc, key, title if dashed else f"{prefix} {title}")
    # the legend below the panels names the runs by colour
    _panel(draw, (0, 0, width // 2, panel_height), f"{prefix} loss", loss, font, small,
           (0.0, None), legend=False, colors=colors, dashed=dashed)  # fmt: skip
    _panel(draw, (width // 2, 0, width, panel_height), title, acc, font, small,
           y_range, legend=False, colors=colors, dashed=dashed)  # fmt: skip
    for i, (label, _) in enumerate(runs):
        y = panel_height + 4 + row * i
        color = _PALETTE[i % len(_PALETTE)]
        draw.line((20, y + 7, 44, y + 7), fill=color, width=3)
        draw.text((52, y), f"{i + 1}  {label}", fill="black", font=small)
    return _png(img)


def _wrap(text: str, width: int, draw, font) -> list[str]:
    """Split a knob list at its commas into lines at most `width` pixels wide."""
    lines: list[str] = []
    for part in text.split(","):
        if lines and draw.textlength(lines[-1] + "," + part, font=font) <= width:
            lines[-1] += "," + part
        else:
            lines.append(part)
    return lines


def boundary_grid_png(tiles: list[tuple[bytes, str]], tile: int = 240, columns: int = 4) -> bytes:
    """boundary.png images (bytes) in a grid, each above its caption (knobs, then a second line
    such as the test accuracy, separated by a newline)."""
    from PIL import Image, ImageDraw

    columns = max(1, min(columns, len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    caption = 54
    img = Image.new("RGB", (columns * (tile + 10) + 10, rows * (tile + caption + 10) + 10), "white")
    draw = ImageDraw.Draw(img)
    small = _font(12)
    for i, (png, text) in enumerate(tiles):
        x = 10 + (i % columns) * (tile + 10)
        y = 10 + (i // columns) * (tile + caption + 10)
        with Image.open(io.BytesIO(png)) as picture:
            bilinear = Image.BILINEAR  # type: ignore[attr-defined]  # Pillow 9.0: no Image.Resampling
            img.paste(picture.convert("RGB").resize((tile, tile), bilinear), (x, y))
        knobs, _, extra = text.partition("\n")
        lines = _wrap(knobs, tile, draw, small)[:2] + ([extra] if extra else [])
        for j, line in enumerate(lines[:3]):
            draw.text((x + tile // 2, y + tile + 4 + 16 * j), line, fill="black", font=small,
                      anchor="ma")  # fmt: skip
    return _png(img)


def grid_points(x: np.ndarray, grid: int) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """(grid*grid, 2) raw points covering 2-D data with a 10 % margin, row 0 at the largest x2,
    and their extent (x1min, x1max, x2min, x2max): the canvas of boundary.png."""
    import numpy as np

    lo, hi = x.min(axis=0), x.max(axis=0)
    pad = (hi - lo) * 0.1 + 1e-6
    lo, hi = lo - pad, hi + pad
    a = np.linspace(lo[0], hi[0], grid, dtype=np.float32)
    b = np.linspace(hi[1], lo[1], grid, dtype=np.float32)
    aa, bb = np.meshgrid(a, b)
    extent = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
    return np.stack([aa.ravel(), bb.ravel()], axis=1), extent


def _png(img: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
