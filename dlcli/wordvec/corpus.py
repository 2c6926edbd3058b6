"""Pass 1 of 2: the inputs a CORPUS names, streamed through the tokeniser into a working file.

    corpus_files(corpus)          -> ['-'], one file, or the text files of a folder; a
                                     standard corpus by name (text8) unless a file of that name
                                     exists: its cached, extracted file
    iter_sentences(files, ..)     -> sentences (lists of tokens), one per line, cut like gensim's
    prepare_corpus(cfg, folder)   -> PreparedCorpus: `folder`/corpus.txt (one sentence per line,
                                     tokens separated by one space) and the vocabulary counts,
                                     over `cfg.workers` processes for large inputs (parallel.py)

The tokenising of one text stream, which this process and parallel.py's workers share, is in
tokenise.py. The corpus is never held in memory, only its vocabulary. Non-UTF-8 bytes are read
as U+FFFD and counted (tokenise.py). A "word" longer than
MAX_WORD characters is skipped and counted (the caller warns): it is not a word but a sign that
the text has no spaces where it should (a corpus without spaces would otherwise train a
vocabulary of one 16-MiB "word" and report success). Skipping rather than refusing keeps a big
corpus with a few such blobs (a base64 image, a DNA string) usable; a corpus that is nothing but
them ends with "holds no words", which names the skipped count. Standard library only.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dlcli.errors import InputError
from dlcli.tokens import tokenizer
from dlcli.wordvec.config import Word2VecConfig
from dlcli.wordvec.tokenise import MAX_WORD, Tally, text_sentences, text_stream, write_sentences

# package data, so the default corpus is there after any install (a wheel too)
SAMPLE_CORPUS = Path(__file__).resolve().parent.parent / "sample_data" / "kjv.txt.gz"
TEXT_SUFFIXES = (".txt", ".txt.gz", ".txt.bz2", ".txt.xz")


@dataclass
class PreparedCorpus:
    path: str  # tokenised file: one sentence per line, tokens separated by one space
    counts: Counter[str]  # in first-seen order, as gensim's own scan counts
    words: int
    sentences: int
    bytes: int
    replaced: int  # bytes that were not UTF-8 and were read as U+FFFD
    long_words: int = 0  # tokens longer than MAX_WORD characters, skipped


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


def iter_sentences(
    files: Iterable[str], lowercase: bool = True, raw: bool = False
) -> Iterator[list[str]]:
    """Sentences (one per line, cut in chunks of MAX_SENTENCE tokens), streamed from the inputs."""
    tokens_of = tokenizer(lowercase, raw)
    for name in files:
        text, _ = text_stream(name)
        try:
            yield from text_sentences(text, name, tokens_of)
        finally:
            if name == "-":
                text.detach()  # leave sys.stdin open
            else:
                text.close()  # and with it the decompressor and the file


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
                text, _ = text_stream(name)
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
