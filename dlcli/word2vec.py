"""word2vec on gensim: streaming tokenisation, training with live progress, saving, evaluating.

Training runs in two passes over the input and never holds the corpus in memory:

1. `prepare_corpus` streams the input (a file, `.gz`/`.bz2`/`.xz`, a folder of `.txt` files or
   stdin) through the tokeniser, writes one sentence per line of space-separated tokens to a
   temporary file and counts the vocabulary on the way (memory: the vocabulary only).
2. gensim trains on that file: by default in its `corpus_file` mode (C++ readers, one per worker,
   no Python in the hot loop), or with `stream=True` from a Python iterator over the same file.

Progress inside an epoch: gensim fires callbacks only per epoch, so a monitor thread polls a
counter every `progress_interval` seconds. In iterator mode the counter is the raw words of the
jobs that workers finished (counted in `_do_train_job`, once per 10,000-word job). In `corpus_file`
mode the workers run a whole epoch inside one C call, so the counter is the bytes the process has
read (`/proc/self/io` `rchar`) against the size of the tokenised file. Neither costs the workers
anything measurable (see the README's performance section).

Loss: gensim keeps one `running_training_loss` on the model, copies it into each job as a float32,
and writes it back at the end of the job, so concurrent workers overwrite each other's sums and a
large float32 total stops growing. Here each job (or worker-epoch in `corpus_file` mode) runs on a
thin proxy of the model whose own `running_training_loss` starts at zero; the per-job sums are added
up in Python. The reported loss is the mean per trained word of the epoch.

This module never prints: progress goes to callbacks, problems are raised as `InputError`.
gensim, numpy and scipy are imported inside functions.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import lzma
import os
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from dlcli.errors import InputError, RunFailure

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

MODELS = ("cbow", "skipgram")
MAX_SENTENCE = 10_000  # gensim's MAX_WORDS_IN_BATCH: longer sentences are cut into chunks of this
READ_CHUNK = 1 << 20  # characters read at a time, so a corpus that is one long line stays bounded
SAMPLE_CORPUS = Path(__file__).resolve().parent.parent / "sample_data" / "kjv.txt.gz"
TEXT_SUFFIXES = (".txt", ".txt.gz", ".txt.bz2", ".txt.xz")
OUT_SUFFIXES = {".txt": False, ".vec": False, ".bin": True}  # suffix -> binary word2vec format

# A token: letters/digits, with inner apostrophes or hyphens kept ("don't", "well-known").
# `[^\W_]` is a Unicode letter or digit; punctuation and symbols separate tokens and are dropped.
TOKEN = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")


@dataclass
class Word2VecConfig:
    """Everything one training run needs (built by the CLI; gensim's defaults unless noted)."""

    model: str = "skipgram"  # "cbow" or "skipgram"
    corpus: str | None = None  # a file, a folder of .txt files, "-" for stdin, None: the sample
    size: int = 100
    window: int = 5
    negative: int = 5
    hs: bool = False
    min_count: int = 5
    sample: float = 1e-3
    epochs: int = 5
    alpha: float = 0.025
    min_alpha: float = 0.0001
    workers: int | None = None  # None: every core this process may use
    seed: int = 1
    lowercase: bool = True
    raw: bool = False  # whitespace split only: the corpus is already tokenised
    stream: bool = False  # train from a Python iterator instead of gensim's corpus_file mode
    compute_loss: bool = False  # costs ~3% of skip-gram's throughput (README: Performance)
    out: str | None = None
    neighbours: int = 5  # frequent words shown with their nearest neighbours after training
    progress_interval: float = 0.25  # seconds between progress callbacks


@dataclass
class Progress:
    """A snapshot inside an epoch, sent to `on_progress` from the monitor thread."""

    epoch: int  # 1-based
    epochs: int
    words_done: int  # raw words of this epoch processed so far
    epoch_words: int  # raw words in one epoch
    words_per_second: float  # over this epoch so far
    learning_rate: float  # gensim's linearly decaying alpha at this point


@dataclass
class EpochReport:
    epoch: int  # 1-based
    epochs: int
    words: int  # raw words processed in the epoch
    trained_words: int  # after down-sampling and dropping words below --min-count
    seconds: float
    words_per_second: float
    learning_rate: float  # at the end of the epoch
    loss: float | None  # mean loss per trained word (None without compute_loss)


@dataclass
class PreparedCorpus:
    path: str  # tokenised file: one sentence per line, tokens separated by one space
    counts: Counter[str]
    words: int
    sentences: int
    bytes: int
    replaced: int  # bytes that were not UTF-8 and were read as U+FFFD


@dataclass
class TrainResult:
    model: str
    corpus: str
    vocab_size: int
    dim: int
    corpus_words: int
    corpus_sentences: int
    epochs: int
    mode: str  # "corpus_file" or "iterable"
    workers: int
    seconds: float  # the whole run: reading, vocabulary, training, saving
    prepare_seconds: float
    train_seconds: float
    words_per_second: float  # raw words trained per second of training
    out: str | None
    losses: list[float | None] = field(default_factory=list)
    neighbours: list[tuple[str, list[tuple[str, float]]]] = field(default_factory=list)
    vectors: Any = field(default=None, repr=False)  # the trained gensim KeyedVectors


# --------------------------------------------------------------------------- reading and tokenising

_replaced = threading.local()


def _count_replace(exc: UnicodeError) -> tuple[str, int]:
    """A codecs error handler: like 'replace', and counts the bytes it replaced."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _replaced.n = getattr(_replaced, "n", 0) + (exc.end - exc.start)
    return "\ufffd", exc.end


codecs.register_error("dlcli.replace", _count_replace)


def _open_binary(path: Path) -> IO[bytes]:
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    if name.endswith(".bz2"):
        return bz2.open(path, "rb")
    if name.endswith(".xz"):
        return lzma.open(path, "rb")
    return open(path, "rb")


def corpus_files(corpus: str | None) -> list[str]:
    """The inputs a CORPUS argument names: ['-'], one file, or the text files of a folder."""
    if corpus is None:
        if not SAMPLE_CORPUS.is_file():
            raise InputError(f"the sample corpus {SAMPLE_CORPUS} is missing; name a CORPUS")
        return [str(SAMPLE_CORPUS)]
    if corpus == "-":
        return ["-"]
    path = Path(corpus)
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


def _text_stream(name: str) -> tuple[IO[str], IO[bytes]]:
    """A UTF-8 text reader over one input (with our counting 'replace'); refuses binary data."""
    if name == "-":
        if sys.stdin.isatty():
            raise InputError("corpus '-' reads stdin, which is a terminal: pipe a corpus in")
        raw: IO[bytes] = sys.stdin.buffer
    else:
        try:
            raw = _open_binary(Path(name))
        except OSError as exc:
            raise InputError(f"cannot read {name}: {exc.strerror or exc}") from exc
    buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[arg-type]
    try:
        head = buffered.peek(8192)[:8192]  # type: ignore[attr-defined]
        if b"\x00" in head:
            raise InputError(f"{name} looks like a binary file (NUL bytes), not text")
    except (OSError, EOFError, lzma.LZMAError, InputError) as exc:
        if name != "-":
            raw.close()
        if isinstance(exc, InputError):
            raise
        raise InputError(f"cannot read {name}: {exc}") from exc
    text = io.TextIOWrapper(buffered, encoding="utf-8", errors="dlcli.replace", newline=None)  # type: ignore[arg-type]
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


def tokenizer(lowercase: bool = True, raw: bool = False) -> Callable[[str], list[str]]:
    """The function that turns a piece of text into tokens."""
    if raw:
        return str.split
    findall = TOKEN.findall
    if lowercase:
        return lambda text: findall(text.lower())
    return findall


def iter_sentences(
    files: Iterable[str], lowercase: bool = True, raw: bool = False
) -> Iterator[list[str]]:
    """Sentences (one per line, cut in chunks of MAX_SENTENCE tokens), streamed from the inputs."""
    tokens_of = tokenizer(lowercase, raw)
    for name in files:
        text, _ = _text_stream(name)
        try:
            pending: list[str] = []
            for piece, ends_line in _pieces(text):
                pending.extend(tokens_of(piece))
                while len(pending) >= MAX_SENTENCE and (len(pending) > MAX_SENTENCE or ends_line):
                    yield pending[:MAX_SENTENCE]
                    pending = pending[MAX_SENTENCE:]
                if ends_line and pending:
                    yield pending
                    pending = []
            if pending:
                yield pending
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise InputError(f"cannot read {name}: {exc}") from exc
        finally:
            if name == "-":
                text.detach()  # leave sys.stdin open
            else:
                text.close()  # and with it the decompressor and the file


def prepare_corpus(cfg: Word2VecConfig, folder: str) -> PreparedCorpus:
    """Tokenise the corpus into `folder`/corpus.txt and count its vocabulary (pass 1 of 2)."""
    files = corpus_files(cfg.corpus)
    path = os.path.join(folder, "corpus.txt")
    counts: Counter[str] = Counter()
    words = sentences = 0
    _replaced.n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        write, update = out.write, counts.update
        for sentence in iter_sentences(files, cfg.lowercase, cfg.raw):
            write(" ".join(sentence))
            write("\n")
            update(sentence)  # C-accelerated; keeps first-seen order, as gensim's scan does
            words += len(sentence)
            sentences += 1
    name = "stdin" if cfg.corpus == "-" else (cfg.corpus or str(SAMPLE_CORPUS))
    if words == 0:
        raise InputError(f"corpus {name} holds no words")
    top = max(counts.values())
    if top < cfg.min_count:
        raise InputError(
            f"no word in {name} occurs --min-count {cfg.min_count} times "
            f"(the most frequent occurs {top} times); lower --min-count"
        )
    return PreparedCorpus(
        path, counts, words, sentences, os.path.getsize(path), getattr(_replaced, "n", 0)
    )


# --------------------------------------------------------------------------- training


class _LossProxy:
    """The model as gensim's Cython sees it, with a private running loss that starts at zero."""

    __slots__ = ("_model", "running_training_loss", "wv")

    def __init__(self, model: Any) -> None:
        self._model = model
        self.running_training_loss = 0.0
        # Read once per token by the Cython batch code: a slot, not a __getattr__ round trip.
        self.wv = model.wv

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


class _Tracker:
    """What the workers report, summed per epoch (under a lock: workers are threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.raw_words = 0
            self.trained_words = 0
            self.loss = 0.0

    def add(self, raw: int, trained: int, loss: float) -> None:
        with self.lock:
            self.raw_words += raw
            self.trained_words += trained
            self.loss += loss


_MODEL_CLASS: Any = None


def _model_class() -> Any:
    """gensim's Word2Vec with per-job loss and word counting (built once, on first use)."""
    global _MODEL_CLASS
    if _MODEL_CLASS is not None:
        return _MODEL_CLASS
    from gensim.models import Word2Vec

    class TrackedWord2Vec(Word2Vec):
        dlcli_tracker: _Tracker

        def _do_train_job(self, sentences, alpha, inits):  # iterator mode: one 10k-word job
            proxy = _LossProxy(self)
            tally, raw = Word2Vec._do_train_job(proxy, sentences, alpha, inits)
            self.dlcli_tracker.add(raw, tally, proxy.running_training_loss)
            return tally, raw

        def _do_train_epoch(
            self,
            corpus_file,
            thread_id,
            offset,
            cython_vocab,
            thread_private_mem,
            cur_epoch,
            total_examples=None,
            total_words=None,
            **kwargs,
        ):
            proxy = _LossProxy(self)  # corpus_file mode: one worker's share of an epoch
            examples, tally, raw = Word2Vec._do_train_epoch(
                proxy,
                corpus_file,
                thread_id,
                offset,
                cython_vocab,
                thread_private_mem,
                cur_epoch,
                total_examples,
                total_words,
                **kwargs,
            )
            self.dlcli_tracker.add(raw, tally, proxy.running_training_loss)
            return examples, tally, raw

    _MODEL_CLASS = TrackedWord2Vec
    return TrackedWord2Vec


def _read_bytes_counter() -> Callable[[], int] | None:
    """Bytes this process has read so far (Linux `/proc/self/io` rchar), or None where unknown."""
    try:
        with open("/proc/self/io", "rb") as f:
            f.read()
    except OSError:
        return None

    def rchar() -> int:
        with open("/proc/self/io", "rb") as f:
            for line in f:
                if line.startswith(b"rchar:"):
                    return int(line.split()[1])
        return 0

    return rchar


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def check_out_path(out: str) -> bool:
    """Validate --out before any work; returns whether the format is binary."""
    suffix = Path(out).suffix.lower()
    if suffix not in OUT_SUFFIXES:
        raise InputError(f"--out {out}: use a .txt or .vec (word2vec text) or .bin (binary) name")
    parent = Path(out).parent
    if not parent.is_dir():
        raise InputError(f"--out {out}: folder {parent} does not exist")
    if Path(out).is_dir():
        raise InputError(f"--out {out} is a folder")
    try:  # before any work: can a file be created beside --out? (the save writes there first)
        fd, probe = tempfile.mkstemp(prefix=f".{Path(out).name}.", suffix=".probe", dir=parent)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write in {parent} ({exc.strerror})") from None
    os.close(fd)
    os.unlink(probe)
    return OUT_SUFFIXES[suffix]


def check_config(cfg: Word2VecConfig) -> None:
    if cfg.model not in MODELS:
        raise InputError(f"model {cfg.model!r}: use one of {', '.join(MODELS)}")
    for name, value, low in (
        ("--size", cfg.size, 1),
        ("--window", cfg.window, 1),
        ("--negative", cfg.negative, 0),
        ("--min-count", cfg.min_count, 1),
        ("--epochs", cfg.epochs, 1),
    ):
        if value < low:
            raise InputError(f"{name} {value}: must be at least {low}")
    if cfg.workers is not None and cfg.workers < 1:
        raise InputError(f"--workers {cfg.workers}: must be at least 1")
    if not cfg.hs and cfg.negative == 0:
        raise InputError("--negative 0 needs --hs: one of the two output layers must train")
    if not 0 < cfg.alpha <= 1:
        raise InputError(f"--alpha {cfg.alpha}: must be in (0, 1]")
    if cfg.sample < 0:
        raise InputError(f"--sample {cfg.sample}: must be 0 (off) or positive")
    if cfg.seed < 0 or cfg.seed >= 2**32:
        raise InputError(f"--seed {cfg.seed}: must be in [0, 2**32)")
    if cfg.out is not None:
        check_out_path(cfg.out)


def train_word2vec(
    cfg: Word2VecConfig,
    on_progress: Callable[[Progress], None] | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train word vectors as `cfg` says; save them to `cfg.out` if set; return the figures."""
    check_config(cfg)
    t_start = time.perf_counter()
    workers = cfg.workers or default_workers()
    with tempfile.TemporaryDirectory(prefix="dlcli-w2v-") as folder:
        if on_stage:
            on_stage("reading and tokenising the corpus")
        corpus = prepare_corpus(cfg, folder)
        if corpus.replaced and on_warning:
            on_warning(
                f"{corpus.replaced} bytes of the corpus were not UTF-8 and were read as U+FFFD"
            )
        model = _model_class()(
            vector_size=cfg.size,
            window=cfg.window,
            min_count=cfg.min_count,
            sample=cfg.sample,
            sg=int(cfg.model == "skipgram"),
            hs=int(cfg.hs),
            negative=cfg.negative,
            alpha=cfg.alpha,
            min_alpha=cfg.min_alpha,
            workers=workers,
            seed=cfg.seed,
            epochs=cfg.epochs,
            compute_loss=cfg.compute_loss,
        )
        tracker = _Tracker()
        model.dlcli_tracker = tracker
        # What gensim's build_vocab does after its own scan, from the counts of pass 1.
        model.raw_vocab = corpus.counts
        model.corpus_count = corpus.sentences
        model.corpus_total_words = corpus.words
        model.prepare_vocab()
        model.prepare_weights()
        corpus.counts = Counter()  # gensim copied what it keeps; free the raw counts

        t_prepared = time.perf_counter()  # reading, tokenising, importing gensim, vocabulary
        if on_stage:
            on_stage("training")
        epochs = _train(model, cfg, corpus, tracker, on_progress, on_epoch)
        t_trained = time.perf_counter()
        train_seconds = t_trained - t_prepared

    wv = model.wv
    if cfg.out is not None:
        save_vectors(wv, cfg.out)
    neighbours = probe_neighbours(wv, cfg.neighbours)
    return TrainResult(
        model=cfg.model,
        corpus="-" if cfg.corpus == "-" else (cfg.corpus or str(SAMPLE_CORPUS)),
        vocab_size=len(wv.index_to_key),
        dim=wv.vector_size,
        corpus_words=corpus.words,
        corpus_sentences=corpus.sentences,
        epochs=cfg.epochs,
        mode="iterable" if cfg.stream else "corpus_file",
        workers=workers,
        seconds=time.perf_counter() - t_start,
        prepare_seconds=t_prepared - t_start,
        train_seconds=train_seconds,
        words_per_second=corpus.words * cfg.epochs / train_seconds if train_seconds > 0 else 0.0,
        out=cfg.out,
        losses=[e.loss for e in epochs],
        neighbours=neighbours,
        vectors=wv,
    )


def _train(
    model: Any,
    cfg: Word2VecConfig,
    corpus: PreparedCorpus,
    tracker: _Tracker,
    on_progress: Callable[[Progress], None] | None,
    on_epoch: Callable[[EpochReport], None] | None,
) -> list[EpochReport]:
    """Run gensim's training with epoch callbacks and, if wanted, the progress monitor."""
    from gensim.models.callbacks import CallbackAny2Vec

    reports: list[EpochReport] = []
    rchar = None if cfg.stream else _read_bytes_counter()
    # Shared by the epoch hooks (training thread) and the monitor thread; `lock` keeps a snapshot
    # from mixing two epochs, `active` is False between an epoch's end and the next one's start.
    lock = threading.Lock()
    state: dict[str, Any] = {"epoch": 0, "t0": time.perf_counter(), "io0": 0, "active": False}

    def learning_rate(epoch0: int, fraction: float) -> float:
        # gensim: alpha falls linearly from alpha to min_alpha over all epochs' words
        progress = (epoch0 + min(1.0, fraction)) / cfg.epochs
        return max(cfg.min_alpha, cfg.alpha - (cfg.alpha - cfg.min_alpha) * progress)

    def words_done() -> int:
        if rchar is not None:  # corpus_file mode: bytes read against the tokenised file's size
            fraction = (rchar() - state["io0"]) / max(1, corpus.bytes)
            return int(min(1.0, fraction) * corpus.words)
        return tracker.raw_words

    class Hooks(CallbackAny2Vec):
        def on_epoch_begin(self, _model: Any) -> None:
            with lock:
                tracker.reset()
                state["t0"] = time.perf_counter()
                state["io0"] = rchar() if rchar is not None else 0
                state["active"] = True

        def on_epoch_end(self, _model: Any) -> None:
            with lock:
                seconds = time.perf_counter() - state["t0"]
                epoch0 = state["epoch"]
                state["epoch"] = epoch0 + 1
                state["active"] = False
            with tracker.lock:
                raw, trained, loss = tracker.raw_words, tracker.trained_words, tracker.loss
            report = EpochReport(
                epoch=epoch0 + 1,
                epochs=cfg.epochs,
                words=raw,
                trained_words=trained,
                seconds=seconds,
                words_per_second=raw / seconds if seconds > 0 else 0.0,
                learning_rate=learning_rate(epoch0, 1.0),
                loss=(loss / trained if trained else 0.0) if cfg.compute_loss else None,
            )
            reports.append(report)
            if on_epoch:
                on_epoch(report)

    stop = threading.Event()

    def monitor() -> None:
        while not stop.wait(cfg.progress_interval):
            with lock:
                if not state["active"]:
                    continue
                epoch0 = state["epoch"]
                done = words_done()
                elapsed = time.perf_counter() - state["t0"]
            on_progress(
                Progress(  # type: ignore[misc]
                    epoch=epoch0 + 1,
                    epochs=cfg.epochs,
                    words_done=done,
                    epoch_words=corpus.words,
                    words_per_second=done / elapsed if elapsed > 0 else 0.0,
                    learning_rate=learning_rate(epoch0, done / corpus.words),
                )
            )

    thread = threading.Thread(target=monitor, name="dlcli-progress", daemon=True)
    if on_progress is not None:
        thread.start()
    try:
        if cfg.stream:
            model.train(
                corpus_iterable=_TokenisedFile(corpus.path),
                total_examples=corpus.sentences,
                epochs=cfg.epochs,
                compute_loss=cfg.compute_loss,
                callbacks=[Hooks()],
            )
        else:
            model.train(
                corpus_file=corpus.path,
                total_examples=corpus.sentences,  # as gensim passes it: sentence-based decay
                total_words=corpus.words,
                epochs=cfg.epochs,
                compute_loss=cfg.compute_loss,
                callbacks=[Hooks()],
            )
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()
    return reports


class _TokenisedFile:
    """The tokenised corpus as a re-iterable stream of sentences (one pass per epoch)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __iter__(self) -> Iterator[list[str]]:
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                yield line.split()


def probe_neighbours(
    wv: KeyedVectors, k: int, topn: int = 5
) -> list[tuple[str, list[tuple[str, float]]]]:
    """Nearest neighbours of k frequent words, spread over ranks 40, 80, 160, ... of the vocabulary.

    The commonest words ('the', 'of', 'and') say little about vectors; words a few dozen to a
    few thousand ranks down show at once whether training worked.
    """
    keys = wv.index_to_key
    if k <= 0 or len(keys) < 2:
        return []
    probes: list[str] = []
    rank = min(40, len(keys) // 4)
    while len(probes) < k and rank < len(keys):
        word = next(
            (w for w in keys[rank : rank + 40] if w.isalpha() and len(w) >= 4 and w not in probes),
            None,
        )
        if word is not None:
            probes.append(word)
        rank = rank * 2 if rank else 1
    probes += [w for w in keys if w not in probes][: k - len(probes)]
    return [(w, [(n, float(s)) for n, s in wv.most_similar(w, topn=topn)]) for w in probes]


# --------------------------------------------------------------------------- saving and loading


def save_vectors(wv: KeyedVectors, out: str) -> None:
    """Write word2vec text or binary format (by suffix) atomically: temp name, then rename."""
    binary = check_out_path(out)
    folder = os.path.dirname(os.path.abspath(out))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(out)}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise RunFailure(f"cannot write --out {out}: {exc.strerror}") from None
    os.close(fd)
    try:
        wv.save_word2vec_format(tmp, binary=binary)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp made it 0600; give it a normal file's mode
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_vectors(path: str) -> KeyedVectors:
    """Load word2vec text or binary vectors; anything else is an InputError naming the file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"vectors file {path} does not exist")
    not_w2v = f"{path} is not a word2vec vectors file (expected a 'COUNT DIMS' header line)"
    compressed = p.name.lower().endswith((".gz", ".bz2", ".xz"))
    with _open_binary(p) as f:
        try:
            header = f.readline(256)
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise InputError(not_w2v) from exc
    parts = header.split()
    if len(parts) != 2 or not all(x.isdigit() for x in parts) or int(parts[1]) == 0:
        raise InputError(not_w2v)
    count, dims = int(parts[0]), int(parts[1])
    if count == 0:
        raise InputError(f"{path} holds no vectors")
    size = p.stat().st_size
    if (
        not compressed and count * dims * 2 > size
    ):  # each number takes >= 2 bytes in text, 4 in .bin
        raise InputError(
            f"{path}: its header promises {count} vectors of {dims} numbers; "
            f"the file is far too small for that"
        )
    from gensim.models import KeyedVectors

    binary_first = p.name.lower().removesuffix(".gz").removesuffix(".bz2").endswith(".bin")
    errors: list[str] = []
    for binary in (binary_first, not binary_first):
        try:
            return KeyedVectors.load_word2vec_format(path, binary=binary)
        except (ValueError, UnicodeDecodeError, EOFError, IndexError, OSError) as exc:
            errors.append(str(exc))
    raise InputError(f"{not_w2v}: {errors[0]}")


# --------------------------------------------------------------------------- using the vectors


def _unknown(wv: KeyedVectors, word: str) -> InputError:
    hint = ""
    if word.lower() != word and word.lower() in wv.key_to_index:
        hint = f" (did you mean {word.lower()!r}? the vectors were trained lower-cased)"
    return InputError(f"{word!r} is not in the vocabulary ({len(wv.index_to_key)} words){hint}")


def similar(wv: KeyedVectors, word: str, n: int = 10) -> list[tuple[str, float]]:
    """The n nearest words to `word` by cosine similarity."""
    if n < 1:
        raise InputError(f"-n {n}: must be at least 1")
    if word not in wv.key_to_index:
        raise _unknown(wv, word)
    return [(w, float(s)) for w, s in wv.most_similar(word, topn=n)]


def analogy(wv: KeyedVectors, a: str, b: str, c: str, n: int = 5) -> list[tuple[str, float]]:
    """A is to B as C is to ?: the n words nearest to B - A + C (3CosAdd, as gensim does)."""
    if n < 1:
        raise InputError(f"-n {n}: must be at least 1")
    for word in (a, b, c):
        if word not in wv.key_to_index:
            raise _unknown(wv, word)
    return [(w, float(s)) for w, s in wv.most_similar(positive=[b, c], negative=[a], topn=n)]


def default_analogies() -> str:
    from gensim.test.utils import datapath

    return datapath("questions-words.txt")


def default_pairs() -> str:
    from gensim.test.utils import datapath

    return datapath("wordsim353.tsv")


def _count_questions(path: str) -> int:
    """Questions in an analogy file, parsed as gensim parses them (4 words, not a ': ' header)."""
    n = 0
    with open(path, "rb") as f:
        for line in f:
            text = line.decode("utf-8", errors="replace")
            if not text.startswith(": ") and len(text.split()) == 4:
                n += 1
    return n


def evaluate_vectors(
    wv: KeyedVectors,
    analogies: str | None = None,
    pairs: str | None = None,
    restrict_vocab: int = 300_000,
    case_insensitive: bool = True,
) -> dict[str, Any]:
    """Analogy accuracy per section (semantic vs syntactic) and word-pair Spearman, via gensim."""
    import warnings

    analogies = analogies or default_analogies()
    pairs = pairs or default_pairs()
    for flag, path in (("--analogies", analogies), ("--pairs", pairs)):
        if not Path(path).is_file():
            raise InputError(f"{flag} {path} does not exist")

    try:
        _score, sections = wv.evaluate_word_analogies(
            analogies, restrict_vocab=restrict_vocab, case_insensitive=case_insensitive
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"--analogies {analogies}: {exc}") from exc
    questions = _count_questions(analogies)
    if questions == 0:
        raise InputError(f"--analogies {analogies} holds no questions ('A B C D' lines)")
    rows = []
    groups = {"semantic": [0, 0], "syntactic": [0, 0]}  # [correct, evaluated]
    for s in sections[:-1]:  # the last is gensim's 'Total accuracy'
        correct, evaluated = len(s["correct"]), len(s["correct"]) + len(s["incorrect"])
        rows.append(
            {
                "section": s["section"],
                "correct": correct,
                "evaluated": evaluated,
                "accuracy": correct / evaluated if evaluated else None,
            }
        )
        group = groups["syntactic" if s["section"].startswith("gram") else "semantic"]
        group[0] += correct
        group[1] += evaluated
    total = sections[-1]
    correct, evaluated = len(total["correct"]), len(total["correct"]) + len(total["incorrect"])

    spearman = pearson = None
    pairs_total = pairs_evaluated = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on constant input; the result is NaN then
        try:
            pear, spear, oov_ratio = wv.evaluate_word_pairs(
                pairs, restrict_vocab=restrict_vocab, case_insensitive=case_insensitive
            )
            spearman = float(spear[0])
            pearson = float(pear[0])
            coverage_pairs = 1.0 - oov_ratio / 100.0
        except ValueError as exc:
            if "No valid similarity judgements" not in str(exc):
                raise InputError(f"--pairs {pairs}: {exc}") from exc
            coverage_pairs = 0.0
        except UnicodeDecodeError as exc:
            raise InputError(f"--pairs {pairs}: {exc}") from exc
    pairs_total = _count_pairs(pairs)
    pairs_evaluated = round(coverage_pairs * pairs_total)

    def nan_to_none(x: float | None) -> float | None:
        return None if x is None or x != x else x

    return {
        "analogies": analogies,
        "analogy_accuracy": correct / evaluated if evaluated else None,
        "analogy_coverage": evaluated / questions,
        "analogy_questions": questions,
        "analogy_evaluated": evaluated,
        "semantic_accuracy": groups["semantic"][0] / groups["semantic"][1]
        if groups["semantic"][1]
        else None,
        "syntactic_accuracy": groups["syntactic"][0] / groups["syntactic"][1]
        if groups["syntactic"][1]
        else None,
        "sections": rows,
        "pairs": pairs,
        "pairs_spearman": nan_to_none(spearman),
        "pairs_pearson": nan_to_none(pearson),
        "pairs_coverage": coverage_pairs,
        "pairs_total": pairs_total,
        "pairs_evaluated": pairs_evaluated,
        "vocab_size": len(wv.index_to_key),
    }


def _count_pairs(path: str) -> int:
    """Valid 'A<TAB>B<TAB>score' lines, parsed as gensim's evaluate_word_pairs parses them."""
    n = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                continue
            try:
                float(parts[2])
            except ValueError:
                continue
            n += 1
    return n
