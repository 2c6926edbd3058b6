"""`LineBounded`: a byte stream that refuses a line longer than a limit as soon as it passes it
(`dlcli.files.open_binary(path, max_line=N)` wraps its file in one). Standard library only.
"""

from __future__ import annotations

import io
from typing import IO

from dlcli.errors import InputError


class LineBounded(io.BufferedIOBase):
    """A byte stream that raises InputError once a line runs past `limit` bytes.

    It counts the bytes since the last newline across reads (C-speed `find`/`rfind` on each
    block), so the refusal comes after about `limit` bytes of the long line, whatever reads it
    (TextIOWrapper, the csv module, numpy). A line ends at "\n" (CRLF files count the "\r")."""

    def __init__(self, raw: IO[bytes], limit: int, name: str, shown_limit: str) -> None:
        super().__init__()
        self._raw, self._limit, self._name = raw, limit, name
        self._shown_limit = shown_limit  # the limit as the message says it (`human_bytes`)
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

    def readinto(self, buffer) -> int:
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
            f"{self._name}:{self._line}: the line is longer than {self._shown_limit}, "
            "the most dlcli reads as one line; is the file meant to have line breaks?"
        )
