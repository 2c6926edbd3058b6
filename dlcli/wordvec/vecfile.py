"""The one reader of the word2vec vector format, for queries and for `train lstm --embeddings`.

    read_word2vec(path, label) -> (words, (N, D) float32 vectors)

Formats (also `.gz`/`.bz2`/`.xz`, through `dlcli.files.open_binary`):
- binary: a text header 'N D\\n', then per word its UTF-8 bytes, a space and D little-endian
  float32 (gensim 3 and the C tool add a newline after each vector; skipped);
- text: the same header, then 'word v1 ... vD' lines;
- GloVe: text without the header.

numpy only, no gensim: `train lstm --embeddings` needs just the arrays, and importing gensim
costs ~0.5 s (measured: `python -X importtime -c "import gensim.models"`, 0.52-0.60 s on the
2-core dev machine, against 0.04 s for numpy). `vectors.load_vectors` builds gensim
KeyedVectors from these arrays. The whole (decompressed) file is read into memory: the vectors
need that much anyway. Every problem is an `InputError` that starts with `label` and the path.
A word that comes twice keeps its first vector, as gensim's loader does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from dlcli.errors import InputError
from dlcli.files import check_regular, open_binary, read_errors

if TYPE_CHECKING:
    import numpy as np


def read_word2vec(
    path: str | os.PathLike[str], label: str = "--embeddings"
) -> tuple[list[str], np.ndarray]:
    """Words and their (N, D) float32 vectors from a word2vec text or binary file (or GloVe)."""
    path = Path(path)
    where = f"{label} {path}"
    not_w2v = f"{where} is not a word2vec vectors file (expected a 'COUNT DIM' header line)"
    check_regular(path, label)
    try:
        with open_binary(path) as f:
            raw = f.read()
    except read_errors() as exc:
        raise InputError(f"{where}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    end = raw.find(b"\n")
    first = raw[: end if end >= 0 else len(raw)].split()
    if len(first) == 2 and all(p.isdigit() for p in first):
        count, dim = int(first[0]), int(first[1])
        if count < 1 or dim < 1:
            raise InputError(f"{where}: the header '{count} {dim}' announces no vectors")
        body = raw[end + 1 :] if end >= 0 else b""
        if count * dim * 2 > len(body):
            # each number takes at least 2 bytes in text ('0 '), 4 in binary
            raise InputError(
                f"{where}: its header promises {count} vectors of {dim} numbers; "
                "the file is far too small for that"
            )
        nl = body.find(b"\n")
        if _is_text_line(body[: nl if nl >= 0 else len(body)], dim):
            return _read_text(where, body, dim, count)
        return _read_binary(where, body, dim, count)
    if len(first) < 2 or not _is_text_line(raw[: end if end >= 0 else len(raw)], len(first) - 1):
        raise InputError(not_w2v)
    return _read_text(where, raw, len(first) - 1, None)


def _is_text_line(line: bytes, dim: int) -> bool:
    parts = line.split()
    if len(parts) != dim + 1:
        return False
    try:
        [float(p) for p in parts[1:]]
    except ValueError:
        return False
    return True


def _read_text(
    where: str, body: bytes, dim: int, count: int | None
) -> tuple[list[str], np.ndarray]:
    import numpy as np

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{where}: byte offset {exc.start} is not UTF-8") from None
    bad = f"{where} is not a word2vec vectors file"
    index: dict[str, int] = {}
    rows: list[list[float]] = []
    seen = 0  # vector lines, duplicates included
    for number, line in enumerate(text.splitlines(), start=2 if count is not None else 1):
        if not line.strip():
            continue
        parts = line.rstrip().split(" ")
        if len(parts) != dim + 1:
            raise InputError(f"{bad}: line {number} has {len(parts) - 1} values, expected {dim}")
        try:
            row = [float(v) for v in parts[1:]]
        except ValueError:
            raise InputError(f"{bad}: line {number}: a value is not a number") from None
        seen += 1
        if parts[0] not in index:
            index[parts[0]] = len(rows)
            rows.append(row)
    if count is not None and seen != count:
        raise InputError(f"{bad}: the header announces {count} vectors, the file has {seen}")
    if not rows:
        raise InputError(f"{where}: no vectors")
    return list(index), np.asarray(rows, dtype=np.float32)


def _read_binary(where: str, body: bytes, dim: int, count: int) -> tuple[list[str], np.ndarray]:
    import numpy as np

    vectors = np.empty((count, dim), dtype=np.float32)  # (N, D)
    index: dict[str, int] = {}
    pos, width = 0, 4 * dim
    for i in range(count):
        while pos < len(body) and body[pos : pos + 1] in (b"\n", b" "):
            pos += 1  # the newline some writers put after each vector
        space = body.find(b" ", pos)
        if space < 0 or space + 1 + width > len(body):
            raise InputError(
                f"{where} is not a word2vec vectors file: it ends after {i} of {count} vectors "
                "(truncated, or not the binary format)"
            )
        try:
            word = body[pos:space].decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{where}: word {i + 1} is not UTF-8") from None
        if word not in index:
            vectors[len(index)] = np.frombuffer(body, dtype="<f4", count=dim, offset=space + 1)
            index[word] = len(index)
        pos = space + 1 + width
    return list(index), vectors[: len(index)]
