"""`dlcli featsize`: output sizes of conv / pool / transposed-conv layers and chains.

No `from __future__ import annotations` here (nor in receptive_field.py): Typer would evaluate
every option's annotation string several times per start-up, a tenth of the calculators' time.
"""

import itertools
import json
import sys
from collections.abc import Callable, Iterator
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
        _stream(backend, chain, in_channels, json_out, quiet, (arch, classes))
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


def _stream(backend, chain, in_channels, json_out: bool, quiet: bool, preset: tuple) -> None:
    """Exactly one answer line per input line, so outputs line up with inputs (`paste`): a
    blank or #-comment line answers an empty line (JSON: "skipped"), a bad line 'error' (JSON:
    "error", and one message on stderr), and the exit status is 2 if any line was bad. A line
    longer than MAX_LINE bytes is answered 'error' and ends the stream (exit 2): sizes are short,
    and a stream without newlines must not fill the memory.

    Fast because the chain is compiled once (`calculators.compiled.CompiledChain`), plain sizes
    skip the general parser, and the answers are written a chunk of input at a time."""
    from dlcli.calculators.compiled import CompiledChain

    answer = _Answers(backend, CompiledChain(chain, in_channels), json_out, quiet, preset)
    fast = answer.fast()
    failures = lineno = 0
    for lines in _chunks(sys.stdin):
        parts: list[str] = []
        for text in lines:
            lineno += 1
            if text is _TOO_LONG:
                failures += 1
                parts.append(answer.failed(lineno, "", TOO_LONG_MESSAGE, parts))
                break
            text = text.strip()
            if text.isdigit() and len(text) < 19 and text.isascii():  # one plain number
                line = fast(lineno, int(text))
                if line is not None:
                    parts.append(line)
                    continue
            line = answer.line(lineno, text)
            if line is None:
                failures += 1
                line = answer.failed(lineno, text, answer.error, parts)
            parts.append(line)
        sys.stdout.write("".join(parts))
        sys.stdout.flush()
    if failures:
        raise typer.Exit(2)


MAX_LINE = 65_536  # bytes; a SIZE (or a comment) is far shorter
_TOO_LONG = object()  # stands for a line over MAX_LINE in _chunks' output


TOO_LONG_MESSAGE = (
    f"longer than {MAX_LINE:,} bytes without a newline; the stream stops here "
    "(expected one size per line: N, HxW or DxHxW)"
)


def _chunks(stdin) -> Iterator[list]:
    """stdin's lines, a list per chunk read (what has arrived: a terminal answers line by
    line), without their newlines; universal newlines as in text mode; undecodable bytes
    become U+FFFD (so the line is reported as a bad size). A line over MAX_LINE bytes is given
    as _TOO_LONG and ends the reading: memory stays bounded whatever the input."""
    raw = getattr(stdin, "buffer", None)
    read = getattr(raw, "read1", None) or (raw.read if raw is not None else None)
    if read is None:  # a text-only stream (an embedding caller's StringIO), line by line
        for line in stdin:
            yield [line.rstrip("\r\n") if len(line) <= MAX_LINE else _TOO_LONG]
            if len(line) > MAX_LINE:
                return
        return
    pending = b""
    while True:
        block = read(MAX_LINE)
        if not block:
            break
        pending += block
        end = pending.rfind(b"\n")
        if end < 0:
            if len(pending) > MAX_LINE:
                yield [_TOO_LONG]
                return
            continue
        complete, pending = pending[: end + 1], pending[end + 1 :]
        lines = _split(complete.decode("utf-8", "replace"))
        lines.pop()  # after the last newline: nothing
        if len(pending) > MAX_LINE or (
            len(complete) > MAX_LINE and any(len(line) > MAX_LINE for line in lines)
        ):
            yield [*itertools.takewhile(lambda line: len(line) <= MAX_LINE, lines), _TOO_LONG]
            return
        yield lines
    if pending:
        if len(pending) > MAX_LINE:
            yield [_TOO_LONG]
            return
        lines = _split(pending.decode("utf-8", "replace"))
        yield lines[:-1] if lines[-1] == "" else lines


def _split(text: str) -> list[str]:
    if "\r" in text:  # text mode's universal newlines: \r\n and a lone \r end a line too
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


class _Answers:
    """The answer line for one input line, in the stream's three formats (a table row is
    'IN -> OUT', -q the bare output, --json one JSON document per line). `line` returns None
    for a bad line and leaves its message in `error`."""

    def __init__(self, backend, compiled, json_out: bool, quiet: bool, preset: tuple) -> None:
        self.backend, self.compiled, self.preset = backend, compiled, preset  # (arch, classes)
        self.json_out, self.quiet = json_out, quiet
        self.error = ""
        self._templates: dict[int, str] = {}

    def line(self, lineno: int, text: str) -> str | None:
        if not text or text.startswith("#"):
            if self.json_out:
                return _json_line(
                    {"line": lineno, "input": None, "output": None, "text": text, "skipped": True}
                )
            return "\n"
        return self._general(lineno, text)

    def fast(self) -> Callable[[int, int], str | None]:
        """(line number, n) -> the answer to a line holding the one number n; None where the
        general path must answer (n < 1, a size the chain refuses)."""
        chain = self.compiled.flat(1)  # per layer: input, output, dropped
        if self.json_out:
            template = self._template(1)

            def json_line(lineno: int, n: int) -> str | None:
                values = chain(n) if n > 0 else None
                return None if values is None else template % (lineno, n, values[-2], *values)

            return json_line

        def line(lineno: int, n: int) -> str | None:
            values = chain(n) if n > 0 else None
            if values is None:
                return None
            return f"{values[-2]}\n" if self.quiet else f"{n} -> {values[-2]}\n"

        return line

    def _general(self, lineno: int, text: str) -> str | None:
        from dlcli.layers import parse_size

        try:
            size = parse_size(text)
            values = self.compiled.flat(len(size))(*size)
            if values is None:  # refused (or a case the compiled chain leaves to chain_output)
                result = self.backend.chain_output(
                    self.compiled.layers, size, self.compiled.in_channels
                )
                values = _flat_rows(result)
        except InputError as exc:
            self.error = str(exc)
            return None
        ndim = len(size)
        output = tuple(values[-2 * ndim : -ndim]) if values else size
        if self.json_out:
            template = self._templates.get(ndim)
            if template is None:
                template = self._templates[ndim] = self._template(ndim)
            return template % (lineno, *size, *output, *values)
        if self.quiet:
            return format_size(output) + "\n"
        return f"{format_size(size)} -> {format_size(output)}\n"

    def _template(self, ndim: int) -> str:
        """print_json's line for `{"line": N, **chain_output(...).to_dict()}` with %d where the
        line number and the sizes go: the document itself, made once from the chain."""
        marker = "\x00"  # json.dumps writes it as "\u0000", which no real value writes
        compiled = self.compiled
        counts = self.backend.channel_counts(compiled.layers, ndim, compiled.in_channels)
        layers = [
            self.backend.LayerSize(i, layer.spec, layer.kind, (), (), channels, params)
            for i, (layer, (channels, params)) in enumerate(
                zip(compiled.layers, counts, strict=True), start=1
            )
        ]
        out_channels = counts[-1][0] if counts else compiled.in_channels
        document = self.backend.ChainSize((), (), layers, compiled.in_channels, out_channels)
        document = self.backend.with_sides(document, *self.preset)
        document = {"line": marker, **document.to_dict(), "input": [marker], "output": [marker]}
        for entry in document["layers"]:
            entry.update(input=[marker], output=[marker], dropped=[marker])
        sizes = "[" + ", ".join(["%d"] * ndim) + "]"  # json.dumps of ndim ints
        text = _json_line(document).replace("%", "%%")
        return text.replace(f"[{json.dumps(marker)}]", sizes).replace(json.dumps(marker), "%d")

    def failed(self, lineno: int, text: str, message: str, before: list[str]) -> str:
        """The answer to a bad line; its message goes to stderr after the answers `before` it
        (written out first, so a terminal shows each message beside its line)."""
        sys.stdout.write("".join(before))
        sys.stdout.flush()
        before.clear()
        print(f"dlcli: error: line {lineno}: {message}", file=sys.stderr)
        if self.json_out:
            document = {"line": lineno, "input": None, "output": None}
            return _json_line(document | {"text": text, "error": message})
        return "error\n"


def _flat_rows(result) -> list[int]:
    """A ChainSize's layers as CompiledChain.flat gives them: input, output, dropped, flat."""
    return [
        v
        for layer in result.layers
        for part in (layer.input, layer.output, layer.dropped)
        for v in part
    ]


def _json_line(document: dict) -> str:
    return json.dumps(document, separators=(", ", ": ")) + "\n"  # print_json's form


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
