"""`dlcli evaluate RUN_DIR` and `dlcli predict RUN_DIR INPUT...`: use a trained run folder."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dlcli.cli.common import print_json, show_table, stdout_console
from dlcli.cli.options import JsonOpt, QuietOpt
from dlcli.cli.run_options import DeviceOpt, RunDirArg, TargetOpt


def evaluate(
    run_dir: RunDirArg,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            metavar="NAME|PATH",
            help="Labelled data to score (default: the run's own held-out test split).",
            show_default=False,
        ),
    ] = None,
    target: TargetOpt = None,
    device: DeviceOpt = "auto",
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Accuracy, loss, per-class precision/recall and the confusion matrix of a trained run
    (a regression run: MSE, RMSE, MAE, R² and its residuals' statistics per target).

    With no --data it scores the run's own test split and reproduces its test_accuracy.

    \b
    Examples:
      dlcli evaluate runs/mlp-20260101-120000
      dlcli evaluate runs/mine --data more.csv --json
    """
    import dlcli

    result = dlcli.evaluate(run_dir, data, target=target, device=device).to_dict()
    if json_out:
        print_json(result)
    elif quiet:
        print(result["r2"] if result.get("task") == "regression" else result["accuracy"])
    elif result.get("task") == "regression":
        _render_regression(result)
    else:
        _render_evaluation(result)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _render_evaluation(r: dict[str, Any]) -> None:
    from rich.table import Table

    console = stdout_console()
    console.print(
        f"{r['model']} from {r['run']} on {r['data']}: accuracy {r['accuracy']:.4f}, "
        f"loss {r['loss']:.4f}, n {r['n']}"
    )
    table = Table(title="per class", title_justify="left")
    for col in ("class", "precision", "recall", "support"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for row in r["per_class"]:
        table.add_row(
            row["class"], _fmt(row["precision"]), _fmt(row["recall"]), str(row["support"])
        )
    show_table(table, console)
    matrix = Table(
        title="confusion matrix (rows: true class, columns: predicted)", title_justify="left"
    )
    matrix.add_column("", style="bold")
    for name in r["classes"]:
        matrix.add_column(name, justify="right")
    for name, row in zip(r["classes"], r["confusion"], strict=True):
        matrix.add_row(name, *(str(v) if v else "." for v in row))
    show_table(matrix, console)


def _render_regression(r: dict[str, Any]) -> None:
    """A regression run's metrics, then its residuals (y - predicted) per target."""
    from rich.table import Table

    console = stdout_console()
    console.print(
        f"{r['model']} from {r['run']} on {r['data']}: MSE {_fmt(r['mse'])}, RMSE "
        f"{_fmt(r['rmse'])}, MAE {_fmt(r['mae'])}, R² {_fmt(r['r2'])}, loss {r['loss']:.4f}, "
        f"n {r['n']}"
    )
    table = Table(title="residuals (true - predicted)", title_justify="left")
    columns = ("mean", "std", "min", "q05", "q25", "q50", "q75", "q95", "max")
    table.add_column("target")
    for col in columns:
        table.add_column(col, justify="right")
    for row in r["residuals"]:
        table.add_row(row["target"], *(_fmt(row[c]) for c in columns))
    show_table(table, console)


def predict(
    run_dir: RunDirArg,
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="INPUT...",
            help="CSV rows, an .npz (array x), image files or a folder of images.",
            show_default=False,
        ),
    ],
    top: Annotated[int, typer.Option("--top", "-k", help="Show the K most likely classes.")] = 1,
    device: DeviceOpt = "auto",
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Predicted class and probability (softmax of the scores) for each input; a regression
    run's predicted numbers, one per target, in the targets' units.

    \b
    Examples:
      dlcli predict runs/mine new.csv
      dlcli predict runs/cnn photos/cat.png photos/dog.jpg --top 3 --json
    """
    import dlcli

    result = dlcli.predict(run_dir, inputs, top=top, device=device).to_dict()
    if json_out:
        print_json(result)
        return
    targets = result.get("targets")
    if quiet:  # the predicted class (regression: the numbers) of each input, one per line
        print("\n".join(_predicted(p, targets) for p in result["predictions"]))
        return
    from rich.table import Table

    if targets is not None:
        table = Table(title=f"{result['model']} from {result['run']}", title_justify="left")
        table.add_column("input")
        for name in targets:
            table.add_column(name, justify="right")
        for p in result["predictions"]:
            table.add_row(p["input"], *(f"{v:.6g}" for v in p["prediction"]))
        show_table(table)
        return

    table = Table(title=f"{result['model']} from {result['run']}", title_justify="left")
    table.add_column("input")
    table.add_column("class")
    table.add_column("probability", justify="right")
    for p in result["predictions"]:
        others = p.get("top", [])[1:]
        extra = "".join(f"\n  {o['class']}" for o in others)
        probs = "".join(f"\n{o['probability']:.4f}" for o in others)
        table.add_row(p["input"], p["class"] + extra, f"{p['probability']:.4f}" + probs)
    show_table(table)


def _predicted(p: dict[str, Any], targets: list[str] | None) -> str:
    """One input's prediction as -q prints it: the class, or the numbers (comma-separated)."""
    return p["class"] if targets is None else ",".join(f"{v:.9g}" for v in p["prediction"])
