"""The table `featsize --model` prints: one row per module (and functional call), then totals."""

from __future__ import annotations

from typing import Any

from dlcli.cli.common import show_table, stderr_console, stdout_console


def _shape(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_shape(v)}" for k, v in value.items())
    if value and all(isinstance(v, int) for v in value):
        return "x".join(map(str, value))
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value) is False:
        return "(" + ", ".join(_shape(v) for v in value) + ")"
    return "x".join(map(str, value)) or "scalar"


def _si(n: int) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(n)


def render_inspection(result: Any, quiet: bool = False) -> None:
    """The rows (unless `quiet`), the totals, then notes and uncounted ops on stderr."""
    from rich.table import Table

    from dlcli.files import human_bytes

    if not quiet:
        table = Table(
            title=f"{result.model}: {_shape(result.input)} -> {_shape(result.output)}",
            title_justify="left",
        )
        table.add_column("name")
        table.add_column("type")
        table.add_column("output", justify="right")
        table.add_column("params", justify="right")
        table.add_column("MACs", justify="right")
        for row in result.layers:
            indent = "  " * max(0, row.depth - 1)
            table.add_row(
                indent + row.name, row.type, _shape(row.output), f"{row.params:,}", f"{row.macs:,}"
            )
        show_table(table)
    totals = Table(show_header=False, box=None, pad_edge=False)
    totals.add_column("what")
    totals.add_column("value", justify="right")
    totals.add_column("note")
    totals.add_row("params", f"{result.params:,}", f"trainable {result.trainable_params:,}")
    totals.add_row("buffers", f"{result.buffers:,}", "values (batch-norm statistics and the like)")
    totals.add_row("param bytes", f"{result.param_bytes:,}", human_bytes(result.param_bytes))
    totals.add_row("MACs", f"{result.macs:,}", f"{_si(result.macs)} multiply-adds")
    totals.add_row(
        "FLOPs", f"{result.flops:,}", f"{_si(result.flops)}: 2 per multiply-add, plus elementwise"
    )
    totals.add_row(
        "activations",
        f"{result.activation_bytes:,}",
        f"{human_bytes(result.activation_bytes)} of op outputs at batch {result.input[0]}",
    )
    totals.add_row(
        "activation peak",
        f"{result.activation_peak_bytes:,}",
        f"{human_bytes(result.activation_peak_bytes)} alive at once",
    )
    show_table(totals, stdout_console())
    err = stderr_console()
    for note in result.notes:
        err.print(f"note: {note}", soft_wrap=True, markup=False)
    if result.uncounted:
        ops = ", ".join(f"{op} x{n}" for op, n in result.uncounted.items())
        err.print(
            f"note: uncounted (no FLOP rule; their FLOPs are missing from the totals): {ops}",
            soft_wrap=True,
            markup=False,
        )
