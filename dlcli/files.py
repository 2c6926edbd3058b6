"""Files: the one atomic writer and the one opener of compressed inputs that every module uses.

`atomic_write(path, write)` writes through a temporary name in the target folder, gives the file
the mode a plain `open()` would (0666 less the umask: mkstemp's 0600 would surprise users),
fsyncs it, renames it into place and fsyncs the folder, so that after it returns the file is
whole and on disk, and at no moment does a reader (or a crash) see half a file.

`open_binary(path)` opens a file for reading, decompressing `.gz`, `.bz2` and `.xz` by suffix;
`open_text` wraps it as UTF-8 text. Only the standard library is imported here.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")


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
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_folder(path.parent)


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


def open_binary(path: Path | str) -> IO[bytes]:
    """Open for reading, decompressing .gz / .bz2 / .xz by suffix."""
    name = str(path).lower()
    if name.endswith(".gz"):
        import gzip

        return gzip.open(path, "rb")
    if name.endswith(".bz2"):
        import bz2

        return bz2.open(path, "rb")
    if name.endswith(".xz"):
        import lzma

        return lzma.open(path, "rb")
    return open(path, "rb")


def open_text(
    path: Path | str, encoding: str = "utf-8", errors: str = "strict", newline: str | None = None
) -> IO[str]:
    """`open_binary` as text (newline="" for the csv module, which handles line ends itself)."""
    return io.TextIOWrapper(open_binary(path), encoding=encoding, errors=errors, newline=newline)


def read_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a damaged compressed or plain file raises while it is read."""
    import lzma
    import zlib

    return (OSError, EOFError, lzma.LZMAError, zlib.error)
