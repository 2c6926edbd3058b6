"""Pass 1 of 2: the inputs a CORPUS names, streamed through the tokeniser into a working file.

    corpus_files(corpus)          -> ['-'], one file, or the text files of a folder; a
                                     standard corpus by name (text8) unless a file of that name
                                     exists: its cached, extracted file
    iter_sentences(files, ..)     -> sentences (lists of tokens), one per line, cut like gensim's
    prepare_corpus(cfg, folder)   -> PreparedCorpus: `folder`/corpus.txt (one sentence per line,
                                     tokens separated by one space) and the vocabulary counts,
                                     over `cfg.workers` processes for large inputs (parallel.py)
    text_sentences, write_sentences  the tokenising of one text stream, which both share

The corpus is never held in memory, only its vocabulary. Non-UTF-8 bytes are read as U+FFFD and
counted (a codecs error handler, registered on first use, not at import). A "word" longer than
MAX_WORD characters is skipped and counted (the caller warns): it is not a word but a sign that
the text has no spaces where it should (a corpus without spaces would otherwise train a
vocabulary of one 16-MiB "word" and report success). Skipping rather than refusing keeps a big
corpus with a few such blobs (a base64 image, a DNA string) usable; a corpus that is nothing but
them ends with "holds no words", which names the skipped count. Standard library only.
"""

from __future__ import annotations

import codecs
import io
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from dlcli.errors import InputError
from dlcli.files import open_binary, read_errors
from dlcli.tokens import tokenizer
from dlcli.wordvec.config import Word2VecConfig

MAX_SENTENCE = 10_000  # gensim's MAX_WORDS_IN_BATCH: longer sentences are cut into chunks of this
READ_CHUNK = 1 << 20  # characters read at a time, so a corpus that is one long line stays bounded
# package data, so the default corpus is there after any install (a wheel too)
SAMPLE_CORPUS = Path(__file__).resolve().parent.parent / "sample_data" / "kjv.txt.gz"
TEXT_SUFFIXES = (".txt", ".txt.gz", ".txt.bz2", ".txt.xz")
ERRORS = "dlcli.replace"  # the codecs error handler below
HEAD = 8192  # bytes of each input checked for NUL (binary data)
# The longest word kept: the longest words of English dictionaries have 45 letters, German
# compounds rarely pass 60 and chemical names 100; beyond that a token is a blob, not a word.
MAX_WORD = 100


@dataclass
class PreparedCorpus:
    path: str  # tokenised file: one sentence per line, tokens separated by one space
    counts: Counter[str]  # in first-seen order, as gensim's own scan counts
    words: int
    sentences: int
    bytes: int
    replaced: int  # bytes that were not UTF-8 and were read as U+FFFD
    long_words: int = 0  # tokens longer than MAX_WORD characters, skipped


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


def corpus_name(corpus: str | None) -> str:
    """The corpus as results and messages name it."""
    return "-" if corpus == "-" else (corpus or str(SAMPLE_CORPUS))


def corpus_files(corpus: str | None) -> list[str]:
    """The inputs a CORPUS argument names: ['-'], one file, or the text files of a folder."""
    if corpus is None:
        if not SAMPLE_CORPUS.is_file():
            raise InputError(f"the sample corpus {SAMPLE_CORPUS} is missing; name a CORPUS")
        return [str(SAMPLE_CORPUS)]
    if corpus == "-":
        return ["-"]
    path = Path(corpus)
    if not path.exists():
        from dlcli.datasets.registry import is_named

        if is_named(corpus):  # text8: the cached corpus (downloaded and extracted once)
            from dlcli.datasets.api import corpus_path

            return [str(corpus_path(corpus))]
    if path.is_dir():
        files = sorted(
            str(p)
            for p in path.rglob("*")
            if p.is_file() and p.name.lower().endswith(TEXT_SUFFIXES)
        )
        if not files:
            raise InputError(f"folder {corpus} holds no .txt files (also read: .txt.gz/.bz2/.xz)")
        return files
    if not path.exists():
        raise InputError(f"corpus {corpus} does not exist")
    if not path.is_file():
        raise InputError(f"corpus {corpus} is not a file or a folder")
    return [corpus]


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


def _text_stream(name: str) -> tuple[IO[str], IO[bytes]]:
    """A UTF-8 text reader over one input (with our counting 'replace'); refuses binary data."""
    register_handler()
    raw = open_input(name)
    buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[arg-type]
    try:
        refuse_binary(name, buffered.peek(HEAD)[:HEAD])  # type: ignore[attr-defined]
    except (*read_errors(), InputError) as exc:
        if name != "-":
            raw.close()
        if isinstance(exc, InputError):
            raise
        raise InputError(f"cannot read {name}: {exc}") from exc
    text = io.TextIOWrapper(buffered, encoding="utf-8", errors=ERRORS, newline=None)  # type: ignore[arg-type]
    return text, raw


def _pieces(text: IO[str]) -> Iterator[tuple[str, bool]]:
    """(piece, ends_line): the text in pieces of about READ_CHUNK characters, cut at whitespace.

    A line longer than READ_CHUNK comes in several pieces; only the last has ends_line=True. The
    word that straddles a cut is carried over whole to the next piece.
    """
    carry = ""
    while True:
        piece = text.readline(READ_CHUNK)
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
        elif len(piece) > 16 * READ_CHUNK:  # one 16-MiB "word": give up keeping it whole
            yield piece, False
        else:
            carry = piece


def iter_sentences(
    files: Iterable[str], lowercase: bool = True, raw: bool = False
) -> Iterator[list[str]]:
    """Sentences (one per line, cut in chunks of MAX_SENTENCE tokens), streamed from the inputs."""
    tokens_of = tokenizer(lowercase, raw)
    for name in files:
        text, _ = _text_stream(name)
        try:
            yield from text_sentences(text, name, tokens_of)
        finally:
            if name == "-":
                text.detach()  # leave sys.stdin open
            else:
                text.close()  # and with it the decompressor and the file


def text_sentences(
    text: IO[str], name: str, tokens_of: Callable[[str], list[str]]
) -> Iterator[list[str]]:
    """The sentences of one text stream; every line's sentences depend on that line alone, so
    any run of whole lines gives the sentences it gives inside the whole (parallel.py's basis)."""
    try:
        pending: list[str] = []
        for piece, ends_line in _pieces(text):
            tokens = tokens_of(piece)
            if tokens and len(piece) > MAX_WORD and max(map(len, tokens)) > MAX_WORD:
                kept = [t for t in tokens if len(t) <= MAX_WORD]
                _long.n = getattr(_long, "n", 0) + len(tokens) - len(kept)
                tokens = kept
            pending.extend(tokens)
            while len(pending) >= MAX_SENTENCE and (len(pending) > MAX_SENTENCE or ends_line):
                yield pending[:MAX_SENTENCE]
                pending = pending[MAX_SENTENCE:]
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


def write_sentences(text: IO[str], name: str, tokens_of: Callable, out: IO[str]) -> Tally:
    """Tokenise `text` into `out` (one sentence per line, tokens separated by one space)."""
    tally = Tally()
    counts, words, sentences = tally.counts, 0, 0
    write, update = out.write, counts.update
    _replaced.n = _long.n = 0
    for sentence in text_sentences(text, name, tokens_of):
        write(" ".join(sentence))
        write("\n")
        update(sentence)  # C-accelerated; keeps first-seen order, as gensim's scan does
        words += len(sentence)
        sentences += 1
    tally.words, tally.sentences, tally.replaced = words, sentences, getattr(_replaced, "n", 0)
    tally.long_words = getattr(_long, "n", 0)
    return tally


def default_workers() -> int:
    """Every core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def prepare_corpus(cfg: Word2VecConfig, folder: str) -> PreparedCorpus:
    """Tokenise the corpus into `folder`/corpus.txt and count its vocabulary (pass 1 of 2).

    With more than one worker (`cfg.workers`, default: every core) and more than a few MB of
    input, the work is split over worker processes (parallel.py); the file and the counts are
    byte for byte those of one process.
    """
    files = corpus_files(cfg.corpus)
    path = os.path.join(folder, "corpus.txt")
    workers = cfg.workers or default_workers()
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        from dlcli.wordvec import parallel

        if workers > 1 and parallel.worth_it(files):
            tally = parallel.tokenise(files, cfg.lowercase, cfg.raw, workers, out)
        else:
            tally = Tally()
            tokens_of = tokenizer(cfg.lowercase, cfg.raw)
            for name in files:
                text, _ = _text_stream(name)
                try:
                    tally.add(write_sentences(text, name, tokens_of, out))
                finally:
                    if name == "-":
                        text.detach()  # leave sys.stdin open
                    else:
                        text.close()  # and with it the decompressor and the file
    name = "stdin" if cfg.corpus == "-" else corpus_name(cfg.corpus)
    if tally.words == 0:
        skipped = (
            f" ({tally.long_words} longer than {MAX_WORD} characters were skipped: does the text "
            "have spaces between its words?)"
            if tally.long_words
            else ""
        )
        raise InputError(f"corpus {name} holds no words{skipped}")
    top = max(tally.counts.values())
    if top < cfg.min_count:
        raise InputError(
            f"no word in {name} occurs --min-count {cfg.min_count} times "
            f"(the most frequent occurs {top} times); lower --min-count"
        )
    return PreparedCorpus(
        path,
        tally.counts,
        tally.words,
        tally.sentences,
        os.path.getsize(path),
        tally.replaced,
        tally.long_words,
    )


class TokenisedFile:
    """The working file as a re-iterable stream of sentences (one pass per epoch).

    `words_read` counts the words handed to gensim in the current pass: gensim's job producer
    reads a few jobs ahead of its workers, so this is in-epoch progress through plain gensim API.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.words_read = 0

    def __iter__(self) -> Iterator[list[str]]:
        self.words_read = 0
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                sentence = line.split()
                self.words_read += len(sentence)
                yield sentence
