"""Text: a CSV with `text` and `label` columns, or a .txt of one text per line -> token ids.

The `text` kind (.txt, compressed too) is read by the families that take text (`train lstm`:
its data hooks in `dlcli.training.recurrent`); for the others it is no training data.

    read_text_csv(path)        -> TextTable (texts, labels, warnings); strict UTF-8, clear errors
    tokenize(text)             -> lower-cased words (dlcli.tokens: the tokeniser `dlcli word2vec`
                                  uses; "isn't" and "well-known" stay one word, punctuation goes)
    Vocabulary.build(...)      -> <pad>=0, <unk>=1, then words seen at least `min_count` times,
                                  most frequent first (ties alphabetical: deterministic)
    encode(token lists, vocab) -> (N, T) int64 ids, right-padded with 0, truncated to `max_length`
    read_word2vec(path)        -> the word2vec text or binary format (dlcli.wordvec.vecfile, the
                                  one reader `dlcli word2vec` queries use too; GloVe's text too)
    embedding_table(vocab, ..) -> (V, E) float32 initial table and the coverage figures

The vocabulary is built from the training split only, so held-out words are unknown at test time as
they would be for new data. Backend only: raises InputError, never prints; numpy and torch are
imported inside functions.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import dlcli.training.data.tables as tables
from dlcli.errors import InputError
from dlcli.files import check_regular, open_binary, read_errors
from dlcli.tokens import tokenize as tokenize  # re-exported: recurrent.py imports it from here
from dlcli.training.data.kinds import InputKind
from dlcli.wordvec.vecfile import read_word2vec as read_word2vec  # re-exported likewise

if TYPE_CHECKING:
    import numpy as np

PAD, UNK = "<pad>", "<unk>"


@dataclass
class TextTable:
    texts: list[str]
    labels: list[str]
    warnings: list[str] = field(default_factory=list)


def decode_text(path: Path) -> str:
    """A whole text file (compressed or not) as str: strict UTF-8, a BOM skipped, every line
    within `tables.MAX_CSV_LINE`."""
    check_regular(path, "text CSV")
    try:
        with open_binary(path, max_line=tables.MAX_CSV_LINE) as f:
            raw = f.read()
    except read_errors() as exc:
        raise InputError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path}, line {line}: byte 0x{raw[exc.start]:02x} at offset {exc.start} is not UTF-8; "
            "re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from None


def read_text_csv(
    path: str | Path, text_column: str = "text", label_column: str = "label", training: bool = True
) -> TextTable:
    """Read a labelled text CSV.

    training: the label column is required, rows with empty text are dropped with a warning and
    at least two classes must remain. Otherwise (predict, evaluate) the labels are optional
    (`labels` is then empty) and every row is kept, in order.
    """
    path = Path(path)
    content = decode_text(path)
    if not content.strip():
        raise InputError(
            f"{path}: the file is empty; "
            f"expected a header with '{text_column}' and '{label_column}'"
        )
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = [name.strip() for name in next(reader)]
        rows = list(reader)
    except csv.Error as exc:
        raise InputError(f"{path}, line {reader.line_num}: malformed CSV: {exc}") from None
    needed = (text_column, label_column) if training else (text_column,)
    missing = [name for name in needed if name not in header]
    if missing:
        raise InputError(
            f"{path}: no column {' or '.join(repr(m) for m in missing)}; the header has "
            f"{', '.join(repr(h) for h in header)} (text data needs '{text_column}' and "
            f"'{label_column}'; --target names another label column)"
        )
    warnings = []
    extra = [h for h in header if h not in (text_column, label_column)]
    if extra and training:
        warnings.append(
            f"{path}: ignoring column{'s' if len(extra) > 1 else ''} {', '.join(extra)}"
        )
    ti = header.index(text_column)
    li = header.index(label_column) if label_column in header else None
    texts, labels, empty = [], [], []
    for line, row in enumerate(rows, start=2):
        if not row:
            continue  # a blank line
        if len(row) != len(header):
            raise InputError(
                f"{path}, line {line}: {len(row)} fields, the header has {len(header)}"
            )
        text = row[ti]
        if training and not tokenize(text):
            empty.append(line)
            continue
        if li is not None:
            label = row[li].strip()
            if not label:
                raise InputError(f"{path}, line {line}: empty '{label_column}'")
            labels.append(label)
        texts.append(text)
    if empty:
        shown = ", ".join(str(n) for n in empty[:5]) + (", ..." if len(empty) > 5 else "")
        warnings.append(f"{path}: skipped {len(empty)} row(s) with empty text (line {shown})")
    if not texts:
        raise InputError(f"{path}: no rows with text (header only, or every text is empty)")
    if training and len(set(labels)) < 2:
        raise InputError(
            f"{path}: every row has the label '{labels[0]}'; a classifier needs at least 2 classes"
        )
    return TextTable(texts, labels, warnings)


@dataclass
class Vocabulary:
    """Index <-> word; 0 is padding, 1 the unknown word."""

    words: list[str]

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def build(
        cls, token_lists: Iterable[Sequence[str]], min_count: int = 1, max_size: int | None = None
    ) -> Vocabulary:
        if min_count < 1:
            raise InputError(f"invalid --min-count {min_count}: expected a positive integer")
        counts = Counter(t for tokens in token_lists for t in tokens)
        kept = sorted(
            (w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w)
        )
        if max_size is not None:
            kept = kept[: max(0, max_size - 2)]
        return cls([PAD, UNK, *kept])

    def ids(self, tokens: Sequence[str]) -> list[int]:
        unk = 1
        return [self.index.get(t, unk) for t in tokens]


def encode(
    token_lists: Sequence[Sequence[str]], vocab: Vocabulary, max_length: int | None = None
) -> np.ndarray:
    """(N, T) int64, right-padded with 0; T is the longest sequence (capped at max_length)."""
    import numpy as np

    longest = max((len(t) for t in token_lists), default=1)
    width = max(1, min(longest, max_length) if max_length else longest)
    out = np.zeros((len(token_lists), width), dtype=np.int64)
    for row, tokens in enumerate(token_lists):
        ids = vocab.ids(tokens[:width])
        out[row, : len(ids)] = ids
    return out


# --- word vectors -----------------------------------------------------------------------------


@dataclass
class Coverage:
    """How much of the vocabulary the pretrained vectors cover."""

    words: int  # vocabulary words (pad and unk excluded) with a pretrained vector
    vocab: int  # vocabulary words (pad and unk excluded)
    tokens: float  # fraction of the training tokens whose word has a pretrained vector

    @property
    def fraction(self) -> float:
        return self.words / self.vocab if self.vocab else 0.0

    def to_dict(self) -> dict:
        return {
            "words": self.words,
            "vocab": self.vocab,
            "fraction": round(self.fraction, 4),
            "tokens": round(self.tokens, 4),
        }


def embedding_table(
    vocab: Vocabulary,
    words: list[str],
    vectors: np.ndarray,
    seed: int,
    token_counts: Counter | None = None,
) -> tuple[np.ndarray, Coverage]:
    """(V, D) float32 initial embedding table.

    The pretrained vector where the word has one (exact, else lower-cased), small random vectors
    N(0, (0.1 * std of the pretrained values)^2) for the rest, zeros for <pad>.
    """
    import numpy as np

    lookup = {w: i for i, w in enumerate(words)}
    for i, w in enumerate(words):
        lookup.setdefault(w.lower(), i)
    rng = np.random.default_rng(seed)
    scale = 0.1 * float(vectors.std()) or 0.01
    table = rng.normal(0.0, scale, size=(len(vocab), vectors.shape[1])).astype(np.float32)
    table[0] = 0.0
    found = 0
    covered_tokens = total_tokens = 0
    for index, word in enumerate(vocab.words[2:], start=2):
        source = lookup.get(word)
        if source is not None:
            table[index] = vectors[source]
            found += 1
        if token_counts is not None and source is not None:
            covered_tokens += token_counts[word]
    if token_counts is not None:
        total_tokens = sum(token_counts.values())  # <unk> words count as not covered
    tokens = covered_tokens / total_tokens if total_tokens else 0.0
    return table, Coverage(found, len(vocab) - 2, tokens)


KIND = InputKind("text", suffixes=(".txt",), compressed=True)
