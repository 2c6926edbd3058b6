"""Files: the one atomic writer and the one opener of compressed inputs that every module uses.

`atomic_write(path, write)` writes through a temporary name in the target folder, gives the file
the mode a plain `open()` would (0666 less the umask: mkstemp's 0600 would surprise users),
fsyncs it, renames it into place and fsyncs the folder, so that after it returns the file is
whole and on disk, and at no moment does a reader (or a crash) see half a file.

What dlcli may overwrite, decided here for every writer (`check_output`): a target that exists
and is not a regular file (a folder, a link, a FIFO, a device such as /dev/full, a socket) is
refused, by `atomic_write` itself too, so no writer can replace one. Before any work, a path the
USER named (compare --plot, word2vec --out, train/sweep --out) also passes `check_output`: a
name that is empty, not UTF-8, in a missing or unwritable folder, or inside a run or sweep
folder (whose files only dlcli names) is refused, and `suffix=".png"` wants that ending. Every
refusal is one InputError line (exit status 2), raised before anything is written.

`read_regular(path, max_bytes)` reads a file that must be a regular file of a sane size (not a
device such as /dev/zero, a FIFO or a folder): the one reader of run-folder files.

`open_binary(path)` opens a file for reading, decompressing `.gz`, `.bz2` and `.xz` by suffix;
`open_text` wraps it as UTF-8 text. Either takes `max_line=N`: a line (of the decompressed bytes)
longer than N bytes is an InputError as soon as its N+1-th byte is read, so a file that is one
huge line is refused with memory to spare instead of being read whole first.

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
from typing import IO

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


RUN_MARKERS = (".dlcli.lock", "sweep.json")  # a run or sweep folder's own files (no import of
RUN_CONFIG = "config.json"  # training here: these names are runs/files.py's)
RUN_FORMAT_MARK = b'"format": "dlcli-run/'  # how runs/files.py writes config.json's format


def refuse_special(path: Path | str, what: str = "output") -> None:
    """InputError if `path` exists and is not a regular file: a folder, a link, a FIFO, a device
    or a socket is never replaced by a file (renaming onto /dev/full as root would)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        raise InputError(f"{what} '{path}': cannot check it ({_why(exc)})") from None
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


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def check_name(path: Path | str, what: str) -> Path:
    """`path` as a Path, if it is a file name dlcli can write and read back: not empty, no NUL
    byte, valid UTF-8 (safetensors and JSON cannot carry other bytes)."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text.strip():
        raise InputError(f"{what} '{text}' is empty; give a file name")
    if "\0" in text:
        raise InputError(f"{what}: not a valid file name (it holds a NUL byte)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        raise InputError(
            f"{what} '{shown}' is not valid UTF-8; choose a name in UTF-8 (the files dlcli "
            "writes there could not be opened again by name)"
        ) from None
    return Path(text)


def run_folder_of(folder: Path, sweeps: bool = True) -> Path | None:
    """The run or sweep folder that `folder` is or lies inside, or None: one holding a lock file
    or a sweep.json (sweeps=False: not these), or a config.json of dlcli's run format."""
    for here in (folder, *folder.parents):
        try:
            if sweeps and any(os.path.lexists(here / m) for m in RUN_MARKERS):
                return here
            if os.path.lexists(here / RUN_CONFIG):
                head = read_regular(here / RUN_CONFIG, 1 << 26, "config.json")[:4096]
                if RUN_FORMAT_MARK in head:
                    return here
        except (OSError, ValueError):  # InputError included: not ours to judge here
            continue
    return None


def check_output(path: Path | str, what: str, *, suffix: str | None = None) -> Path:
    """The gate for a file the user named (see the module docstring): returns it as a Path, or
    raises the one-line InputError that says why dlcli will not write it. Nothing is written."""
    path = check_name(path, what)
    refuse_special(path, what)
    if suffix is not None and not path.name.lower().endswith(suffix):
        raise InputError(f"{what} '{path}' must end in {suffix}")
    folder = path.absolute().parent
    if not folder.is_dir():
        where = "does not exist" if not os.path.lexists(folder) else "is not a folder"
        raise InputError(f"{what} '{path}': the folder '{path.parent}' {where}; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{what} '{path}': the folder '{path.parent}' is not writable")
    owner = run_folder_of(folder)
    if owner is not None:
        raise InputError(
            f"{what} '{path}' is inside the dlcli folder '{owner}', whose files only dlcli "
            "names; write it somewhere else"
        )
    return path


def check_output_folder(path: Path | str, what: str) -> Path:
    """The gate for a folder the user named for dlcli to fill (train and sweep --out): a valid
    UTF-8 name, not inside a run folder, that is a folder or does not exist yet (run_dir judges
    what is inside)."""
    path = check_name(path, what)
    owner = run_folder_of(path.absolute().parent, sweeps=False)
    if owner is not None:
        raise InputError(
            f"{what} '{path}' is inside the run folder '{owner}', whose files only dlcli names; "
            "choose a folder outside it"
        )
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise InputError(f"{what} '{path}': cannot check it ({_why(exc)})") from None
    if not stat.S_ISDIR(info.st_mode):
        raise InputError(f"{what} '{path}' exists and is not a folder; choose a new one")
    return path


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
    atomic_write(
        path, lambda tmp: tmp.write_bytes(data), fresh=fresh, durable=durable, backup=backup
    )


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

        fh: IO[bytes] = gzip.open(path, "rb")  # type: ignore[assignment]
    elif name.endswith(".bz2"):
        import bz2

        fh = bz2.open(path, "rb")  # type: ignore[assignment]
    elif name.endswith(".xz"):
        import lzma

        fh = lzma.open(path, "rb")  # type: ignore[assignment]
    else:
        fh = open(path, "rb")
    return fh if max_line is None else LineBounded(fh, max_line, str(path))  # type: ignore[return-value]


def open_text(
    path: Path | str,
    encoding: str = "utf-8",
    errors: str = "strict",
    newline: str | None = None,
    max_line: int | None = None,
) -> IO[str]:
    """`open_binary` as text (newline="" for the csv module, which handles line ends itself)."""
    raw = open_binary(path, max_line)
    return io.TextIOWrapper(raw, encoding=encoding, errors=errors, newline=newline)  # type: ignore[arg-type]


class LineBounded(io.BufferedIOBase):
    """A byte stream that raises InputError once a line runs past `limit` bytes.

    It counts the bytes since the last newline across reads (C-speed `find`/`rfind` on each
    block), so the refusal comes after about `limit` bytes of the long line, whatever reads it
    (TextIOWrapper, the csv module, numpy). A line ends at "\n" (CRLF files count the "\r")."""

    def __init__(self, raw: IO[bytes], limit: int, name: str) -> None:
        super().__init__()
        self._raw, self._limit, self._name = raw, limit, name
        self._run = 0  # bytes of the current line so far
        self._line = 1  # its number

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:  # read all, but in blocks, so a long line stops early
            blocks = []
            while block := self.read1(1 << 20):
                blocks.append(block)
            return b"".join(blocks)
        return self._check(self._raw.read(size))

    def read1(self, size: int = -1) -> bytes:
        read1 = getattr(self._raw, "read1", None)
        if size is None or size < 0:
            size = 1 << 16
        return self._check(read1(size) if read1 is not None else self._raw.read(size))

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self.read1(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()

    def _check(self, data: bytes) -> bytes:
        last = data.rfind(b"\n")
        if last < 0:
            self._run += len(data)
        else:
            start = 0  # every line that ends in this block, the first one carrying the run
            while (end := data.find(b"\n", start)) >= 0:
                if self._run + end - start > self._limit:
                    self._refuse()
                self._run, self._line, start = 0, self._line + 1, end + 1
                if last - start <= self._limit:  # the inner lines cannot be too long
                    self._line += data.count(b"\n", start)
                    break
            self._run = len(data) - last - 1
        if self._run > self._limit:
            self._refuse()
        return data

    def _refuse(self) -> None:
        raise InputError(
            f"{self._name}:{self._line}: the line is longer than {human_bytes(self._limit)}, "
            "the most dlcli reads as one line; is the file meant to have line breaks?"
        )


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
