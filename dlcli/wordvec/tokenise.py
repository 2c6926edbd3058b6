"""The tokenising of one text stream, which a single process and the worker processes share.

    open_input(name), text_stream(name) -> one input as bytes / as UTF-8 text (binary refused)
    text_sentences(text, ..)            -> its sentences (lists of tokens), one per line, cut
                                           like gensim's (chunks of MAX_SENTENCE tokens)
    write_sentences(text, .., out)      -> Tally: those sentences written to a working file
    Cuts                                   READ_CHUNK and MAX_SENTENCE as one value, which the
                                           parent hands to its worker processes

Non-UTF-8 bytes are read as U+FFFD and counted (a codecs error handler, registered on first use,
not at import). A "word" longer than MAX_WORD characters is skipped and counted (see corpus.py).
Standard library only; imports nothing of dlcli.wordvec (corpus.py and parallel.py build on it).
"""

from __future__ import annotations

import codecs
import io
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, cast

from dlcli.errors import InputError
from dlcli.files import open_binary, read_errors

MAX_SENTENCE = 10_000  # gensim's MAX_WORDS_IN_BATCH: longer sentences are cut into chunks of this
READ_CHUNK = 1 << 20  # characters read at a time, so a corpus that is one long line stays bounded
ERRORS = "dlcli.replace"  # the codecs error handler below
HEAD = 8192  # bytes of each input checked for NUL (binary data)
# The longest word kept: the longest words of English dictionaries have 45 letters, German
# compounds rarely pass 60 and chemical names 100; beyond that a token is a blob, not a word.
MAX_WORD = 100

Tokenizer = Callable[[str], list[str]]


@dataclass(frozen=True)
class Cuts:
    """Where long input is cut: READ_CHUNK characters read at a time, MAX_SENTENCE tokens per
    sentence. Passed to worker processes, so they cut where this process does."""

    read_chunk: int
    max_sentence: int

    @classmethod
    def current(cls) -> Cuts:
        """The module's values now (a test may lower them to exercise the cuts)."""
        return cls(READ_CHUNK, MAX_SENTENCE)


_replaced = threading.local()
_long = threading.local()  # .n: tokens over MAX_WORD skipped by text_sentences in this thread


def _count_replace(exc: UnicodeError) -> tuple[str, int]:
    """A codecs error handler: like 'replace', and counts the bytes it replaced."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _replaced.n = getattr(_replaced, "n", 0) + (exc.end - exc.start)
    return "\ufffd", exc.end


def register_handler() -> None:
    """Register ERRORS once, when a corpus is first read (importing this module changes nothing)."""
    try:
        codecs.lookup_error(ERRORS)
    except LookupError:
        codecs.register_error(ERRORS, _count_replace)


def refuse_binary(name: str, head: bytes) -> None:
    """Raise InputError if the first HEAD bytes of an input hold a NUL byte (not text)."""
    if b"\x00" in head:
        raise InputError(f"{name} looks like a binary file (NUL bytes), not text")


def open_input(name: str) -> IO[bytes]:
    """One input of a corpus as bytes: stdin for '-' (not a terminal), else the file,
    decompressed by suffix; an InputError naming it when it cannot be opened."""
    if name == "-":
        if sys.stdin.isatty():
            raise InputError("corpus '-' reads stdin, which is a terminal: pipe a corpus in")
        return sys.stdin.buffer
    try:
        return open_binary(name)
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}") from exc


def text_stream(name: str) -> tuple[io.TextIOWrapper, IO[bytes]]:
    """A UTF-8 text reader over one input (with our counting 'replace'); refuses binary data."""
    register_handler()
    raw = open_input(name)
    # stdin's buffer and our decompressors peek already; a bare raw stream gets a buffer
    if not hasattr(raw, "peek"):
        raw = io.BufferedReader(cast(io.RawIOBase, raw))
    buffered = cast(io.BufferedReader, raw)
    failures: tuple[type[BaseException], ...] = (*read_errors(), InputError)
    try:
        refuse_binary(name, buffered.peek(HEAD)[:HEAD])
    except failures as exc:
        if name != "-":
            raw.close()
        if isinstance(exc, InputError):
            raise
        raise InputError(f"cannot read {name}: {exc}") from exc
    text = io.TextIOWrapper(buffered, encoding="utf-8", errors=ERRORS, newline=None)
    return text, raw


def _pieces(text: IO[str], read_chunk: int) -> Iterator[tuple[str, bool]]:
    """(piece, ends_line): the text in pieces of about READ_CHUNK characters, cut at whitespace.

    A line longer than READ_CHUNK comes in several pieces; only the last has ends_line=True. The
    word that straddles a cut is carried over whole to the next piece.
    """
    carry = ""
    while True:
        piece = text.readline(read_chunk)
        if not piece:
            if carry:
                yield carry, True
            return
        piece = carry + piece
        carry = ""
        if piece.endswith("\n"):
            yield piece, True
            continue
        # No newline: a long line cut at READ_CHUNK, or the last line of a file without one.
        cut = max(piece.rfind(" "), piece.rfind("\t"))
        if cut >= 0:
            yield piece[:cut], False
            carry = piece[cut + 1 :]
        elif len(piece) > 16 * read_chunk:  # one 16-MiB "word": give up keeping it whole
            yield piece, False
        else:
            carry = piece


def text_sentences(
    text: IO[str], name: str, tokens_of: Tokenizer, cuts: Cuts | None = None
) -> Iterator[list[str]]:
    """The sentences of one text stream; every line's sentences depend on that line alone, so
    any run of whole lines gives the sentences it gives inside the whole (parallel.py's basis)."""
    cuts = cuts or Cuts.current()
    max_sentence = cuts.max_sentence
    try:
        pending: list[str] = []
        for piece, ends_line in _pieces(text, cuts.read_chunk):
            tokens = tokens_of(piece)
            if tokens and len(piece) > MAX_WORD and max(map(len, tokens)) > MAX_WORD:
                kept = [t for t in tokens if len(t) <= MAX_WORD]
                _long.n = getattr(_long, "n", 0) + len(tokens) - len(kept)
                tokens = kept
            pending.extend(tokens)
            while len(pending) >= max_sentence and (len(pending) > max_sentence or ends_line):
                yield pending[:max_sentence]
                pending = pending[max_sentence:]
            if ends_line and pending:
                yield pending
                pending = []
        if pending:
            yield pending
    except read_errors() as exc:
        raise InputError(f"cannot read {name}: {exc}") from exc


@dataclass
class Tally:
    """What the tokenising pass counts, for the whole corpus or one part of it."""

    counts: Counter[str] = field(default_factory=Counter)  # first-seen order
    words: int = 0
    sentences: int = 0
    replaced: int = 0
    long_words: int = 0

    def add(self, other: Tally) -> None:
        """Merge the tally of the part that follows (first-seen order is kept)."""
        self.counts.update(other.counts)
        self.words += other.words
        self.sentences += other.sentences
        self.replaced += other.replaced
        self.long_words += other.long_words


def write_sentences(
    text: IO[str], name: str, tokens_of: Tokenizer, out: IO[str], cuts: Cuts | None = None
) -> Tally:
    """Tokenise `text` into `out` (one sentence per line, tokens separated by one space)."""
    tally = Tally()
    counts, words, sentences = tally.counts, 0, 0
    write, update = out.write, counts.update
    _replaced.n = _long.n = 0
    for sentence in text_sentences(text, name, tokens_of, cuts):
        write(" ".join(sentence))
        write("\n")
        update(sentence)  # C-accelerated; keeps first-seen order, as gensim's scan does
        words += len(sentence)
        sentences += 1
    tally.words, tally.sentences, tally.replaced = words, sentences, getattr(_replaced, "n", 0)
    tally.long_words = getattr(_long, "n", 0)
    return tally
