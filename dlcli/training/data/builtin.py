"""Built-in data: `digits` (the 8x8 handwritten digits shipped in `dlcli/sample_data/`, UCI
Optical Recognition of Handwritten Digits, CC BY 4.0), `spiral[:n=100,classes=3,noise=0.2]`
(synthetic 2-D classes as in the ConvNetJS classify2d demo, n points per class; `scale=S`
multiplies the second coordinate by S: features whose scales differ, for the lesson on
standardisation) and `curve[:n=200,noise=0.1]` (a noisy 1-D regression curve, y = x + cos(πx)
+ noise)."""

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
BUILTIN = ("digits", "spiral", "curve")
# spiral:n=...,classes=..., curve:n=...: bounds far above any lesson, far below what exhausts
# memory
MAX_SPIRAL_POINTS = 10_000_000
MAX_SPIRAL_CLASSES = 1000
MAX_CURVE_POINTS = 10_000_000
_OPTIONS: dict[str, tuple[dict[str, type], str]] = {  # name -> (options, the usage line)
    "spiral": (
        {"n": int, "classes": int, "noise": float, "scale": float},
        "n=POINTS_PER_CLASS, classes=K, noise=F, scale=S (e.g. spiral:n=100,classes=3,noise=0.2)",
    ),
    "curve": ({"n": int, "noise": float}, "n=POINTS, noise=F (e.g. curve:n=200,noise=0.1)"),
}


def is_builtin(key: str) -> bool:
    return key in BUILTIN or key.startswith(("spiral:", "curve:"))


def load(config: DataConfig, source: str, path: Path, seed: int) -> Dataset:
    name = source.strip().lower().partition(":")[0]
    if name == "digits":
        return load_digits()
    if name == "curve":
        return make_curve(**_options(source, "curve"), seed=seed)
    return make_spiral(**_options(source, "spiral"), seed=seed)


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


def _options(source: str, data: str) -> dict[str, Any]:
    """`spiral:n=100,noise=0.3` -> {"n": 100, "noise": 0.3}: the built-in set's options."""
    options: dict[str, Any] = {}
    _, _, rest = source.partition(":")
    allowed, usage = _OPTIONS[data]
    for item in filter(None, (p.strip() for p in rest.split(","))):
        name, eq, value = item.partition("=")
        name = name.strip().lower()
        if not eq or name not in allowed:
            raise InputError(f"invalid {data} option '{item}': expected {usage}")
        try:
            options[name] = allowed[name](value)
        except ValueError:
            raise InputError(f"invalid {data} option '{item}': '{value}' is not a number") from None
    return options


def make_spiral(
    n: int = 100, classes: int = 3, noise: float = 0.2, seed: int = 0, scale: float = 1.0
) -> Dataset:
    """K interleaved spiral arms in 2-D (CS231n / ConvNetJS classify2d): n points per class.

    Arm j: radius r in [0, 1], angle t = 4j .. 4(j+1) plus Gaussian noise of sd `noise`;
    point (r sin t, scale * r cos t) (`scale` 1: the plain spiral; 0.001: the second feature a
    thousand times smaller than the first).
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
            f"invalid spiral n={n}, classes={classes}, noise={noise}, scale={scale}: need "
            f"n >= 2, 2 <= classes <= {MAX_SPIRAL_CLASSES}, n * classes <= "
            f"{MAX_SPIRAL_POINTS:,} points, a finite noise >= 0 and a finite scale > 0"
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


def make_curve(n: int = 200, noise: float = 0.1, seed: int = 0) -> Dataset:
    """A noisy 1-D regression curve: x uniform in [-1, 1], y = x + cos(πx) + N(0, noise²).

    The trend x and the hump cos(πx) are uncorrelated over [-1, 1] (odd against even), so the
    least-squares line is y ≈ x (its R² is about 0.4: it finds the trend and misses the hump),
    while a net with one hidden layer fits both (R² near 1 - noise² / Var(y) ≈ 0.99 at the
    defaults; Var(y) = 1/3 + 1/2). x is drawn first, then the noise, from one seeded generator.
    """
    import numpy as np

    if not (2 <= n <= MAX_CURVE_POINTS and 0 <= noise < math.inf):
        raise InputError(
            f"invalid curve n={n}, noise={noise}: need 2 <= n <= {MAX_CURVE_POINTS:,} points "
            "and a finite noise >= 0"
        )
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, n)
    y = x + np.cos(np.pi * x) + rng.normal(0.0, noise, n)
    return Dataset(
        x=x.astype(np.float32)[:, None],
        y=y.astype(np.float32)[:, None],
        class_names=[],
        name="curve",
        feature_names=["x"],
        target_names=["y"],
        extra={"n": n, "noise": noise},
    )


KIND = InputKind("builtin", load=load, matches=is_builtin)
