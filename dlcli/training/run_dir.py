"""The run folder: every file a training run writes, each written atomically. No pickles.

    RUN_DIR/config.json         everything to rebuild the model and its preprocessing
    RUN_DIR/model.safetensors   the weights (the best epoch's with --patience)
    RUN_DIR/history.csv         one row per epoch
    RUN_DIR/metrics.json        the final results (the `--json` document)
    RUN_DIR/curves.png          loss and accuracy per epoch
    RUN_DIR/boundary.png        decision regions, for 2-D data
    RUN_DIR/checkpoint.safetensors   what --resume needs: model, optimizer and RNG tensors, plus
                                the loop's counters as JSON in the safetensors metadata
    RUN_DIR/checkpoint.prev.safetensors   the one before (see `save_checkpoint`)

Each file is written to a temporary name in the same folder and renamed into place, so a reader
(or a crash) never sees half a file.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError, RunFailure
from dlcli.files import atomic_write_bytes

if TYPE_CHECKING:
    import torch

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
HISTORY = "history.csv"
METRICS = "metrics.json"
CURVES = "curves.png"
BOUNDARY = "boundary.png"
CHECKPOINT = "checkpoint.safetensors"
RUN_FORMAT = "dlcli-run/1"


def write_json(path: Path, document: Any) -> None:
    atomic_write_bytes(path, (json.dumps(document, indent=2) + "\n").encode())


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: not found; is this a dlcli run folder?") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None


def write_history(path: Path, rows: list[dict]) -> None:
    """history.csv: one row per epoch; columns from the first row."""
    if not rows:
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    atomic_write_bytes(path, buf.getvalue().encode(), fresh=True)


# --- tensors -------------------------------------------------------------------------------------


def tensors_bytes(
    tensors: dict[str, torch.Tensor], metadata: dict[str, Any] | None = None
) -> bytes:
    """A safetensors file's bytes, with our JSON metadata under the key 'dlcli'."""
    from safetensors.torch import save

    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    return save(flat, metadata={"dlcli": json.dumps(metadata or {})})


def save_tensors(
    path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, Any] | None = None
) -> None:
    atomic_write_bytes(path, tensors_bytes(tensors, metadata))


PREV_CHECKPOINT = "checkpoint.prev.safetensors"


def save_checkpoint(run: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, Any]) -> None:
    """Rotate: new -> checkpoint.safetensors, the last one -> checkpoint.prev.safetensors.

    No rename lands on an existing file (that costs an ext4 flush, see `atomic_write`), and at
    every moment one complete checkpoint exists under one of the two names.
    """
    data = tensors_bytes(tensors, metadata)
    current, prev = run / CHECKPOINT, run / PREV_CHECKPOINT
    fd, tmp = tempfile.mkstemp(prefix=f".{CHECKPOINT}.", suffix=".tmp", dir=run)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(prev)
        with contextlib.suppress(FileNotFoundError):
            os.rename(current, prev)
        os.rename(tmp, current)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load_checkpoint(run: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The newest complete checkpoint of a run, or None if it has none."""
    for name in (CHECKPOINT, PREV_CHECKPOINT):
        if (run / name).exists():
            try:
                return load_tensors(run / name)
            except InputError:
                continue  # cut short by a crash: the other one is complete
    return None


def load_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import safe_open

    try:
        tensors = {}
        with safe_open(str(path), framework="pt") as fh:
            metadata = json.loads((fh.metadata() or {}).get("dlcli", "{}"))
            for key in fh.keys():  # noqa: SIM118 (safe_open is not a dict)
                tensors[key] = fh.get_tensor(key)
    except FileNotFoundError:
        raise InputError(f"{path}: not found; is this a dlcli run folder?") from None
    except Exception as exc:  # safetensors raises its own error types
        raise InputError(f"{path}: not a readable safetensors file ({exc})") from None
    return tensors, metadata


def optimizer_tensors(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Split `optimizer.state_dict()` into tensors (for safetensors) and JSON (the rest)."""
    import torch

    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, per_param in state["state"].items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    """Inverse of `optimizer_tensors`."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    for index, values in meta["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}


def prefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}{k}": v for k, v in tensors.items()}


def unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def new_run_dir(out: Path | None, model: str) -> Path:
    """Create the run folder: `out` (must be empty or absent) or runs/<model>-<timestamp>."""
    import time

    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = Path("runs") / f"{model}-{stamp}"
        out, n = base, 1
        while out.exists():
            n += 1
            out = base.with_name(f"{base.name}-{n}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(
            f"--out '{out}' exists and is not an empty folder; choose a new one "
            "(or continue a run with --resume)"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFailure(f"cannot create the run folder '{out}' ({exc})") from None
    return out


# --- pictures (Pillow: ~0.05 s to import, against ~0.8 s for matplotlib) -----------------------

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


def boundary_png(grid_classes, extent: tuple[float, float, float, float], points, labels) -> bytes:
    """Decision regions as ConvNetJS classify2d draws them: each pixel of a grid coloured by the
    predicted class (light), the data points on top (dark, outlined).

    grid_classes: (G, G) int array, row 0 at the top (largest x2); extent: (x1min, x1max, x2min,
    x2max); points: (N, 2) in data coordinates; labels: (N,) class indices.
    """
    import numpy as np
    from PIL import Image, ImageDraw

    size = 480
    light = np.array([[int(255 - (255 - c) * 0.35) for c in rgb] for rgb in _PALETTE], np.uint8)
    img = Image.fromarray(light[grid_classes % len(_PALETTE)], "RGB").resize(
        (size, size), Image.NEAREST
    )
    draw = ImageDraw.Draw(img)
    x1min, x1max, x2min, x2max = extent
    for (a, b), c in zip(points.tolist(), labels.tolist(), strict=True):
        x = (a - x1min) / (x1max - x1min) * size
        y = (x2max - b) / (x2max - x2min) * size
        draw.ellipse(
            (x - 4, y - 4, x + 4, y + 4), fill=_PALETTE[c % len(_PALETTE)], outline="black"
        )
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
