"""`dlcli compare`: runs side by side, the knobs that differ between them and their metrics.

    >>> import dlcli
    >>> dlcli.compare(["runs/neurons"], sort="test_accuracy").to_dict()["runs"]  # doctest: +SKIP

A path is a run folder (config.json) or a folder of runs (a sweep's `--out`: each subfolder
that is a run, in the sweep's order). The knobs are every field of config.json's model_config,
data and train, flattened to the names `dlcli.train` takes (`data` for the data source); the
ones whose values differ between the runs are the comparison's columns. The metrics come from
each run's metrics.json (None for a run that has not finished). Pure file reading: no torch.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlcli.errors import InputError
from dlcli.files import atomic_write_bytes
from dlcli.outputs import check_output
from dlcli.training.runs import files as rd
from dlcli.training.runs import state as rs

# what a comparison shows of each run, in this order (metrics.json's names)
METRICS = (
    "train_accuracy",
    "val_accuracy",
    "test_accuracy",
    "train_loss",
    "val_loss",
    "test_loss",
    "best_epoch",
    "seconds",
)
# a regression run's (metrics.json's names; R² best when highest, the errors when lowest)
REGRESSION_METRICS = (
    *(f"{split}_{m}" for m in ("r2", "rmse", "mae", "mse") for split in ("train", "val", "test")),
    *(m for m in METRICS if not m.endswith("accuracy")),
)


def metrics_for(documents: Sequence[dict[str, Any] | None]) -> tuple[str, ...]:
    """The metric names of these runs' metrics.json documents: a classification's, a
    regression's, or both where the runs mix the tasks."""
    tasks = {(d or {}).get("task", "classification") for d in documents if d}
    if tasks == {"regression"}:
        return REGRESSION_METRICS
    if "regression" in tasks:
        return (
            *METRICS[:3],
            *(m for m in REGRESSION_METRICS if m not in METRICS[3:]),
            *METRICS[3:],
        )
    return METRICS


SWEEP_JSON = "sweep.json"
SWEEP_CURVES = "curves.png"
SWEEP_BOUNDARIES = "boundaries.png"


def flat_config(raw: dict[str, Any]) -> dict[str, Any]:
    """config.json -> {knob: value} by `dlcli.train`'s names (lists stay lists)."""
    knobs: dict[str, Any] = {"model": raw["model"]}
    knobs |= {k: v for k, v in raw["model_config"].items() if k != "vocab"}  # filled from data
    knobs |= {("data" if k == "source" else k): v for k, v in raw["data"].items()}
    knobs |= raw["train"]
    return knobs


def show(value: Any) -> str:
    """A knob's value as the command line spells it (hidden [128, 64] -> '128,64', [] -> '0')."""
    if isinstance(value, list | tuple):
        return ",".join(map(str, value)) or "0"
    if isinstance(value, float):
        return f"{value:g}"
    return "-" if value is None else str(value)


def label(knobs: dict[str, Any]) -> str:
    """'hidden=6,weight-decay=0.1': the knobs as flags (also a sweep's folder names)."""
    return ",".join(f"{k.replace('_', '-')}={show(v)}" for k, v in knobs.items())


@dataclass
class RunInfo:
    """One run folder as a comparison reads it."""

    out: Path
    config: dict[str, Any]
    metrics: dict[str, Any] | None

    state: str = rs.FINISHED  # runs.state.run_state's

    @property
    def status(self) -> str:
        if self.metrics is not None:
            return "done"
        status = str(self.config.get("status", "unknown"))
        return "resumable" if self.state == rs.RESUMABLE and status == "running" else status

    def history(self) -> list[dict]:
        path = self.out / rd.HISTORY
        if not path.exists():
            return []
        return list(csv.DictReader(io.StringIO(rd.read_text(path), newline="")))


def read_run(folder: Path) -> RunInfo:
    """A run folder's config and, if it is finished (`runs.state.run_state`), its metrics."""
    state = rs.run_state(folder)
    if not (folder / rd.CONFIG).exists():
        raise InputError(f"{folder / rd.CONFIG}: not found; is this a dlcli run folder?")
    config = rd.read_json(folder / rd.CONFIG)
    metrics = rd.read_json(folder / rd.METRICS) if state.state == rs.FINISHED else None
    if metrics is not None and not isinstance(metrics, dict):
        raise InputError(f"{folder / rd.METRICS}: not a JSON object")
    return RunInfo(folder, config, metrics, state.state)


def run_folders(path: Path) -> list[Path]:
    """A run folder itself, or the runs inside a sweep folder (in the sweep's order)."""
    path = Path(path)
    if os.path.lexists(path / rd.CONFIG):  # read_run says what is wrong with it, if anything
        return [path]
    if not path.is_dir():
        if os.path.lexists(path):
            raise InputError(f"'{path}' is not a folder: expected a run folder or a sweep folder")
        raise InputError(f"'{path}' not found: expected a run folder or a sweep folder")
    found = sorted(p for p in path.iterdir() if os.path.lexists(p / rd.CONFIG))
    sweep = path / SWEEP_JSON
    if sweep.is_file():  # the sweep's own order (3, 6, 20 rather than 20, 3, 6)
        document = rd.read_json(sweep)
        runs = document.get("runs", []) if isinstance(document, dict) else []
        order = [Path(r["out"]).name for r in runs if isinstance(r, dict) and "out" in r]
        rank = {name: i for i, name in enumerate(order)}
        found.sort(key=lambda p: rank.get(p.name, len(rank)))
    if not found:
        raise InputError(f"'{path}' holds no run folders (no config.json in it or below it)")
    return found


@dataclass
class CompareResult:
    """Runs with the knobs that differ between them; `to_dict()` is `compare --json`."""

    knobs: list[str]
    runs: list[dict[str, Any]]
    plots: list[str] = field(default_factory=list)
    patience: bool = False  # some run stopped by --patience (so its best epoch is a result)

    def to_dict(self) -> dict[str, Any]:
        return {"knobs": self.knobs, "runs": self.runs, "plots": self.plots}


def differing(configs: list[dict[str, Any]]) -> list[str]:
    """The keys (in first-seen order) whose values are not the same in every config."""
    keys: list[str] = []
    for c in configs:
        keys += [k for k in c if k not in keys]
    return [k for k in keys if len({json.dumps(c.get(k)) for c in configs}) > 1]


def sort_rows(
    rows: list[dict[str, Any]],
    key: str,
    knobs: list[str],
    metrics: tuple[str, ...] = METRICS,
) -> list[dict[str, Any]]:
    """By a metric (accuracies and R² best first: highest; losses and errors best first:
    lowest; `tasks.higher_is_better`) or a knob (ascending); None last."""
    from dlcli.training.engine.tasks import higher_is_better

    valid = [*metrics, *knobs]
    if key not in valid:
        raise InputError(f"invalid --sort '{key}': expected one of {', '.join(valid)}")
    descending = key in metrics and higher_is_better(key)

    def value(row: dict[str, Any]) -> Any:
        return row[key] if key in metrics else row["knobs"].get(key)

    present = [r for r in rows if value(r) is not None]
    missing = [r for r in rows if value(r) is None]
    try:
        present.sort(key=value, reverse=descending)
    except TypeError:  # mixed types (e.g. a knob unset in some runs): compare as text
        present.sort(key=lambda r: show(value(r)), reverse=descending)
    return present + missing


def compare(
    paths: list[str | Path] | str | Path,
    sort: str | None = None,
    plot: str | Path | None = None,
) -> CompareResult:
    """Read run (or sweep) folders; `plot` writes the overlaid curves there (and, for 2-D data,
    the boundaries grid beside it as STEM-boundaries.png)."""
    if isinstance(paths, str | Path):
        paths = [paths]
    if not paths:
        raise InputError("compare needs at least one run or sweep folder")
    figures = None if plot is None else plot_targets(plot)  # refused before anything is read
    folders = [f for p in paths for f in run_folders(Path(p))]
    runs = [read_run(f) for f in dict.fromkeys(folders)]
    configs = [flat_config(r.config) for r in runs]
    knobs = differing(configs)
    names = metrics_for([r.metrics for r in runs])
    rows = [
        run_row(r, {k: c.get(k) for k in knobs}, names) for r, c in zip(runs, configs, strict=True)
    ]
    if sort is not None:
        rows = sort_rows(rows, sort, knobs, names)
    plots: list[str] = []
    if figures is not None:
        by_out = {str(r.out): r for r in runs}
        ordered = [(by_out[row["out"]], label(row["knobs"]) or row["out"]) for row in rows]
        try:
            plots = write_figures(ordered, *figures)
        except OSError as exc:  # the folder turned read-only, a full disk: nothing is left half
            raise InputError(f"--plot '{plot}': cannot write it ({exc.strerror or exc})") from None
    patience = any(_patience(r.config) for r in runs)
    return CompareResult(knobs, _utf8(rows), plots, patience)


def _patience(config: dict[str, Any]) -> bool:
    train = config.get("train")
    return isinstance(train, dict) and bool(train.get("patience"))


def _utf8(value: Any) -> Any:
    """`value` with every string valid UTF-8: a path's undecodable bytes (Python keeps them as
    lone surrogates, which JSON cannot carry) become U+FFFD."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return value
    if isinstance(value, dict):
        return {_utf8(k): _utf8(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_utf8(v) for v in value]
    return value


def plot_targets(plot: str | Path) -> tuple[Path, Path]:
    """--plot FILE.png and FILE-boundaries.png beside it, both past `dlcli.outputs.check_output`
    (a .png name, in an existing writable folder outside any run or sweep folder, never over a
    device, FIFO, folder or link): InputError before anything is written."""
    curves = check_output(plot, "--plot", suffix=".png")
    boundaries = curves.with_name(f"{curves.name[: -len('.png')]}-boundaries.png")
    check_output(boundaries, "--plot's boundaries file")
    return curves, boundaries


def run_row(
    run: RunInfo, knobs: dict[str, Any], names: tuple[str, ...] = METRICS
) -> dict[str, Any]:
    metrics = run.metrics or {}
    return {
        "out": str(run.out),
        "status": run.status,
        "knobs": knobs,
        **{m: metrics.get(m) for m in names},
    }


def write_figures(
    runs: list[tuple[RunInfo, str]], curves: Path, boundaries: Path, train: bool = False
) -> list[str]:
    """curves (every run's validation curves; `train`: the training ones too, dashed) and, when
    every run drew a boundary.png, the boundaries grid; returns the paths written."""
    from dlcli.training.plots import boundary_grid_png, curves_overlay_png

    written = []
    with_history = [(name, h) for run, name in runs if (h := run.history())]
    if with_history:
        atomic_write_bytes(curves, curves_overlay_png(with_history, train))
        written.append(str(curves))
    pictures = [(run, name) for run, name in runs if (run.out / rd.BOUNDARY).is_file()]
    if pictures and len(pictures) == len(runs):
        tiles = []
        for run, name in pictures:
            metrics = run.metrics or {}
            regression = metrics.get("task") == "regression"
            key, label = (
                ("test_r2", "test R²") if regression else ("test_accuracy", "test accuracy")
            )
            value = metrics.get(key)
            caption = f"{label} " + ("-" if value is None else f"{value:.3f}")
            tiles.append(((run.out / rd.BOUNDARY).read_bytes(), f"{name}\n{caption}"))
        atomic_write_bytes(boundaries, boundary_grid_png(tiles))
        written.append(str(boundaries))
    return written
