"""Files: the one atomic writer and the one opener of compressed inputs that every module uses.

`atomic_write(path, write)` writes through a temporary name in the target folder, gives the file
the mode a plain `open()` would (0666 less the umask: mkstemp's 0600 would surprise users),
fsyncs it, renames it into place and fsyncs the folder, so that after it returns the file is
whole and on disk, and at no moment does a reader (or a crash) see half a file.

What dlcli may overwrite, decided here for every writer (`refuse_special`): a target that exists
and is not a regular file (a folder, a link, a FIFO, a device such as /dev/full, a socket) is
refused, by `atomic_write` itself too, so no writer can replace one. A path the USER named also
passes `dlcli.outputs.check_output` before any work.

`read_regular(path, max_bytes)` reads a file that must be a regular file of a sane size (not a
device such as /dev/zero, a FIFO or a folder): the one reader of run-folder files.

`open_binary(path)` opens a file for reading, decompressing `.gz`, `.bz2` and `.xz` by suffix;
`open_text` wraps it as UTF-8 text. Either takes `max_line=N`: a line (of the decompressed bytes)
longer than N bytes is an InputError as soon as its N+1-th byte is read (`dlcli.linebounded`),
so a file that is one huge line is refused with memory to spare instead of being read whole.

`remove_stale_temporaries(folder, target, older_than)` deletes the temporary files of
`atomic_write` that a killed process left (a writer that holds a flock on its temporary file,
as downloads do, keeps it). `check_regular(path, what)` is the gate every reader of
user input passes first: a regular file no larger than the machine's memory (a FIFO, a device
such as /dev/zero, a folder or a dangling link is an `InputError` naming it). Only the standard
library and `dlcli.errors` are imported here.

Fault injection (tests only): `before_rename`, when set, is called with the target path just
before each rename of `atomic_write`; the environment variable DLCLI_TEST_KILL_AT_RENAME=K makes
the process SIGKILL itself at its K-th rename (the temporary file stays behind, as after a real
kill). Both exist so that the suite can stop a run at every write of its finish sequence.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, cast

from dlcli.errors import InputError

COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")
TEMP_SUFFIX = ".tmp"  # atomic_write's temporary files: .NAME.XXXXXXXX.tmp beside NAME

before_rename: Callable[[Path], None] | None = None  # fault injection, see the docstring
_renames = 0  # atomic_write's renames in this process (DLCLI_TEST_KILL_AT_RENAME counts them)


def umask_mode() -> int:
    """The mode a file created by a plain `open()` gets: 0666 less the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def fsync_folder(folder: Path) -> None:
    """Make a rename (or unlink) in `folder` durable; a no-op where folders cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(
    path: Path | str,
    write: Callable[[Path], None],
    *,
    fresh: bool = False,
    durable: bool = True,
    backup: Path | str | None = None,
) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, then rename it onto `path`.

    durable=False skips the fsyncs (for files rewritten often whose loss on a power cut is
    harmless; the loop's checkpoints do not need it: their fsync was measured to cost nothing).
    fresh=True unlinks `path` just before the rename: renaming over an existing file makes ext4
    flush the new file to disk first (auto_da_alloc, ~3 ms here), which per epoch costs more
    than the epoch itself on small data. Use it only where a missing file for a moment is
    harmless.
    backup=PATH keeps the file being replaced: just before the rename, `path` moves to PATH (an
    older file there is deleted first), so no rename lands on an existing file and at every
    moment a complete version exists under one of the two names (the checkpoint's rotation).
    """
    path = Path(path)
    refuse_special(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        os.fchmod(fd, umask_mode())
        os.close(fd)
        write(tmp)
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        if backup is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(backup)
            with contextlib.suppress(FileNotFoundError):
                os.rename(path, backup)
        elif fresh:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        _fault_point(path)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_folder(path.parent)


def refuse_special(path: Path | str, what: str = "output") -> None:
    """InputError if `path` exists and is not a regular file: a folder, a link, a FIFO, a device
    or a socket is never replaced by a file (renaming onto /dev/full as root would)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        raise InputError(f"{what} '{path}': cannot check it ({os_reason(exc)})") from None
    if stat.S_ISREG(info.st_mode):
        return
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISLNK, "a link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISSOCK, "a socket"),
    )
    kind = next((name for test, name in kinds if test(info.st_mode)), "something else")
    raise InputError(
        f"{what} '{path}' exists and is {kind}, not a regular file; dlcli writes "
        "only over regular files: move it away or choose another name"
    )


def os_reason(exc: BaseException) -> str:
    """What an OSError says (its strerror), for a one-line message."""
    return getattr(exc, "strerror", None) or str(exc)


def _fault_point(path: Path) -> None:
    """The test hooks of the module docstring; nothing happens unless a test set one."""
    global _renames
    _renames += 1
    if before_rename is not None:
        before_rename(path)
    kill_at = os.environ.get("DLCLI_TEST_KILL_AT_RENAME")
    if kill_at and _renames == int(kill_at):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def is_temporary(name: str, target: str | None = None) -> bool:
    """Whether `name` is one of atomic_write's temporary files (of `target`, if given)."""
    prefix = f".{target}." if target is not None else "."
    return name.startswith(prefix) and name.endswith(TEMP_SUFFIX)


def remove_stale_temporaries(folder: Path | str, target: str, older_than: float) -> list[Path]:
    """Delete `atomic_write`'s temporary files of `target` in `folder` that are left over: not
    changed for `older_than` seconds and not locked (flock) by a live process. The age guards
    the moment between a temporary file's creation and its writer's lock, and platforms
    without flock. Returns what was deleted; a file that cannot be deleted is left alone."""
    import time

    try:
        import fcntl
    except ImportError:
        fcntl = None  # type: ignore[assignment]
    removed: list[Path] = []
    try:
        names = [n for n in os.listdir(folder) if is_temporary(n, target)]
    except OSError:
        return removed
    now = time.time()
    for name in names:
        path = Path(folder) / name
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            continue
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or now - info.st_mtime < older_than:
                continue
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # a live writer holds it
            with contextlib.suppress(OSError):
                os.unlink(path)
                removed.append(path)
        finally:
            os.close(fd)
    return removed


def read_regular(path: Path | str, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of `path`, which must be a regular file of at most `max_bytes` (a symlink to one
    is fine). A device (/dev/zero), FIFO, socket or folder, or a file too big, is an InputError
    naming the path; a missing file raises FileNotFoundError for the caller to word."""
    from dlcli.errors import InputError

    try:  # O_NONBLOCK: opening a FIFO must not wait for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{path}: not a regular file; a {what} must be one")
        if info.st_size > max_bytes:
            raise InputError(f"{path}: {info.st_size} bytes; a {what} is at most {max_bytes} bytes")
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise InputError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    if len(data) > max_bytes:  # it grew while we read
        raise InputError(f"{path}: more than {max_bytes} bytes; a {what} is at most that")
    return data


def atomic_write_bytes(
    path: Path | str,
    data: bytes,
    *,
    fresh: bool = False,
    durable: bool = True,
    backup: Path | str | None = None,
) -> None:
    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    atomic_write(path, write, fresh=fresh, durable=durable, backup=backup)


def is_compressed(path: Path | str) -> bool:
    return str(path).lower().endswith(COMPRESSED_SUFFIXES)


def strip_compression(name: str) -> str:
    """'corpus.txt.gz' -> 'corpus.txt' (the suffix that says what the data is)."""
    lower = name.lower()
    for suffix in COMPRESSED_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def open_binary(path: Path | str, max_line: int | None = None) -> IO[bytes]:
    """Open for reading, decompressing .gz / .bz2 / .xz by suffix; `max_line`: see the module
    docstring."""
    name = str(path).lower()
    if name.endswith(".gz"):
        import gzip

        fh = cast(IO[bytes], gzip.open(path, "rb"))  # a GzipFile is a binary IO
    elif name.endswith(".bz2"):
        import bz2

        fh = bz2.open(path, "rb")
    elif name.endswith(".xz"):
        import lzma

        fh = lzma.open(path, "rb")
    else:
        fh = open(path, "rb")
    if max_line is None:
        return fh
    from dlcli.linebounded import LineBounded

    return cast(IO[bytes], LineBounded(fh, max_line, str(path), human_bytes(max_line)))


def open_text(
    path: Path | str,
    encoding: str = "utf-8",
    errors: str = "strict",
    newline: str | None = None,
    max_line: int | None = None,
) -> IO[str]:
    """`open_binary` as text (newline="" for the csv module, which handles line ends itself)."""
    raw = open_binary(path, max_line)
    return io.TextIOWrapper(raw, encoding=encoding, errors=errors, newline=newline)


def read_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a damaged compressed or plain file raises while it is read."""
    import lzma
    import zlib

    return (OSError, EOFError, lzma.LZMAError, zlib.error)


def memory_bytes() -> int | None:
    """The machine's physical memory in bytes (None where the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None


def human_bytes(n: float) -> str:
    """1536 -> '1.5 kB', 4e12 -> '4.0 TB' (decimal units, as disks and `ls -h --si` count)."""
    if n >= 1e18:
        return f"{float(n):.1e} bytes"
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


def check_regular(path: Path | str, what: str) -> os.stat_result:
    """`path`'s status if it is a regular file (through symlinks) that fits in memory, else an
    InputError that starts with `what` and the path: "no such file", "is a folder", "is a link
    to a missing file", "is not a regular file (a FIFO, a device or a socket)", or too large.

    Readers call it before they open a user's file, so that a FIFO does not block forever and a
    link to /dev/zero does not read until memory runs out."""
    path = Path(path)
    where = f"{what} '{path}'"
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise InputError(f"{where} is a link to a missing file ({os.readlink(path)})") from None
        raise InputError(f"{where}: no such file") from None
    except OSError as exc:
        raise InputError(f"{where}: cannot read ({exc.strerror or exc})") from None
    except ValueError:  # a NUL byte in the name
        raise InputError(f"{where}: not a valid file name (it holds a NUL byte)") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{where} is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{where} is not a regular file (a FIFO, a device or a socket)")
    memory = memory_bytes()
    if memory is not None and info.st_size > memory:
        raise InputError(
            f"{where} is {human_bytes(info.st_size)}, more than this machine's memory "
            f"({human_bytes(memory)}); dlcli reads such files whole"
        )
    return info
