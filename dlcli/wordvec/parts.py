"""The inputs of the tokenising pass cut into parts of whole lines, in order (parallel.py's
docstring says why a part tokenises alone exactly as inside the whole):

- a plain file into byte ranges that end just after a b"\\n" near equal offsets;
- a compressed file or stdin, read and decompressed here in blocks, into the whole lines of each
  block (a line longer than SPOOL_LINE goes to a spool file, so memory stays bounded).

Standard library only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from dlcli.errors import InputError
from dlcli.files import is_compressed, read_errors
from dlcli.wordvec.tokenise import HEAD, open_input, refuse_binary

RANGE_MIN, RANGE_MAX = 1 << 20, 4 << 20  # plain-file parts: input / (4 x workers), at most 4 MiB
STREAM_BLOCK = 4 << 20  # bytes read (decompressed) at a time from a compressed file or stdin
SPOOL_LINE = 64 << 20  # a streamed line longer than this goes to a spool file, not memory
COMPRESSION = 4  # a compressed file's size x this: its text, roughly


def estimate(files: list[str]) -> int:
    """The inputs' text in bytes, roughly (a compressed file: its size x COMPRESSION)."""
    total = 0
    for name in files:
        with contextlib.suppress(OSError):
            size = os.path.getsize(name)
            total += size * COMPRESSION if is_compressed(name) else size
    return total


@dataclass(frozen=True)
class Part:
    """A run of whole lines of one input: a byte range of a file, or bytes read here."""

    name: str  # the input, as messages name it
    path: str | None = None  # the file to read (an input or a spool file); None: `data`
    start: int = 0
    end: int = 0
    data: bytes = b""
    spool: bool = False  # `path` is a spool file, removed once read

    @property
    def size(self) -> int:
        return self.end - self.start if self.path is not None else len(self.data)


def cut_parts(files: list[str], workers: int, folder: str) -> Iterator[Part]:
    """Every input's parts, in order (read lazily: streamed inputs are read as parts are taken)."""
    step = min(RANGE_MAX, max(RANGE_MIN, estimate(files) // (4 * workers)))
    spools = iter(range(1 << 62))
    for name in files:
        if name == "-" or is_compressed(name):
            yield from _stream_parts(name, folder, spools)
        else:
            yield from _file_parts(name, step)


def _file_parts(name: str, step: int) -> Iterator[Part]:
    """Byte ranges of a plain file, each ending just after a b"\\n" (or at the end of the file)."""
    try:
        with open(name, "rb") as f:
            refuse_binary(name, f.read(HEAD))
            size = os.fstat(f.fileno()).st_size
            start = 0
            while start < size:
                end = size if start + step >= size else _line_end(f, start + step, size)
                yield Part(name, name, start, end)
                start = end
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}") from exc


def _line_end(f: IO[bytes], offset: int, size: int) -> int:
    """The offset just after the first b"\\n" at or after `offset - 1` (or `size`)."""
    f.seek(offset - 1)
    pos = offset - 1
    while True:
        block = f.read(1 << 16)
        if not block:
            return size
        i = block.find(b"\n")
        if i >= 0:
            return pos + i + 1
        pos += len(block)


def _stream_parts(name: str, folder: str, spools: Iterator[int]) -> Iterator[Part]:
    """Blocks of whole lines read from stdin or a compressed file (decompressed here)."""
    raw = open_input(name)
    try:
        first = True
        pending: list[bytes] = []  # the start of a line not yet ended
        pending_size = 0
        while True:
            block = raw.read(STREAM_BLOCK)
            if first:
                refuse_binary(name, block[:HEAD])
                first = False
            if not block:
                break
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                pending.append(block)
                pending_size += len(block)
                if pending_size > SPOOL_LINE:
                    part, rest = _spool_line(name, raw, pending, folder, next(spools))
                    yield part
                    pending, pending_size = [rest], len(rest)
                continue
            pending.append(block[:cut])
            yield Part(name, data=b"".join(pending))
            pending, pending_size = [block[cut:]], len(block) - cut
        if pending_size:
            yield Part(name, data=b"".join(pending))
    except read_errors() as exc:
        raise InputError(f"cannot read {name}: {exc}") from exc
    finally:
        if name != "-":
            raw.close()


def _spool_line(
    name: str, raw: IO[bytes], pending: list[bytes], folder: str, n: int
) -> tuple[Part, bytes]:
    """Write a line too long for memory (and the line end) to a spool file: (its part, the rest)."""
    path = os.path.join(folder, f"corpus.txt.spool-{n}")
    rest = b""
    with open(path, "wb") as f:
        f.writelines(pending)
        while True:
            block = raw.read(STREAM_BLOCK)
            if not block:
                break
            cut = block.find(b"\n") + 1
            if cut:
                f.write(block[:cut])
                rest = block[cut:]
                break
            f.write(block)
        size = f.tell()
    return Part(name, path, 0, size, spool=True), rest
