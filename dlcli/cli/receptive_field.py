"""`dlcli receptive-field`: receptive field, effective stride and padding of a chain or network."""

from typing import Annotated

import typer

from dlcli.cli.common import (
    compact_size,
    fail,
    format_size,
    print_json,
    show_table,
    stdout_console,
)
from dlcli.cli.options import ArchOpt, JsonOpt, LayersOpt, QuietOpt


def _parse_unit(text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.replace("x", ",").split(",")]
    if not parts or not all(p.isdigit() for p in parts) or len(parts) > 3:
        fail(f"invalid --unit '{text}': expected I, I,J or I,J,K with non-negative integers")
    from dlcli.layers import parse_int

    return tuple(parse_int(p, "--unit index") for p in parts)


def receptive_field(
    layers: LayersOpt = None,
    arch: ArchOpt = None,
    size: Annotated[
        str | None,
        typer.Option(
            "--size",
            metavar="SIZE",
            help="Input size (N, HxW, DxHxW): adds output sizes and counts units "
            "whose field reaches into padding.",
            show_default=False,
        ),
    ] = None,
    unit: Annotated[
        str | None,
        typer.Option(
            "--unit",
            metavar="I[,J]",
            help="Print the input region one output unit sees.",
            show_default=False,
        ),
    ] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Receptive field, effective stride and effective padding after every layer.

    Output unit i sees input pixels i*stride - padding through that plus field - 1
    (Distill's conventions, Araujo et al. 2019). With --size, "units in padding" counts, per
    dimension, the output rows/columns whose field reaches past the input's edge.

    \b
    Examples:
      dlcli receptive-field --layers conv3,conv3,conv3    # 7x7, like one conv7
      dlcli receptive-field --arch vgg16                  # 212, stride 32, pad 90
      dlcli receptive-field --arch resnet50 --size 224x224 --unit 3,3
    """
    from dlcli.calculators.receptive_field import receptive_field as backend

    result = backend(
        layers, arch=arch, size=size, unit=_parse_unit(unit) if unit is not None else None
    )
    if json_out:
        print_json(result.to_dict())
    elif quiet:
        print(compact_size(result.receptive_field))
    else:
        _render(result, title=arch)


def _render(result, title: str | None) -> None:
    from rich.table import Table

    sized = result.input is not None
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right", style="dim")
    table.add_column("layer")
    if sized:
        table.add_column("output", justify="right")
    table.add_column("field", justify="right")
    table.add_column("stride", justify="right")
    table.add_column("padding", justify="right")
    if sized:
        table.add_column("units in padding", justify="right")
    if sized:
        ones = format_size((1,) * len(result.input))
        table.add_row(
            "",
            "input",
            format_size(result.input),
            ones,
            ones,
            format_size((0,) * len(result.input)),
            "",
        )
    for layer in result.layers:
        row = [str(layer.index), layer.spec]
        if sized:
            row.append(format_size(layer.output))
        row += [
            format_size(layer.receptive_field),
            format_size(layer.effective_stride),
            format_size(layer.effective_padding),
        ]
        if sized:
            row.append(format_size(layer.units_in_padding))
        table.add_row(*row)
    console = stdout_console()
    show_table(table, console)
    r, s, p = result.receptive_field, result.effective_stride, result.effective_padding
    single = (
        f"conv{compact_size(r)}"
        + (f"s{compact_size(s)}" if any(v != 1 for v in s) else "")
        + (f"p{compact_size(p)}" if any(p) else "")
    )
    console.print(
        f"Each output unit sees {format_size(r)} input pixels (effective stride {compact_size(s)}, "
        f"effective padding {compact_size(p)}): the same field as one {single}.",
        soft_wrap=True,
    )
    if result.unit is not None:
        u = result.unit
        region = " x ".join(f"{a}..{b}" for a, b in zip(u.start, u.end, strict=True))
        note = ""
        if u.in_padding:
            note = " (reaches into the padding)"
        console.print(
            f"Output unit {format_size(u.index)} sees input {region}{note}.", soft_wrap=True
        )
