"""`dlcli featsize`: output sizes of conv / pool / transposed-conv layers and chains.

No `from __future__ import annotations` here (nor in receptive_field.py): Typer would evaluate
every option's annotation string several times per start-up, a tenth of the calculators' time.
"""

from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer

from dlcli.cli.common import (
    fail,
    format_size,
    print_json,
    show_table,
    stderr_console,
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
from dlcli.errors import InputError

if TYPE_CHECKING:
    from dlcli.layers import Layer


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
    classes: Annotated[
        int | None,
        typer.Option(
            "--classes",
            metavar="N",
            help="ResNet presets: also count the classifier (global average pooling, "
            "linear to N classes).",
            show_default=False,
        ),
    ] = None,
    model: ModelOpt = None,
    input_shape: InputShapeOpt = None,
    depth: Annotated[
        str | None,
        typer.Option(
            "--depth",
            metavar="N|all",
            help="--model: table rows down to N levels of nesting, or 'all' "
            "[default: 1, the top-level children].",
            rich_help_panel=MODEL_PANEL,
            show_default=False,
        ),
    ] = None,
    batch: Annotated[
        int | None,
        typer.Option(
            "--batch",
            metavar="N",
            help="--model: batch size of the forward pass (MACs and memory scale with it) "
            "[default: 1].",
            rich_help_panel=MODEL_PANEL,
            show_default=False,
        ),
    ] = None,
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
      dlcli featsize 8x8 --arch cifar-resnet8 --in-channels 1 --classes 10
      dlcli featsize 7 -k 3 -s 2 --type maxpool --ceil
      dlcli featsize 32 -k 5 --target 32          # which padding keeps 32 at 32?
      seq 16 64 | dlcli featsize - --layers conv3s2p1,conv3s2p1 -q
      dlcli featsize --model torchvision.models:resnet50 --input 3x224x224
      dlcli featsize --model 'mynet.py:Net(width=32)' --input 3x32x32 --depth all
    """
    if model is not None:
        _refuse_chain_options(size, kernel, layers, arch, target, in_channels, classes)
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
        _solve(chain[0], size, target, json_out, quiet)
        return

    backend.check_classes(arch, classes)
    if size == "-":
        from dlcli.cli.featsize_stream import stream

        stream(backend, chain, in_channels, json_out, quiet, (arch, classes))
        return
    from dlcli.layers import parse_size

    result = backend.with_sides(
        backend.chain_output(chain, parse_size(size), in_channels), arch, classes
    )
    if json_out:
        print_json(result.to_dict())
    elif quiet:
        print(format_size(result.output))
    else:
        _render_table(result, title=arch or None)


def _refuse_chain_options(*chain_options) -> None:
    """--model describes a whole model: no chain option may come with it."""
    if any(option is not None and option != [] and option is not False for option in chain_options):
        fail(
            "--model describes a whole model: give its input with --input, without SIZE, "
            "-k, --layers, --arch, --target, --in-channels or --classes"
        )


def _model(
    model: str,
    input_shape: str | None,
    depth: str | None,
    batch: int | None,
    json_out: bool,
    quiet: bool,
) -> None:
    """--model: `dlcli.inspect_model` (its defaults where a flag is not given), then render."""
    import dlcli
    from dlcli.cli.model_table import render_inspection

    given = {"depth": depth, "batch": batch}
    knobs = {name: value for name, value in given.items() if value is not None}
    result = dlcli.inspect_model(model, input_shape, **knobs)
    if json_out:
        print_json(result.to_dict())
    else:
        render_inspection(result, quiet)


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
        for side in result.sides:  # a preset's batch norms, shortcuts, classifier
            name = f"{side.kind}{'s' if side.count > 1 else ''} ({side.count})"
            row = ["", name, "", *([""] if show_channels else []), f"{side.params:,}", ""]
            table.add_row(*row)
        table.add_row("", "total", "", *([""] if show_channels else []), f"{result.params:,}", "")
    show_table(table)
    if notes:
        layers = "1 layer leaves" if len(notes) == 1 else f"{len(notes)} layers leave"
        stderr_console().print(
            f"note: {layers} input rows/columns that no window covers (the division is not exact).",
            soft_wrap=True,
        )


def _solve(layer: "Layer", size_text: str, target_text: str, json_out: bool, quiet: bool) -> None:
    """`--target`: the library's solution, rendered; its error (a dimension nothing reaches)
    after what it found."""
    from dlcli.calculators.target import MAX_CHOICES, solve_for_target

    solution = solve_for_target(layer, size_text, target_text)
    answers = solution.choices
    if json_out:
        print_json(solution.to_dict())
    elif quiet:
        for per_dim in answers:
            print(" ".join(c.token for c in per_dim))
    else:
        from rich.table import Table

        console = stdout_console()
        for dim, per_dim in enumerate(answers):
            label = f" (dimension {dim + 1})" if len(answers) > 1 else ""
            table = Table(
                title=f"{layer.spec}: {solution.input[dim]} -> {solution.target[dim]}{label}",
                title_justify="left",
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
    if solution.truncated:
        cut = ", ".join(str(i + 1) for i in solution.truncated)
        where = f" in dimension {cut}" if len(answers) > 1 else ""
        stderr_console().print(
            f"note: the first {MAX_CHOICES:,} choices{where} by stride; "
            "there are more (larger strides).",
            soft_wrap=True,
            highlight=False,
        )
    error = solution.error()
    if error is not None:
        raise InputError(error)
