"""The library face of word2vec: what `dlcli word2vec ...` does, as functions.

    word2vec(arch, corpus, out=..., **knobs)   -> TrainResult  (to_dict() = the --json document)
    load_vectors(path)                          -> gensim KeyedVectors
    similar(vectors, word, n)                   -> Neighbours
    analogy(vectors, a, b, c, n)                -> Analogy
    evaluate_vectors(vectors, analogies, pairs) -> Evaluation

`vectors` is a path or loaded KeyedVectors. The knobs and their defaults are `Word2VecConfig`'s,
the very ones the CLI reads. Problems raise `dlcli.errors.InputError` (a ValueError).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dlcli.signatures import with_knobs, word2vec_knobs
from dlcli.wordvec.config import RESTRICT_VOCAB, Word2VecConfig

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

    from dlcli.wordvec.train import EpochReport, Progress, TrainResult
    from dlcli.wordvec.vectors import Analogy, Evaluation, Neighbours


def _warn(message: str) -> None:
    warnings.warn(message, UserWarning, stacklevel=4)


def word2vec(
    arch: str = "skipgram",
    corpus: str | os.PathLike[str] | None = None,
    *,
    out: str | os.PathLike[str] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    on_warning: Callable[[str], None] | None = _warn,
    **knobs: Any,
) -> TrainResult:
    """Train cbow or skipgram vectors on `corpus` (None: the sample); save them to `out` if given.

    Knobs are `Word2VecConfig` fields (size, window, negative, hs, min_count, sample, epochs,
    alpha, workers, seed, lowercase, raw, stream, compute_loss, neighbours, ...). Warnings go to
    `on_warning` (default: Python's `warnings`).

    Example: dlcli.word2vec("cbow", "my-corpus.txt", out="v.bin", size=50, epochs=3).to_dict()
    """
    from dlcli.wordvec.train import train_word2vec

    cfg = Word2VecConfig(
        model=arch,
        corpus=None if corpus is None else os.fspath(corpus),
        out=None if out is None else os.fspath(out),
        **knobs,
    )
    return train_word2vec(cfg, on_progress=on_progress, on_epoch=on_epoch, on_warning=on_warning)


with_knobs(
    word2vec,
    word2vec_knobs(),
    "Knobs (keyword arguments, `Word2VecConfig`'s fields; left out: these defaults, gensim's):",
    families=False,
)


def load_vectors(path: str | os.PathLike[str]) -> KeyedVectors:
    """Word2vec text or binary vectors (or GloVe text) as gensim KeyedVectors."""
    from dlcli.wordvec import vectors

    return vectors.load_vectors(path)


def similar(vectors: Any, word: str, n: int = 10) -> Neighbours:
    """The n nearest words to `word` by cosine similarity."""
    from dlcli.wordvec import vectors as v

    return v.similar(v.as_vectors(vectors), word, n)


def analogy(vectors: Any, a: str, b: str, c: str, n: int = 5) -> Analogy:
    """A is to B as C is to ?: the n words nearest to B - A + C (3CosAdd)."""
    from dlcli.wordvec import vectors as v

    return v.analogy(v.as_vectors(vectors), a, b, c, n)


def evaluate_vectors(
    vectors: Any,
    analogies: str | os.PathLike[str] | None = None,
    pairs: str | os.PathLike[str] | None = None,
    *,
    restrict_vocab: int = RESTRICT_VOCAB,
    case_insensitive: bool = True,
) -> Evaluation:
    """Analogy accuracy and word-pair Spearman, as gensim computes them (default: Google set and
    WordSim-353)."""
    from dlcli.wordvec import vectors as v

    return v.evaluate_vectors(
        v.as_vectors(vectors),
        None if analogies is None else os.fspath(analogies),
        None if pairs is None else os.fspath(pairs),
        restrict_vocab,
        case_insensitive,
    )
