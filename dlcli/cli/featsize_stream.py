"""`dlcli featsize -`: one size per line on stdin, one answer per line on stdout (JSON Lines with
--json), fast enough for shell loops: the chain is compiled once, plain sizes skip the general
parser, and the answers are written a chunk of input at a time.

No `from __future__ import annotations` here, as in featsize.py.
"""

import itertools
import json
import sys
from collections.abc import Callable, Iterator

import typer

from dlcli.cli.common import format_size
from dlcli.errors import InputError


def stream(backend, chain, in_channels, json_out: bool, quiet: bool, preset: tuple) -> None:
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
