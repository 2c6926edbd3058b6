"""`Word2VecConfig`: every knob of one word2vec run, its default (gensim's, unless noted) and
its command-line help.

The library owns the defaults and the help: `dlcli word2vec cbow|skipgram` builds its options
from these fields (dlcli/cli/word2vec.py), as `dlcli train` builds its own from the training
configs, and never restates one. Each field's `metadata` carries its help text and, where the
flag is not `--FIELD-NAME` or has a short alias, `flag` / `short` / `metavar`; `negate` marks a
flag that turns the field off (`--no-lowercase`), `argument` the CORPUS argument, `cli=False`
a knob of the library alone. Construction resolves the defaults that depend on other knobs
(`negative`: 5 noise words, or 0 with `hs=True`) and validates every value, raising `InputError`
with the flag's name. Standard library only: the CLI imports this module to build its options.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dlcli.errors import InputError

MODELS = ("cbow", "skipgram")
NEGATIVE = 5  # noise words per positive pair when negative sampling is on (gensim's default)
MIN_ALPHA = 0.0001  # the learning rate's end point (gensim's default)
RESTRICT_VOCAB = 300_000  # evaluation: the most frequent words that count as known (gensim's)


def knob(default: Any, help: str = "", **meta: Any) -> Any:
    """A config field with its command-line help (and flag / short / metavar ...) as metadata."""
    return field(default=default, metadata={"help": help, **meta})


@dataclass
class Word2VecConfig:
    """Everything one training run needs."""

    model: str = knob("skipgram", "cbow or skipgram (the subcommand).", cli=False)
    corpus: str | None = knob(
        None,
        "A text file (.gz/.bz2/.xz too), a folder of .txt files, '-' for stdin, or text8 "
        "(downloaded once; see 'dlcli data') (default: the King James Bible in sample_data/).",
        argument=True,
        metavar="[CORPUS]",
    )
    size: int = knob(100, "Dimensions of the vectors (50-300 is usual).", short="-s")
    window: int = knob(5, "Context words on each side.", short="-w")
    negative: int | None = knob(
        None,  # None: NEGATIVE, or 0 with hs=True
        f"Noise words per positive pair (negative sampling) (default: {NEGATIVE}; 0 with --hs).",
    )
    hs: bool = knob(False, "Hierarchical softmax instead of negative sampling.")
    min_count: int = knob(5, "Drop words seen fewer times.")
    sample: float = knob(1e-3, "Down-sampling threshold of frequent words (0: off).")
    epochs: int = knob(5, "Passes over the corpus.", short="-e")
    alpha: float = knob(0.025, f"Initial learning rate (falls linearly to {MIN_ALPHA}).")
    min_alpha: float = knob(MIN_ALPHA, cli=False)
    workers: int | None = knob(
        None,  # None: every core
        "gensim's worker threads, and the tokenising pass's processes on corpora over 16 MB "
        "(default: all cores).",
        short="-j",
    )
    seed: int = knob(1, "Random seed; the same seed gives the same numbers.")
    lowercase: bool = knob(True, "Keep upper case.", flag="--no-lowercase", negate=True)
    raw: bool = knob(  # whitespace split only: the corpus is already tokenised
        False, "Pre-tokenised corpus: split on whitespace only, keep case and punctuation."
    )
    stream: bool = knob(
        False, "Train from a Python iterator instead of gensim's faster corpus_file mode."
    )
    compute_loss: bool = knob(  # README: Performance
        False, "Compute the loss per epoch (costs ~3% of skip-gram's throughput).", flag="--loss"
    )
    neighbours: int = knob(5, "Frequent words shown with their nearest neighbours.", min=0)
    out: str | None = knob(
        None,  # None: not saved
        "Save the vectors: .txt/.vec (word2vec text) or .bin (word2vec binary).",
        short="-o",
        metavar="FILE",
    )
    progress_interval: float = knob(0.25, "Seconds between progress callbacks.", cli=False)

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
