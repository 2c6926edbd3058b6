"""Ctrl-C and SIGTERM: one way to stop, from the first line of `main` to the last.

`install()` (the first thing `dlcli.cli.app.main` does, before Typer, numpy or torch are
imported) makes SIGINT raise KeyboardInterrupt and SIGTERM raise `Terminated`, a subclass, so
that the training loop's `except KeyboardInterrupt` saves the checkpoint for both. The error
boundary (`dlcli.cli.common`) prints one line and exits 130 (SIGINT) or 143 (SIGTERM, 128 + 15,
what a shell reports for a process it killed). Once a signal has arrived, any error that follows
it (a module half imported when the signal hit, say) is reported as that signal. `settle()`,
when the command has ended, ignores further signals, so a signal during shutdown leaves the
result that was already produced. `defer(True)` makes a signal wait: it is only recorded, and
`raise_if_received()` raises it when work would start (a sweep worker between runs, waiting in
code of the standard library, where an exception would end the process with a traceback).
Library callers (`import dlcli`) get none of this: the handlers are installed by the command
line only. Standard library only.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

INTERRUPTED = 130  # 128 + SIGINT
TERMINATED = 143  # 128 + SIGTERM

received: int | None = None  # the first signal that arrived since install()
_installed = False
_deferred = False  # see defer()


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that whatever saves on Ctrl-C saves on it too."""


def _handler(signum: int, _frame: Any) -> None:
    global received
    if received is None:
        received = signum
    if _deferred:
        return
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def install() -> None:
    """SIGINT -> KeyboardInterrupt, SIGTERM -> Terminated (main thread only)."""
    global _installed
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    _installed = True


def installed() -> bool:
    """Whether `install` has run in this process."""
    return _installed


def defer(on: bool) -> None:
    """While on, a signal is recorded and not raised; `raise_if_received` raises it later."""
    global _deferred
    _deferred = on


def deferred() -> bool:
    """Whether signals are being deferred now (the process is between units of work)."""
    return _deferred


def settle() -> None:
    """The command is over: ignore SIGINT and SIGTERM from now on (if `install` ran)."""
    if _installed and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def raise_if_received() -> None:
    """Raise the signal that arrived, if one did and its exception was swallowed on the way (a C
    extension importing numpy clears the error it sees): work must not start after it."""
    if received is not None:
        raise Terminated() if received == signal.SIGTERM else KeyboardInterrupt()


def exit_status(exc: BaseException | None = None) -> int:
    """143 for SIGTERM (a `Terminated`, or the signal received), 130 otherwise."""
    if isinstance(exc, Terminated) or (exc is None and received == signal.SIGTERM):
        return TERMINATED
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    return TERMINATED if received == signal.SIGTERM else INTERRUPTED


def message(exc: BaseException | None = None) -> str:
    """What the one line says: the interrupted code's own words, or the signal's name."""
    if isinstance(exc, KeyboardInterrupt) and str(exc):
        return str(exc)
    return "terminated (SIGTERM)" if exit_status(exc) == TERMINATED else "interrupted"
