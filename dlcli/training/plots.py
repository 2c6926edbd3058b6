"""The run's pictures, drawn with Pillow (~0.05 s to import, against ~0.8 s for matplotlib).

    curves_png(history)          loss and accuracy per epoch, train and validation (curves.png)
    boundary_png(spec, dataset, net, device)
                                 for 2-D data: the predicted class over a grid covering the data,
                                 with the points on top (boundary.png, ConvNetJS classify2d style)

Pillow, numpy and torch are imported inside the functions.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from dlcli.training.metrics import scores_of

if TYPE_CHECKING:
    import torch
    from torch import nn

    from dlcli.training.data import Dataset
    from dlcli.training.spec import RunSpec


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


def _nice(v: float) -> str:
    return f"{v:.3g}"


def _panel(
    draw,
    box: tuple[int, int, int, int],
    title: str,
    series: list[tuple[str, list[float]]],
    font,
    small,
) -> None:
    """One line chart inside box=(x0, y0, x1, y1): axes, ticks, lines and a legend."""
    x0, y0, x1, y1 = box
    left, top, right, bottom = x0 + 52, y0 + 26, x1 - 10, y1 - 34
    draw.text(((x0 + x1) // 2, y0 + 4), title, fill="black", font=font, anchor="ma")
    values = [v for _, ys in series for v in ys if v == v]  # drop NaN
    n = max((len(ys) for _, ys in series), default=0)
    if not values or n == 0:
        return
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad
    draw.rectangle((left, top, right, bottom), outline=(80, 80, 80))

    def px(i: int) -> float:
        return left + (right - left) * (i / max(n - 1, 1))

    def py(v: float) -> float:
        return bottom - (bottom - top) * ((v - lo) / (hi - lo))

    for k in range(5):  # y ticks and grid
        v = lo + (hi - lo) * k / 4
        y = py(v)
        draw.line((left, y, right, y), fill=(230, 230, 230))
        draw.text((left - 4, y), _nice(v), fill="black", font=small, anchor="rm")
    for k in range(min(n, 6)):  # x ticks: epochs 1..n
        i = round((n - 1) * k / max(min(n, 6) - 1, 1))
        x = px(i)
        draw.line((x, bottom, x, bottom + 4), fill=(80, 80, 80))
        draw.text((x, bottom + 6), str(i + 1), fill="black", font=small, anchor="ma")
    draw.text(((left + right) // 2, bottom + 20), "epoch", fill="black", font=small, anchor="ma")
    legend_top = top + 4
    draw.rectangle(  # a white box so that the legend stays readable over the lines
        (right - 96, legend_top, right - 4, legend_top + 16 * len(series) + 4),
        fill="white",
        outline=(200, 200, 200),
    )
    for j, (label, ys) in enumerate(series):
        color = _PALETTE[j % len(_PALETTE)]
        points = [(px(i), py(v)) for i, v in enumerate(ys) if v == v]
        if len(points) > 1:
            draw.line(points, fill=color, width=2)
        elif points:
            x, y = points[0]
            draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=color)
        ly = top + 6 + 16 * j
        draw.line((right - 90, ly + 6, right - 70, ly + 6), fill=color, width=2)
        draw.text((right - 64, ly), label, fill="black", font=small)


def curves_png(history: list[dict]) -> bytes:
    """Two panels, loss and accuracy per epoch, train and validation."""
    from PIL import Image, ImageDraw

    width, height = 900, 340
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    font, small = _font(15), _font(12)

    def col(name: str) -> list[float]:
        return [float(r[name]) if r.get(name) not in (None, "") else float("nan") for r in history]

    has_val = any(r.get("val_loss") not in (None, "") for r in history)
    loss = [("train", col("loss"))] + ([("val", col("val_loss"))] if has_val else [])
    acc = [("train", col("accuracy"))] + ([("val", col("val_accuracy"))] if has_val else [])
    _panel(draw, (0, 0, width // 2, height), "loss", loss, font, small)
    _panel(draw, (width // 2, 0, width, height), "accuracy", acc, font, small)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


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
    lo, hi = x.min(axis=0), x.max(axis=0)
    pad = (hi - lo) * 0.1 + 1e-6
    lo, hi = lo - pad, hi + pad
    a = np.linspace(lo[0], hi[0], grid, dtype=np.float32)
    b = np.linspace(hi[1], lo[1], grid, dtype=np.float32)  # top row = largest x2
    aa, bb = np.meshgrid(a, b)  # (G, G) each
    points = np.stack([aa.ravel(), bb.ravel()], axis=1)  # (G*G, 2)
    scores = scores_of(net, torch.from_numpy(spec.preprocess(points)).to(device))
    classes = scores.argmax(1).cpu().numpy().reshape(grid, grid)  # (G, G)

    size = 480
    light = np.array([[int(255 - (255 - c) * 0.35) for c in rgb] for rgb in _PALETTE], np.uint8)
    img = Image.fromarray(light[classes % len(_PALETTE)], "RGB").resize((size, size), Image.NEAREST)
    draw = ImageDraw.Draw(img)
    x1min, x1max, x2min, x2max = float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])
    for (p, q), c in zip(x.tolist(), dataset.y.tolist(), strict=True):
        u = (p - x1min) / (x1max - x1min) * size
        v = (x2max - q) / (x2max - x2min) * size
        draw.ellipse(
            (u - 4, v - 4, u + 4, v + 4), fill=_PALETTE[c % len(_PALETTE)], outline="black"
        )
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
