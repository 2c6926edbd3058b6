"""What every command shares: the error boundary, output helpers and the Typer app factory.

All errors are formatted here, in one place: a command (or the backend it calls) raises, and
`DlcliGroup.main` turns the exception into one line on stderr and the exit status of DESIGN.md
(2 usage/input error, 1 runtime failure, 130 interrupted, 143 terminated by SIGTERM; see
`dlcli.interrupts`: once a signal has arrived, whatever error follows is reported as it). Rich
is imported only when a table is drawn, so `--json` and `-q` paths start without it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import click
import typer
from typer.core import TyperCommand, TyperGroup

from dlcli import interrupts
from dlcli.errors import DlcliError, InputError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

PROG = "dlcli"
# Click >= 8.2 raises this for a bare `dlcli`; older Clicks print the help and exit themselves.
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def error_line(message: str) -> str:
    """The one line every error is printed as."""
    message = " ".join(str(message).split())  # one line, whatever the exception held
    return f"{PROG}: error: {message}"


def _click_error_message(exc: click.ClickException) -> str:
    message = exc.format_message()
    # Typer and Click both append "Did you mean 'featsize'?" to an unknown command (Click, for
    # several matches, as "(Did you mean one of: 'featsize', 'features'?)"): say it once
    message = re.sub(r"(Did you mean [^?]*\?)(?: \1)+", r"\1", message)
    message = re.sub(r"(Did you mean [^?]*\?) \(Did you mean one of: [^?]*\?\)", r"\1", message)
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    return message


class _Interrupted(Exception):
    """Ctrl-C (or SIGTERM) inside a command. Typer turns a KeyboardInterrupt into a silent exit
    130; carried as this instead, it reaches the boundary below, which prints its one line."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class DlcliGroup(TyperGroup):
    """The root group: runs the command and owns the mapping from exceptions to exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise _Interrupted(interrupts.message(exc), interrupts.exit_status(exc)) from None

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            try:
                rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            finally:
                interrupts.settle()  # the command is over: a signal now changes nothing
            code = rv if isinstance(rv, int) else 0
        except click.exceptions.Exit as exc:  # typer.Exit / ctx.exit(); normally returned
            code = exc.exit_code
        except _NO_ARGS_IS_HELP as exc:  # bare `dlcli`: the help was asked for
            message = exc.format_message()
            if message.strip():  # plain (non-Rich) help comes back as the message
                print(message)
            code = 0
        except (BrokenPipeError, SystemExit) as exc:
            # `dlcli featsize - < sizes | head`: the reader left; that is not our failure. Inside
            # the command nothing of ours exits: Click/Typer (EPIPE while parsing) and Rich (a
            # broken pipe while printing help or a table) raise SystemExit(1) for it.
            if isinstance(exc, SystemExit) and exc.code != 1:
                raise
            code = _pipe_closed()
        except (Exception, KeyboardInterrupt) as exc:  # one line, never a traceback
            message, code = _describe(exc)
            if message and not _follower(exc):  # empty: another rank reports it (torchrun)
                print(error_line(_rank_tag() + message), file=sys.stderr)
        ranks = sys.modules.get("dlcli.training.engine.distributed")
        if ranks is not None:  # a rank under torchrun ends without the interpreter's teardown
            ranks.leave(code)
        sys.exit(code)


def _describe(exc: BaseException) -> tuple[str, int]:
    """The one line an exception is reported as, and the exit status it maps to."""
    if isinstance(exc, click.ClickException):  # bad option, missing argument, bad choice ...
        return _click_error_message(exc), exc.exit_code
    if isinstance(exc, click.exceptions.Abort):  # Click's word for a KeyboardInterrupt it caught
        cause = exc.__cause__ or exc.__context__
        return (interrupts.message(cause) if cause else "aborted"), interrupts.exit_status(cause)
    if isinstance(exc, _Interrupted):  # a backend may say what it saved
        return str(exc), exc.code
    if isinstance(exc, KeyboardInterrupt):
        return interrupts.message(exc), interrupts.exit_status(exc)
    if isinstance(exc, DlcliError) and not str(exc):  # another rank reports it (torchrun)
        return "", exc.exit_code
    if interrupts.received:  # the error is the signal's doing (e.g. a module half imported)
        return interrupts.message(), interrupts.exit_status()
    if isinstance(exc, DlcliError):
        return str(exc), exc.exit_code
    if isinstance(exc, MemoryError):
        return "out of memory", 1
    if os.environ.get("DLCLI_DEBUG"):
        raise exc
    return f"{type(exc).__name__}: {exc} (set DLCLI_DEBUG=1 for a traceback)", 1


def _follower(exc: BaseException) -> bool:
    """Under torchrun, a rank other than 0 keeps quiet about what every rank sees alike (a bad
    option, Ctrl-C): rank 0 prints the one line. Its own failures it still reports."""
    rank = os.environ.get("RANK", "0")
    return (
        rank != "0"
        and "WORLD_SIZE" in os.environ
        and isinstance(exc, InputError | KeyboardInterrupt | _Interrupted)
    )


def _rank_tag() -> str:
    """Under torchrun, a rank other than 0 says which it is: `[rank 1] ...` (the `--nproc`
    launcher reads it to name the rank that failed)."""
    rank = os.environ.get("RANK", "0")
    several = os.environ.get("WORLD_SIZE", "1") not in ("", "0", "1")
    return f"[rank {rank}] " if rank != "0" and several else ""


PIPE_CLOSED_STATUS = 0  # documented in the README: a reader that leaves early is not a failure


def _pipe_closed() -> int:
    """stdout's reader went away (`| head`): stop quietly, and let nothing flush to it again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(OSError, ValueError):
        os.dup2(devnull, sys.stdout.fileno())
    return PIPE_CLOSED_STATUS


class DlcliCommand(TyperCommand):
    """Plain Click help (readable at 80 columns and in pipes, where Rich's boxes squeezed the
    descriptions to ~18 characters), with the options grouped under their panel names."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                name = "Arguments"
            else:
                name = getattr(param, "rich_help_panel", None) or "Options"
            sections.setdefault(name, []).append(record)
        for name, records in sections.items():
            with formatter.section(name):
                formatter.write_dl(records)


class DlcliTyper(typer.Typer):
    """Every command of dlcli is a DlcliCommand."""

    def command(self, *args: Any, cls: Any = None, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls or DlcliCommand, **kwargs)


def make_app(**kwargs: Any) -> typer.Typer:
    """A Typer app with dlcli's conventions (help on no arguments, no pretty tracebacks, plain
    help text)."""
    kwargs.setdefault("rich_markup_mode", None)
    kwargs.setdefault("no_args_is_help", True)
    kwargs.setdefault("pretty_exceptions_enable", False)
    kwargs.setdefault("add_completion", False)
    kwargs.setdefault("context_settings", {"help_option_names": ["-h", "--help"]})
    return DlcliTyper(**kwargs)


def warn(message: str) -> None:
    """A warning: one line on stderr with the prefix every dlcli warning has."""
    print(f"{PROG}: warning: {' '.join(str(message).split())}", file=sys.stderr, flush=True)


def fail(message: str) -> NoReturn:
    """Reject a bad combination of flags or values (exit status 2)."""
    raise InputError(message)


def print_json(document: Any) -> None:
    """Write one JSON document (one line) to stdout: always valid JSON, so NaN and infinities
    (which json.dumps would write as bare NaN) become null, with a warning naming how many."""
    try:
        text = json.dumps(document, separators=(", ", ": "), allow_nan=False)
    except ValueError:
        replaced = [0]
        text = json.dumps(_finite(document, replaced), separators=(", ", ": "))
        warn(f"{replaced[0]} non-finite number(s) (NaN or infinity) written as null")
    sys.stdout.write(text + "\n")


def _finite(value: Any, replaced: list[int]) -> Any:
    """`value` with every non-finite float replaced by None (counted in replaced[0])."""
    if isinstance(value, float) and not math.isfinite(value):
        replaced[0] += 1
        return None
    if isinstance(value, dict):
        return {k: _finite(v, replaced) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v, replaced) for v in value]
    return value


def show_table(table: Table, console: Console | None = None) -> None:
    """Print a Rich table without ever cutting a value: text cells wrap where they must, numbers
    (right-aligned columns) never break, and a table that cannot fit the terminal that way is
    printed as plain aligned text instead (Rich would cut cells to "…")."""
    console = console or stdout_console()
    for column in table.columns:
        column.no_wrap = column.justify == "right"
        column.overflow = "ellipsis" if column.no_wrap else "fold"
    if _narrowest(table) <= console.width:
        console.print(table)
        return
    rows = [[str(c.header) for c in table.columns]] if table.show_header else []
    cells = [[str(v) for v in c.cells] for c in table.columns]
    rows += [list(r) for r in zip(*cells, strict=True)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(table.columns))]
    if table.title:
        console.print(str(table.title), highlight=False, soft_wrap=True)
    right = [c.justify == "right" for c in table.columns]
    for r in rows:
        line = "  ".join(
            v.rjust(w) if rj else v.ljust(w) for v, w, rj in zip(r, widths, right, strict=True)
        )
        console.print(line.rstrip(), highlight=False, soft_wrap=True, markup=False)


def _narrowest(table: Table) -> int:
    """The width below which the table would cut or crush cells: numbers and headers whole,
    text columns at least TEXT_MIN characters (or their longest cell), borders and padding."""
    width = 1
    for column in table.columns:
        cells = [str(v) for v in column.cells]
        header = len(str(column.header)) if table.show_header else 0
        longest = max((len(c) for c in cells), default=0)
        need = longest if column.no_wrap else min(longest, TEXT_MIN)
        width += max(need, header) + 3  # one space each side, one border
    return width


TEXT_MIN = 12


def stdout_console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def format_size(values: Sequence[int | float]) -> str:
    """(28, 28) -> '28x28' (the SIZE notation of the command line)."""
    return "x".join(_fmt_number(v) for v in values)


def compact_size(values: Sequence[int | float]) -> str:
    """(7, 7) -> '7', (7, 5) -> '7x5': one number where every dimension agrees."""
    return format_size(values[:1]) if len(set(values)) == 1 else format_size(values)


def _fmt_number(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
