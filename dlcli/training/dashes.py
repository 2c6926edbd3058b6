"""Dashed lines for the pictures (Pillow draws solid ones only): a sweep's training curves are
drawn dashed beside its solid validation curves, so one figure shows both (the dropout lesson's
gap between them)."""

from __future__ import annotations

import math
from typing import Any


def dashed_line(
    draw: Any,
    points: list[tuple[float, float]],
    fill: tuple[int, int, int],
    width: int = 2,
    dash: float = 7.0,
    gap: float = 5.0,
) -> None:
    """Draw the polyline through `points` as dashes of `dash` pixels with `gap` pixels between
    them, measured along the line (so the pattern does not depend on how dense the points are);
    a single point is a dot."""
    if len(points) == 1:
        (x, y), r = points[0], width
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
    on, left = True, dash  # drawing a dash or skipping a gap; pixels left of it
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        length = math.hypot(x1 - x0, y1 - y0)
        done = 0.0
        while done < length:
            step = min(left, length - done)
            if on:
                a, b = done / length, (done + step) / length
                start = (x0 + (x1 - x0) * a, y0 + (y1 - y0) * a)
                draw.line((start, (x0 + (x1 - x0) * b, y0 + (y1 - y0) * b)), fill=fill, width=width)
            done += step
            left -= step
            if left <= 0:
                on = not on
                left = dash if on else gap
