"""Pass 2 of 2: train word2vec on the working file with gensim's public API, report, save.

    train_word2vec(cfg, on_progress, on_epoch, on_warning, on_stage) -> TrainResult

The vocabulary comes from pass 1's counts (`build_vocab_from_freq`); gensim then trains in its
`corpus_file` mode (C++ readers, one per worker, no Python in the hot loop), or with
`cfg.stream` from a Python iterator over the same file. Epoch callbacks are gensim's own.

Progress inside an epoch: gensim has no in-epoch callback, so a monitor thread samples a counter
every `progress_interval` seconds, from the best source available:
- the tracker's finished-job words (tracking.py; iterator mode),
- the words the iterator has handed to gensim (iterator mode without the tracker),
- in `corpus_file` mode, the bytes the process has read (`/proc/self/io` rchar, Linux) against
  the working file's size; without /proc, the elapsed time against the previous epoch's (so
  the first epoch reports only at its end).
Neither costs the workers anything measurable (README: Performance).

Never prints: progress goes to callbacks, problems are raised as `InputError`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dlcli.wordvec import tracking
from dlcli.wordvec.config import Word2VecConfig
from dlcli.wordvec.corpus import (
    PreparedCorpus,
    TokenisedFile,
    corpus_name,
    default_workers,
    prepare_corpus,
)
from dlcli.wordvec.tokenise import MAX_WORD
from dlcli.wordvec.vectors import check_out_path, lock_out, probe_neighbours, save_vectors
from dlcli.wordvec.workdir import working_folder


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
    trained_words: int | None  # after down-sampling and --min-count (None: gensim untracked)
    seconds: float
    words_per_second: float
    learning_rate: float  # at the end of the epoch
    loss: float | None  # mean loss per trained word (None without compute_loss or tracker)


def _finite(x: float | None) -> float | None:
    return None if x is None or x != x else x


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

    def to_dict(self) -> dict[str, Any]:
        """The `dlcli word2vec cbow|skipgram --json` document (no NaN: null)."""
        losses = [_finite(x) for x in self.losses]
        return {
            "model": self.model,
            "corpus": self.corpus,
            "vocab_size": self.vocab_size,
            "dim": self.dim,
            "corpus_words": self.corpus_words,
            "sentences": self.corpus_sentences,
            "epochs": self.epochs,
            "workers": self.workers,
            "mode": self.mode,
            "seconds": round(self.seconds, 3),
            "prepare_seconds": round(self.prepare_seconds, 3),
            "train_seconds": round(self.train_seconds, 3),
            "words_per_second": round(self.words_per_second, 1),
            "loss": losses if any(x is not None for x in losses) else None,
            "out": self.out,
        }


def read_bytes_counter() -> Callable[[], int] | None:
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


def train_word2vec(
    cfg: Word2VecConfig,
    on_progress: Callable[[Progress], None] | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train word vectors as `cfg` says; save them to `cfg.out` if set; return the figures."""
    cfg.validate()
    with contextlib.ExitStack() as stack:
        if cfg.out is not None:
            check_out_path(cfg.out)
            stack.enter_context(lock_out(cfg.out))  # one writer of --out; its leftovers go
        return _train(cfg, on_progress, on_epoch, on_warning, on_stage)


def _train(
    cfg: Word2VecConfig,
    on_progress: Callable[[Progress], None] | None,
    on_epoch: Callable[[EpochReport], None] | None,
    on_warning: Callable[[str], None] | None,
    on_stage: Callable[[str], None] | None,
) -> TrainResult:
    warn = on_warning or (lambda _message: None)
    t_start = time.perf_counter()
    workers = cfg.workers or default_workers()
    with working_folder() as folder:  # the tokenised corpus: see workdir.py
        if on_stage:
            on_stage("reading and tokenising the corpus")
        corpus = prepare_corpus(cfg, folder)
        if corpus.replaced:
            warn(f"{corpus.replaced} bytes of the corpus were not UTF-8 and were read as U+FFFD")
        if corpus.long_words:
            warn(
                f"{corpus.long_words} token(s) longer than {MAX_WORD} characters were skipped "
                "(not words: is the text missing spaces?)"
            )
        model, tracker = _build_model(cfg, corpus, workers, warn)
        t_prepared = time.perf_counter()  # reading, tokenising, importing gensim, vocabulary
        if on_stage:
            on_stage("training")
        epochs = _run(model, cfg, corpus, tracker, on_progress, on_epoch)
        train_seconds = time.perf_counter() - t_prepared

    wv = model.wv
    if cfg.out is not None:
        save_vectors(wv, cfg.out)
    return TrainResult(
        model=cfg.model,
        corpus=corpus_name(cfg.corpus),
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
        neighbours=probe_neighbours(wv, cfg.neighbours),
        vectors=wv,
    )


def _build_model(
    cfg: Word2VecConfig, corpus: PreparedCorpus, workers: int, warn: Callable[[str], None]
) -> tuple[Any, tracking.Tracker | None]:
    """gensim's model (tracked where tracking.py supports this gensim) with pass 1's vocabulary."""
    model_class, reason = tracking.tracked_model_class()
    if reason is not None:
        warn(reason)
    model = model_class(
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
    tracker = None
    if reason is None:
        tracker = model.dlcli_tracker = tracking.Tracker()
    # What gensim's build_vocab does after its own scan, from the counts of pass 1.
    model.build_vocab_from_freq(corpus.counts, corpus_count=corpus.sentences)
    corpus.counts = Counter()  # gensim copied what it keeps; free the raw counts
    return model, tracker


class _Clock:
    """Where training is: shared by the epoch hooks (training thread) and the monitor thread.

    `lock` keeps a snapshot from mixing two epochs; `active` is False between an epoch's end and
    the next one's start.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.epoch = 0  # epochs finished
        self.t0 = time.perf_counter()
        self.io0 = 0
        self.active = False
        self.last_seconds: float | None = None  # the previous epoch's duration


def _words_done_source(
    cfg: Word2VecConfig,
    corpus: PreparedCorpus,
    tracker: tracking.Tracker | None,
    stream: TokenisedFile | None,
    clock: _Clock,
) -> tuple[Callable[[], int | None], Callable[[], int] | None]:
    """(words_done(), rchar or None): the best in-epoch counter this run has (module docstring)."""
    if stream is not None:
        if tracker is not None:
            return (lambda: tracker.raw_words), None
        return (lambda: min(stream.words_read, corpus.words)), None
    rchar = read_bytes_counter()
    if rchar is not None:

        def from_bytes() -> int:
            fraction = (rchar() - clock.io0) / max(1, corpus.bytes)
            return int(min(1.0, fraction) * corpus.words)

        return from_bytes, rchar

    def from_time() -> int | None:
        if not clock.last_seconds:
            return None  # the first epoch: nothing to compare with
        fraction = (time.perf_counter() - clock.t0) / clock.last_seconds
        return int(min(0.99, fraction) * corpus.words)

    return from_time, None


def _run(
    model: Any,
    cfg: Word2VecConfig,
    corpus: PreparedCorpus,
    tracker: tracking.Tracker | None,
    on_progress: Callable[[Progress], None] | None,
    on_epoch: Callable[[EpochReport], None] | None,
) -> list[EpochReport]:
    """Run gensim's training with epoch callbacks and, if wanted, the progress monitor.

    Long because the epoch hooks (training thread) and the monitor (its own thread) are closures
    over one clock, and reading them side by side is the point.
    """
    from gensim.models.callbacks import CallbackAny2Vec

    reports: list[EpochReport] = []
    clock = _Clock()
    stream = TokenisedFile(corpus.path) if cfg.stream else None
    words_done, rchar = _words_done_source(cfg, corpus, tracker, stream, clock)

    def learning_rate(epoch0: int, fraction: float) -> float:
        # gensim: alpha falls linearly from alpha to min_alpha over all epochs' words
        progress = (epoch0 + min(1.0, fraction)) / cfg.epochs
        return max(cfg.min_alpha, cfg.alpha - (cfg.alpha - cfg.min_alpha) * progress)

    class Hooks(CallbackAny2Vec):
        def on_epoch_begin(self, _model: Any) -> None:
            with clock.lock:
                if tracker is not None:
                    tracker.reset()
                clock.t0 = time.perf_counter()
                clock.io0 = rchar() if rchar is not None else 0
                clock.active = True

        def on_epoch_end(self, _model: Any) -> None:
            with clock.lock:
                seconds = time.perf_counter() - clock.t0
                epoch0, clock.epoch = clock.epoch, clock.epoch + 1
                clock.active, clock.last_seconds = False, seconds
            raw, trained, loss = tracker.snapshot() if tracker else (corpus.words, None, 0.0)
            report = EpochReport(
                epoch=epoch0 + 1,
                epochs=cfg.epochs,
                words=raw,
                trained_words=trained,
                seconds=seconds,
                words_per_second=raw / seconds if seconds > 0 else 0.0,
                learning_rate=learning_rate(epoch0, 1.0),
                loss=(loss / trained if trained else 0.0) if cfg.compute_loss and tracker else None,
            )
            reports.append(report)
            if on_epoch:
                on_epoch(report)

    def monitor(stop: threading.Event) -> None:
        while not stop.wait(cfg.progress_interval):
            with clock.lock:
                if not clock.active:
                    continue
                epoch0, done = clock.epoch, words_done()
                elapsed = time.perf_counter() - clock.t0
            if done is None:
                continue
            on_progress(  # type: ignore[misc]
                Progress(
                    epoch=epoch0 + 1,
                    epochs=cfg.epochs,
                    words_done=done,
                    epoch_words=corpus.words,
                    words_per_second=done / elapsed if elapsed > 0 else 0.0,
                    learning_rate=learning_rate(epoch0, done / corpus.words),
                )
            )

    stop = threading.Event()
    thread = threading.Thread(target=monitor, args=(stop,), name="dlcli-progress", daemon=True)
    if on_progress is not None:
        thread.start()
    try:
        if stream is not None:
            source: dict[str, Any] = {"corpus_iterable": stream}
        else:  # total_examples as gensim passes it: sentence-based decay
            source = {"corpus_file": corpus.path, "total_words": corpus.words}
        model.train(
            **source,
            total_examples=corpus.sentences,
            epochs=cfg.epochs,
            compute_loss=cfg.compute_loss,
            callbacks=[Hooks()],
        )
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()
    return reports
