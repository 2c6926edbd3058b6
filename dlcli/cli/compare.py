"""`dlcli compare RUN_OR_SWEEP...`: runs side by side (also the table a sweep ends with)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from dlcli.cli.common import print_json, show_table
from dlcli.cli.options import JsonOpt

# metric -> column header, in the order the table shows them
COLUMNS = {
    "train_accuracy": "train acc",
    "val_accuracy": "val acc",
    "test_accuracy": "test acc",
    "train_r2": "train R²",
    "val_r2": "val R²",
    "test_r2": "test R²",
    "train_rmse": "train RMSE",
    "val_rmse": "val RMSE",
    "test_rmse": "test RMSE",
    "test_mae": "test MAE",
    "train_loss": "train loss",
    "val_loss": "val loss",
    "test_loss": "test loss",
    "best_epoch": "best epoch",
    "seconds": "seconds",
}


def plural(n: int, noun: str) -> str:
    """'1 run', '3 runs'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _number(value: float, metric: str, digits: int) -> str:
    """Epochs are counts: 22, not 22.0 (a mean over seeds keeps one decimal: 12.5)."""
    if metric == "best_epoch" and float(value).is_integer():
        return str(int(value))
    return f"{value:.{digits}f}"


def _cell(row: dict[str, Any], metric: str) -> str:
    value, std = row.get(metric), row.get(f"{metric}_std")
    if value is None:
        return "-"
    digits = 1 if metric in ("best_epoch", "seconds") else (4 if std is None else 3)
    text = _number(value, metric, digits)
    return text if std is None else f"{text} ± {_number(std, metric, digits)}"


def shown_metrics(rows: list[dict[str, Any]], patience: bool) -> list[str]:
    """The metric columns that mean something for these rows: each with a value in some row,
    and the best epoch only where --patience chose the weights (else it is the last epoch's)."""
    return [
        m
        for m in COLUMNS
        if any(row.get(m) is not None for row in rows) and (m != "best_epoch" or patience)
    ]


def render_rows(
    title: str, knobs: list[str], rows: list[dict[str, Any]], patience: bool = False
) -> None:
    """One row per run (or per combination, with mean ± std): its knobs, then the metrics."""
    from rich.table import Table

    from dlcli.training.compare import show

    metrics = shown_metrics(rows, patience) or ["test_accuracy"]  # a column for the status
    table = Table(title=title, title_justify="left")
    for knob in knobs:
        table.add_column(knob.replace("_", "-"))
    seeds = any(row.get("runs", 1) > 1 for row in rows)
    if seeds:
        table.add_column("runs", justify="right")
    for metric in metrics:
        table.add_column(COLUMNS[metric], justify="right")
    for row in rows:
        cells = [show(row["knobs"].get(k)) for k in knobs]
        if seeds:
            cells.append(str(row["runs"]))
        if row.get("status", "done") != "done":
            cells.append(row["status"])
            cells += [""] * (len(metrics) - 1)
        else:
            cells += [_cell(row, m) for m in metrics]
        table.add_row(*cells)
    show_table(table)  # never cuts a number: plain columns where the table cannot fit


def compare(
    paths: Annotated[
        list[str],
        typer.Argument(
            metavar="RUN_OR_SWEEP...",
            help="Run folders, or sweep folders (their runs).",
            show_default=False,
        ),
    ],
    sort: Annotated[
        str | None,
        typer.Option(
            "--sort",
            metavar="KEY",
            help="Order by a metric (accuracies and R² best first: highest; losses and errors "
            "lowest first) or a knob.",
            show_default=False,
        ),
    ] = None,
    plot: Annotated[
        str | None,
        typer.Option(
            "--plot",
            metavar="FILE",
            help="Write every run's validation curves to FILE (a .png) and, for 2-D data, "
            "their decision regions to FILE-boundaries.png.",
            show_default=False,
        ),
    ] = None,
    json_out: JsonOpt = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Only the result: the run folders, one a line, in the table's order (the JSON "
            "document with --json).",
        ),
    ] = False,
) -> None:
    """Compare runs: the knobs that differ between them as columns, then their metrics.

    \b
    Examples:
      dlcli compare runs/neurons
      dlcli compare runs/a runs/b runs/c --sort test_accuracy --plot compare.png
      dlcli compare runs/lambda --json
      dlcli compare runs/neurons --sort test_accuracy -q | head -1
    """
    import dlcli

    result = dlcli.compare(paths, sort=sort, plot=plot)
    if json_out:
        print_json(result.to_dict())
        return
    if quiet:
        for row in result.runs:
            print(row["out"])
        return
    render_rows(plural(len(result.runs), "run"), result.knobs, result.runs, result.patience)
    for path in result.plots:
        print(f"wrote {path}", file=sys.stderr)
