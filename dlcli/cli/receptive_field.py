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
from dlcli.cli.options import (
    MODEL_PANEL,
    ArchOpt,
    InputShapeOpt,
    JsonOpt,
    LayersOpt,
    ModelOpt,
    QuietOpt,
)


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
    model: ModelOpt = None,
    input_shape: InputShapeOpt = None,
    node: Annotated[
        list[str] | None,
        typer.Option(
            "--node",
            "-n",
            metavar="NAME",
            help="--model: a qualified module name to report (repeatable; default: the top-level "
            "children and the output).",
            rich_help_panel=MODEL_PANEL,
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
      dlcli receptive-field --model torchvision.models:resnet50 --input 3x224x224
      dlcli receptive-field --model net.py:Net --input 3x64x64 --node layer2.0
    """
    if model is not None:
        if layers is not None or arch is not None or size is not None or unit is not None:
            fail("--model cannot be combined with --layers, --arch, --size or --unit")
        _model_fields(model, input_shape, node, json_out, quiet)
        return
    if input_shape is not None or node:
        fail("--input and --node go with --model REF")
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


def _model_fields(ref: str, input_shape, nodes, json_out: bool, quiet: bool) -> None:
    from dlcli.modelfield import model_receptive_fields

    result = model_receptive_fields(ref, input_shape, nodes)
    if json_out:
        print_json(result.to_dict())
        return
    if quiet:
        for n in result.nodes:
            print(f"{n.name}\t{_cell(n.rf) if n.unknown is None else '?'}")
        return
    _render_model(result)


def _cell(values) -> str:
    if values is None or all(v is None for v in values):
        return "-"
    return "x".join("-" if v is None else f"{v:g}" for v in values)


def _render_model(result) -> None:
    from rich.table import Table

    input_size = "x".join(map(str, result.input))
    table = Table(title=f"{result.model} at {input_size}", title_justify="left")
    for column in ("node", "type", "output", "field", "stride", "padding", "aligned"):
        table.add_column(column, justify="left" if column in ("node", "type") else "right")
    table.add_column("note")
    for n in result.nodes:
        output = "x".join(map(str, n.output[1:])) if n.output else "-"
        if n.unknown is not None:
            table.add_row(n.name, n.type or "", output, "?", "?", "?", "", n.unknown)
            continue
        note = "global: sees the whole input" if n.is_global else _paths_note(n)
        aligned = "yes" if n.aligned else "no"
        row = [_cell(n.rf), _cell(n.stride), _cell(n.padding), aligned, note]
        table.add_row(n.name, n.type or "", output, *row)
    console = stdout_console()
    show_table(table, console)
    for note in result.notes:
        console.print(f"Note: {note}", soft_wrap=True)


def _paths_note(n) -> str:
    """'3 path classes, centre offsets 0/0.5' (per axis where the axes differ)."""
    paths = n.extra.get("paths") or []
    notes = []
    if any(paths):
        count = max(len(p) for p in paths if p)
        per_axis = [
            "/".join(
                _cell([o]) for o in sorted({p["offset"] for p in axis if p["offset"] is not None})
            )
            if axis
            else "0"
            for axis in paths
        ]
        offsets = per_axis[0] if len(set(per_axis)) == 1 else " x ".join(per_axis)
        notes.append(f"{count} path classes, centre offsets {offsets}")
    if n.extra.get("period"):
        notes.append(f"fields repeat every {_cell(n.extra['period'])} units")
    return "; ".join(notes)
