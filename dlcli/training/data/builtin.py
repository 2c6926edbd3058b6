"""Built-in data: `digits` (the 8x8 handwritten digits shipped in `dlcli/sample_data/`, UCI
Optical Recognition of Handwritten Digits, CC BY 4.0) and `spiral[:n=100,classes=3,noise=0.2]`
(synthetic 2-D classes as in the ConvNetJS classify2d demo, n points per class; `scale=S`
multiplies the second coordinate by S: features whose scales differ, for the lesson on
standardisation)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from dlcli.errors import InputError
from dlcli.files import open_binary
from dlcli.training.config import DataConfig
from dlcli.training.data.dataset import Dataset
from dlcli.training.data.kinds import InputKind

SAMPLE_DATA = Path(__file__).resolve().parent.parent.parent / "sample_data"
BUILTIN = ("digits", "spiral")
# spiral:n=...,classes=...: bounds far above any lesson, far below what exhausts memory
MAX_SPIRAL_POINTS = 10_000_000
MAX_SPIRAL_CLASSES = 1000


def is_builtin(key: str) -> bool:
    return key in BUILTIN or key.startswith("spiral:")


def load(config: DataConfig, source: str, path: Path, seed: int) -> Dataset:
    if source.lower() == "digits":
        return load_digits()
    return make_spiral(**_spiral_options(source), seed=seed)


def load_digits() -> Dataset:
    """The 8x8 digits as images (N, 1, 8, 8), pixel values 0..16.

    The file is scikit-learn's copy (64 pixel columns then the label, no header); reading it with
    numpy directly keeps scikit-learn out of the process.
    """
    import numpy as np

    with open_binary(SAMPLE_DATA / "digits.csv.gz") as fh:
        values = np.loadtxt(fh, delimiter=",", dtype=np.float32)  # (1797, 65)
    x = values[:, :64].reshape(-1, 1, 8, 8)
    y = values[:, 64].astype(np.int64)
    return Dataset(
        x=np.ascontiguousarray(x), y=y, class_names=[str(i) for i in range(10)], name="digits"
    )


def _spiral_options(source: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    _, _, rest = source.partition(":")
    allowed = {"n": int, "classes": int, "noise": float, "scale": float}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        name, eq, value = item.partition("=")
        name = name.strip().lower()
        if not eq or name not in allowed:
            raise InputError(
                f"invalid spiral option '{item}': expected n=POINTS_PER_CLASS, classes=K, noise=F, "
                "scale=S (e.g. spiral:n=100,classes=3,noise=0.2)"
            )
        try:
            options[name] = allowed[name](value)
        except ValueError:
            raise InputError(f"invalid spiral option '{item}': '{value}' is not a number") from None
    return options


def make_spiral(
    n: int = 100, classes: int = 3, noise: float = 0.2, seed: int = 0, scale: float = 1.0
) -> Dataset:
    """K interleaved spiral arms in 2-D (CS231n / ConvNetJS classify2d): n points per class.

    Arm j: radius r in [0, 1], angle t = 4j .. 4(j+1) plus Gaussian noise of sd `noise`;
    point (r sin t, scale * r cos t) (`scale` 1: the plain spiral; 1000: the second feature in
    the thousands, the first in [-1, 1]).
    """
    import numpy as np

    if not (
        2 <= n
        and 2 <= classes <= MAX_SPIRAL_CLASSES
        and n * classes <= MAX_SPIRAL_POINTS
        and 0 <= noise < math.inf
        and 0 < scale < math.inf
    ):
        raise InputError(
            f"invalid spiral n={n}, classes={classes}, noise={noise}, scale={scale}: need n >= 2, "
            f"2 <= classes <= {MAX_SPIRAL_CLASSES}, n * classes <= {MAX_SPIRAL_POINTS:,} points "
            "a finite noise >= 0 and a finite scale > 0"
        )
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for j in range(classes):
        r = np.linspace(0.0, 1.0, n)
        t = np.linspace(j * 4.0, (j + 1) * 4.0, n) + rng.normal(0.0, noise, n)
        xs.append(np.stack([r * np.sin(t), scale * r * np.cos(t)], axis=1))
        ys.append(np.full(n, j))
    return Dataset(
        x=np.concatenate(xs).astype(np.float32),
        y=np.concatenate(ys).astype(np.int64),
        class_names=[str(j) for j in range(classes)],
        name="spiral",
        feature_names=["x1", "x2"],
        extra={"n": n, "classes": classes, "noise": noise, "scale": scale},
    )


KIND = InputKind("builtin", load=load, matches=is_builtin)
