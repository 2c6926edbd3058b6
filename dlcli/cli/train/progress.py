"""What `dlcli train` shows: progress (a Rich bar on a terminal, one line per epoch in a log),
the layer table before training and the result table after it. Rendering only: no training."""

from __future__ import annotations

import sys
from typing import Any

from dlcli.cli.common import show_table, stderr_console, stdout_console, warn
from dlcli.training.engine.callbacks import Callback
from dlcli.training.engine.tasks import REGRESSION_METRICS


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _metrics(r: dict[str, Any]) -> tuple[str, ...]:
    """The metric columns of a run's task (metrics.json's "task")."""
    return REGRESSION_METRICS if r.get("task") == "regression" else ("accuracy",)


def render_result(r: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(
        title=f"{r['model']} on {r['data']}: {r['epochs']} epochs, {r['seconds']:.1f} s",
        title_justify="left",
    )
    table.add_column("split")
    table.add_column("examples", justify="right")
    table.add_column("loss", justify="right")
    metrics = _metrics(r)
    for metric in metrics:
        table.add_column("R²" if metric == "r2" else metric.upper() if metric != "accuracy"
                         else metric, justify="right")  # fmt: skip
    for name in ("train", "val", "test"):
        cells = [_fmt(r.get(f"{name}_{m}")) for m in metrics]
        table.add_row(name, str(r[f"n_{name}"]), _fmt(r[f"{name}_loss"]), *cells)
    console = stdout_console()
    show_table(table, console)
    best = f", best epoch {r['best_epoch']}" if r["best_epoch"] else ""
    early = " (stopped early)" if r["stopped_early"] else ""
    console.print(
        f"parameters {r['params']:,}, device {r['device']}{best}{early}; run folder {r['out']}"
    )


def progress(tty: bool) -> LogProgress:
    """The CLI's progress callback: a Rich bar on a terminal, one line per epoch in a log."""
    return BarProgress() if tty else LogProgress()


class LogProgress(Callback):
    """One line per epoch on stderr (logs, pipes); the layer table as plain text first."""

    bar: Any = None

    def on_train_begin(self, info: dict[str, Any]) -> None:
        for note in info.get("notes", []):  # data warnings, e.g. skipped rows
            warn(note)
        if info["layers"]:  # plain text: no Rich to import (~60 ms of a short run)
            print(_plain_layer_table(info), file=sys.stderr)
        print(_start_line(info), file=sys.stderr, flush=True)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        print(_epoch_line(epoch, logs), file=sys.stderr, flush=True)

    def close(self) -> None:
        """Give the terminal back (the bar's); called whatever happened."""


class BarProgress(LogProgress):
    """A terminal: Rich bars for epochs and batches, each epoch's line kept above them."""

    def on_train_begin(self, info: dict[str, Any]) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        for note in info.get("notes", []):
            warn(note)
        console = stderr_console()
        if info["layers"]:
            _layer_table(console, info)
        console.print(_start_line(info))
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
            transient=True,
        )
        self.bar.start()
        self.epochs = self.bar.add_task(
            "epochs", total=info["epochs"], completed=info["first_epoch"], status=""
        )
        self.batches = self.bar.add_task("batches", total=info["batches"], status="")

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        self.bar.reset(self.batches, total=logs["batches"], status="")

    # Only the terminal bar hooks into batches (a per-batch loss costs a device sync).
    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        self.bar.update(self.batches, completed=logs["batch"], status=f"loss {logs['loss']:.4f}")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        self.bar.console.print(_epoch_line(epoch, logs), highlight=False)  # as Keras does
        self.bar.update(self.epochs, completed=epoch + 1, status="")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


class RunLines(Callback):
    """A sweep's line per run on stderr ("run 2/4: hidden=6,weight-decay=0.1"); in parallel
    sweeps, one line per finished run instead of the runs' own progress."""

    def __init__(self, epochs: LogProgress, parallel: bool) -> None:
        self.epochs, self.parallel = epochs, parallel

    def on_run_begin(self, index: int, total: int, name: str, logs: dict[str, Any]) -> None:
        note = {"keep": " (finished: kept)", "failed": " (failed: kept)", "resume": " (resumed)"}
        print(f"run {index + 1}/{total}: {name}{note.get(logs['action'], '')}",
              file=sys.stderr, flush=True)  # fmt: skip

    def on_run_end(self, index: int, total: int, name: str, logs: dict[str, Any]) -> None:
        self.epochs.close()  # a terminal bar per run
        r = logs["result"]
        if self.parallel:
            outcome = (
                f"failed: {r['error']}" if "error" in r else f"{_headline(r)}, {r['seconds']:.1f} s"
            )
            print(f"run {index + 1}/{total} done: {name}: {outcome}", file=sys.stderr, flush=True)

    def close(self) -> None:
        """Nothing of its own to give back."""


def _start_line(info: dict[str, Any]) -> str:
    start = f", from epoch {info['first_epoch'] + 1}" if info["first_epoch"] else ""
    return (
        f"training {info['model']} ({info['params']:,} parameters) on "
        f"{info['n_train']} examples, validating on {info['n_val']}, "
        f"device {info['device']}{start}; run folder {info['out']}"
    )


def _headline(r: dict[str, Any]) -> str:
    """A finished run in a few words: its test accuracy, or its test R² and RMSE."""
    if r.get("task") == "regression":
        return f"test R² {_fmt(r.get('test_r2'))}, RMSE {_fmt(r.get('test_rmse'))}"
    return f"test accuracy {_fmt(r['test_accuracy'])}"


# the epoch line's metrics: (history key, label) per task
_EPOCH_METRICS = {
    "classification": (("accuracy", "acc"),),
    "regression": (("rmse", "rmse"), ("r2", "r2")),
}


def _epoch_line(epoch: int, logs: dict[str, Any]) -> str:
    shown = _EPOCH_METRICS["regression" if "r2" in logs else "classification"]
    line = f"epoch {epoch + 1}/{logs['epochs']}  loss {logs['loss']:.4f}"
    line += "".join(f"  {label} {_fmt(logs[key])}" for key, label in shown)
    if logs["val_loss"] is not None:
        line += f"  val_loss {logs['val_loss']:.4f}"
        line += "".join(f"  val_{label} {_fmt(logs['val_' + key])}" for key, label in shown)
    return line + f"  {logs['seconds']:.2f}s"


def _layer_rows(info: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(#, layer, output, params) rows of the `describe` table, the total last. Layers are
    numbered from 1 in every family, as featsize numbers them; the input row has no number."""
    rows, total, number = [], 0, 0
    for row in info["layers"]:
        params = row["params"]
        total += params or 0
        number += row["layer"] != "input"
        rows.append(
            (
                "" if row["layer"] == "input" else str(number),
                row["layer"],
                "x".join(str(d) for d in row["output"] if d is not None),
                "" if params is None else f"{params:,}",
            )
        )
    rows.append(("", "total", "", f"{total:,}"))
    return rows


def _plain_layer_table(info: dict[str, Any]) -> str:
    head = ("#", "layer", "output", "params")
    rows = _layer_rows(info)
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    lines = [f"{info['model']}: input {'x'.join(map(str, info['input_shape']))}"]
    for r in [head, *rows]:
        lines.append(
            f"{r[0]:>{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}"
        )
    return "\n".join(lines)


def _layer_table(console, info: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(
        title=f"{info['model']}: input {'x'.join(map(str, info['input_shape']))}",
        title_justify="left",
    )
    table.add_column("#", justify="right", style="dim")
    table.add_column("layer")
    table.add_column("output", justify="right")
    table.add_column("params", justify="right")
    rows = _layer_rows(info)
    for row in rows[:-1]:
        table.add_row(*row)
    table.add_section()
    table.add_row(*rows[-1])
    show_table(table, console)
