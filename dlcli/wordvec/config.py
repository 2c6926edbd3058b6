"""`Word2VecConfig`: every knob of one word2vec run and its default (gensim's, unless noted).

The library owns the defaults: `dlcli word2vec` reads them from this dataclass and never restates
one. Construction resolves the defaults that depend on other knobs (`negative`: 5 noise words, or
0 with `hs=True`) and validates every value, raising `InputError` with the flag's name.
Standard library only: the CLI imports this module to build its options.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlcli.errors import InputError

MODELS = ("cbow", "skipgram")
NEGATIVE = 5  # noise words per positive pair when negative sampling is on (gensim's default)


@dataclass
class Word2VecConfig:
    """Everything one training run needs."""

    model: str = "skipgram"  # "cbow" or "skipgram"
    corpus: str | None = None  # a file, a folder of .txt files, "-" for stdin, None: the sample
    size: int = 100
    window: int = 5
    negative: int | None = None  # None: NEGATIVE, or 0 with hs=True
    hs: bool = False
    min_count: int = 5
    sample: float = 1e-3
    epochs: int = 5
    alpha: float = 0.025
    min_alpha: float = 0.0001
    workers: int | None = None  # gensim threads and tokenising processes; None: every core
    seed: int = 1
    lowercase: bool = True
    raw: bool = False  # whitespace split only: the corpus is already tokenised
    stream: bool = False  # train from a Python iterator instead of gensim's corpus_file mode
    compute_loss: bool = False  # costs ~3% of skip-gram's throughput (README: Performance)
    out: str | None = None  # .txt/.vec (word2vec text) or .bin (binary); None: not saved
    neighbours: int = 5  # frequent words shown with their nearest neighbours after training
    progress_interval: float = 0.25  # seconds between progress callbacks

    def __post_init__(self) -> None:
        if self.negative is None:
            self.negative = 0 if self.hs else NEGATIVE
        self.validate()

    def validate(self) -> None:
        """Raise InputError naming the first bad value (the CLI's flag names)."""
        if self.model not in MODELS:
            raise InputError(f"model {self.model!r}: use one of {', '.join(MODELS)}")
        # upper bounds far past any real use, so that a typo is an error, not a crash deep in
        # numpy ("Maximum allowed dimension exceeded") or a run that never ends
        for name, value, low, high in (
            ("--size", self.size, 1, 100_000),
            ("--window", self.window, 1, 100_000),
            ("--negative", self.negative, 0, 10_000),
            ("--min-count", self.min_count, 1, 2**62),
            ("--epochs", self.epochs, 1, 100_000),
            ("--neighbours", self.neighbours, 0, 10_000),
            ("--workers", self.workers, 1, 1024),
        ):
            if name == "--workers" and value is None:
                continue
            if value is None or not low <= value <= high:
                raise InputError(f"{name} {value}: must be {low} to {high:,}")
        if not self.hs and self.negative == 0:
            raise InputError("--negative 0 needs --hs: one of the two output layers must train")
        if not 0 < self.alpha <= 1:
            raise InputError(f"--alpha {self.alpha}: must be in (0, 1]")
        if not 0 <= self.min_alpha <= self.alpha:
            raise InputError(f"min_alpha {self.min_alpha}: must be in [0, alpha]")
        if self.sample < 0:
            raise InputError(f"--sample {self.sample}: must be 0 (off) or positive")
        if self.seed < 0 or self.seed >= 2**32:
            raise InputError(f"--seed {self.seed}: must be in [0, 2**32)")
        if self.progress_interval <= 0:
            raise InputError(f"progress_interval {self.progress_interval}: must be positive")
