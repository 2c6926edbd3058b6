"""`dlcli featsize`: output sizes of conv / pool / transposed-conv layers and chains."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated

import typer

from dlcli.cli.common import (
    fail,
    format_size,
    print_json,
    show_table,
    stderr_console,
    stdout_console,
)
from dlcli.cli.options import ArchOpt, JsonOpt, LayersOpt, QuietOpt
from dlcli.errors import InputError
from dlcli.inspection import DEFAULT_BATCH, DEFAULT_DEPTH  # no torch at its top

MODEL_PANEL = "Any PyTorch model"


class Kind(str, Enum):
    conv = "conv"
    deconv = "deconv"
    maxpool = "maxpool"
    avgpool = "avgpool"


def featsize(
    size: Annotated[
        str | None,
        typer.Argument(
            metavar="[SIZE]",
            help="Input size: N, HxW or DxHxW; '-' reads one size per line from stdin "
            "(not with --model: give --input).",
            show_default=False,
        ),
    ] = None,
    kernel: Annotated[
        str | None, typer.Option("--kernel", "-k", metavar="K", help="Kernel size (3 or 3x5).")
    ] = None,
    stride: Annotated[
        str | None,
        typer.Option(
            "--stride",
            "-s",
            metavar="S",
            help="Stride (default: 1; pools: the kernel).",
            show_default=False,
        ),
    ] = None,
    padding: Annotated[
        str | None,
        typer.Option(
            "--padding",
            "-p",
            metavar="P",
            help="Padding: N, 'same' or 'valid' (default: 0).",
            show_default=False,
        ),
    ] = None,
    dilation: Annotated[
        str | None,
        typer.Option(
            "--dilation", "-d", metavar="D", help="Dilation (default: 1).", show_default=False
        ),
    ] = None,
    kind: Annotated[
        Kind, typer.Option("--type", "-t", help="Layer type of the -k layer.", case_sensitive=False)
    ] = Kind.conv,
    output_padding: Annotated[
        str | None,
        typer.Option(
            "--output-padding",
            metavar="OP",
            help="Output padding (deconv only).",
            show_default=False,
        ),
    ] = None,
    ceil: Annotated[bool, typer.Option("--ceil", help="Ceil mode (pools only).")] = False,
    channels: Annotated[
        int | None,
        typer.Option(
            "--channels", "-c", help="Output channels of the -k layer.", show_default=False
        ),
    ] = None,
    layers: LayersOpt = None,
    arch: ArchOpt = None,
    in_channels: Annotated[
        int | None,
        typer.Option(
            "--in-channels",
            metavar="C",
            help="Input channels: adds channels and parameters per layer.",
            show_default=False,
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            metavar="SIZE",
            help="Solve instead: list the stride/padding choices that turn SIZE into this size "
            "with kernel -k.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            metavar="REF",
            help="Any PyTorch model instead of a chain: package.module:callable, "
            "path/to/file.py:callable, either with literal arguments "
            "(...:callable(num_classes=10)), "
            "or a dlcli run folder. A module or file REF runs that Python code, exactly as "
            "'python file.py' would; a run folder runs nothing but dlcli. The model is built on "
            "PyTorch's meta device: no weights are allocated.",
            rich_help_panel=MODEL_PANEL,
            show_default=False,
        ),
    ] = None,
    input_shape: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            metavar="SHAPE",
            help="--model: the per-sample input shape, e.g. 3x224x224 (default: a run folder's).",
            rich_help_panel=MODEL_PANEL,
            show_default=False,
        ),
    ] = None,
    depth: Annotated[
        str,
        typer.Option(
            "--depth",
            metavar="N|all",
            help="--model: table rows down to N levels of nesting, or 'all'.",
            rich_help_panel=MODEL_PANEL,
        ),
    ] = str(DEFAULT_DEPTH),
    batch: Annotated[
        int,
        typer.Option(
            "--batch",
            metavar="N",
            help="--model: batch size of the forward pass (MACs and memory scale with it).",
            rich_help_panel=MODEL_PANEL,
        ),
    ] = DEFAULT_BATCH,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Output size of a layer, a chain or a standard network, exactly as PyTorch computes it;
    or, with --model, the shapes, parameters, MACs and memory of any PyTorch model.

    \b
    Examples:
      dlcli featsize 32 -k 5                           # 28
      dlcli featsize 32 --layers conv5,conv5           # 32 -> 28 -> 24
      dlcli featsize 224x224 --arch vgg16 --in-channels 3
      dlcli featsize 7 -k 3 -s 2 --type maxpool --ceil
      dlcli featsize 32 -k 5 --target 32          # which padding keeps 32 at 32?
      seq 16 64 | dlcli featsize - --layers conv3s2p1,conv3s2p1 -q
      dlcli featsize --model torchvision.models:resnet50 --input 3x224x224
      dlcli featsize --model 'mynet.py:Net(width=32)' --input 3x32x32 --depth all
    """
    if model is not None:
        if size is not None or kernel or layers or arch or target or in_channels is not None:
            fail(
                "--model describes a whole model: give its input with --input, without SIZE, "
                "-k, --layers, --arch, --target or --in-channels"
            )
        return _model(model, input_shape, depth, batch, json_out, quiet)
    if input_shape is not None:
        fail("--input goes with --model; for a chain give SIZE")
    if size is None:
        fail(
            "missing SIZE: the input size, e.g. 'dlcli featsize 32 -k 5' "
            "(or --model REF --input SHAPE)"
        )
    from dlcli.calculators import featsize as backend

    chain = backend.resolve_chain(
        kernel,
        layers,
        arch,
        kind=None if kind is Kind.conv else kind.value,
        stride=stride,
        padding=padding,
        dilation=dilation,
        output_padding=output_padding,
        ceil=ceil,
        channels=channels,
    )
    if target is not None:
        if kernel is None:
            fail(
                "--target solves for one layer's stride and padding: "
                "give its kernel with -k/--kernel"
            )
        if stride is not None or padding is not None or output_padding is not None:
            fail(
                "--target searches the stride and padding itself: "
                "leave out -s, -p and --output-padding"
            )
        _solve(backend, chain[0], size, target, json_out, quiet)
        return

    if size == "-":
        _stream(backend, chain, in_channels, json_out, quiet)
        return
    from dlcli.layers import parse_size

    result = backend.chain_output(chain, parse_size(size), in_channels)
    if json_out:
        print_json(result.to_dict())
    elif quiet:
        print(format_size(result.output))
    else:
        _render_table(result, title=arch or None)


def _model(
    model: str, input_shape: str | None, depth: str, batch: int, json_out: bool, quiet: bool
) -> None:
    """--model: `dlcli.inspect_model`, then its JSON document or its table."""
    import dlcli
    from dlcli.cli.model_table import render_inspection

    result = dlcli.inspect_model(model, input_shape, depth=depth, batch=batch)
    if json_out:
        print_json(result.to_dict())
    else:
        render_inspection(result, quiet)


def _stream(backend, chain, in_channels, json_out: bool, quiet: bool) -> None:
    """Exactly one answer line per input line, so outputs line up with inputs (`paste`): a
    blank or #-comment line answers an empty line (JSON: "skipped"), a bad line 'error' (JSON:
    "error", and one message on stderr), and the exit status is 2 if any line was bad."""
    from dlcli.layers import parse_size

    failures = 0
    out = sys.stdout
    for lineno, raw in enumerate(sys.stdin, start=1):
        text = raw.strip()
        empty = {"line": lineno, "input": None, "output": None}
        if not text or text.startswith("#"):
            if json_out:
                print_json(empty | {"text": text, "skipped": True})
            else:
                out.write("\n")
            continue
        try:
            result = backend.chain_output(chain, parse_size(text), in_channels)
        except InputError as exc:
            failures += 1
            print(f"dlcli: error: line {lineno}: {exc}", file=sys.stderr)
            if json_out:
                print_json(empty | {"text": text, "error": str(exc)})
            else:
                out.write("error\n")
            continue
        if json_out:
            print_json({"line": lineno, **result.to_dict()})
        elif quiet:
            out.write(format_size(result.output) + "\n")
        else:
            out.write(f"{format_size(result.input)} -> {format_size(result.output)}\n")
    out.flush()
    if failures:
        raise typer.Exit(2)


def _render_table(result, title: str | None) -> None:
    from rich.table import Table

    show_channels = any(layer.channels is not None for layer in result.layers)
    show_params = result.params is not None
    table = Table(
        title=f"{title + ': ' if title else ''}{format_size(result.input)} -> "
        f"{format_size(result.output)}",
        title_justify="left",
    )
    table.add_column("#", justify="right", style="dim")
    table.add_column("layer")
    table.add_column("output", justify="right")
    if show_channels:
        table.add_column("channels", justify="right")
    if show_params:
        table.add_column("params", justify="right")
    table.add_column("note")
    table.add_row(
        "",
        "input",
        format_size(result.input),
        *([str(result.in_channels or "")] if show_channels else []),
        *([""] if show_params else []),
        "",
    )
    notes = []
    for layer in result.layers:
        note = ""
        if any(layer.dropped):
            note = f"drops {format_size(layer.dropped)} at the end"
            notes.append(layer)
        row = [str(layer.index), layer.spec, format_size(layer.output)]
        if show_channels:
            row.append("" if layer.channels is None else str(layer.channels))
        if show_params:
            row.append("" if layer.params is None else f"{layer.params:,}")
        row.append(note)
        table.add_row(*row)
    if show_params:
        table.add_section()
        table.add_row("", "total", "", *([""] if show_channels else []), f"{result.params:,}", "")
    show_table(table)
    if notes:
        layers = "1 layer leaves" if len(notes) == 1 else f"{len(notes)} layers leave"
        stderr_console().print(
            f"note: {layers} input rows/columns that no window covers (the division is not exact).",
            soft_wrap=True,
        )


def _solve(backend, layer, size_text: str, target_text: str, json_out: bool, quiet: bool) -> None:
    from dlcli.layers import parse_size

    if size_text == "-":
        fail("--target takes one SIZE, not '-'")
    size, target = parse_size(size_text), parse_size(target_text)
    answers = backend.solve(layer, size, target)
    document = {
        "input": list(size),
        "target": list(target),
        "layer": layer.spec,
        "choices": [[c.to_dict() for c in per_dim] for per_dim in answers],
    }
    missing = [i for i, per_dim in enumerate(answers) if not per_dim]
    if json_out:
        print_json(document)
    elif quiet:
        for per_dim in answers:
            print(
                " ".join(
                    f"s{c.stride}p{c.padding}"
                    + (f"op{c.output_padding}" if c.output_padding else "")
                    for c in per_dim
                )
            )
    else:
        from rich.table import Table

        console = stdout_console()
        for dim, per_dim in enumerate(answers):
            label = f" (dimension {dim + 1})" if len(answers) > 1 else ""
            table = Table(
                title=f"{layer.spec}: {size[dim]} -> {target[dim]}{label}", title_justify="left"
            )
            table.add_column("stride", justify="right")
            table.add_column("padding", justify="right")
            if layer.kind == "deconv":
                table.add_column("output padding", justify="right")
            table.add_column("dropped rows", justify="right")
            for c in per_dim:
                row = [str(c.stride), str(c.padding)]
                if layer.kind == "deconv":
                    row.append(str(c.output_padding))
                row.append(str(c.dropped))
                table.add_row(*row)
            show_table(table, console)
    if missing:
        dims = ", ".join(str(i + 1) for i in missing)
        raise InputError(
            f"no stride/padding gives {format_size(target)} from {format_size(size)} "
            f"with '{layer.spec}' "
            f"(dimension {dims}); try another kernel"
        )
