"""Word vectors after training: save, load, and query them (similar, analogy, evaluate).

    save_vectors(wv, out)            word2vec text (.txt/.vec) or binary (.bin), atomically
    load_vectors(path)               -> gensim KeyedVectors (read by vecfile.read_word2vec)
    similar(wv, word, n)             -> Neighbours   (to_dict() = `similar --json`)
    analogy(wv, a, b, c, n)          -> Analogy      (to_dict() = `analogy --json`)
    evaluate_vectors(wv, ...)        -> Evaluation   (to_dict() = `evaluate --json`)
    probe_neighbours(wv, k)          the frequent words shown after training

Queries run on gensim's KeyedVectors, so the answers are gensim's by construction (3CosAdd,
`evaluate_word_analogies`, `evaluate_word_pairs`). gensim, numpy and scipy are imported inside
functions.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError, RunFailure
from dlcli.files import atomic_write, check_regular, is_temporary
from dlcli.lock import Lock
from dlcli.outputs import check_name, check_output
from dlcli.wordvec.config import RESTRICT_VOCAB

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

OUT_SUFFIXES = {".txt": False, ".vec": False, ".bin": True}  # suffix -> binary word2vec format
LABEL = "vectors file"  # how errors name a VECTORS argument


def _finite(x: float | None) -> float | None:
    """JSON has no NaN: None instead."""
    return None if x is None or x != x else x


# --------------------------------------------------------------------------- saving and loading


def check_out_path(out: str) -> bool:
    """Validate --out before any work (`dlcli.outputs.check_output`, after creating a missing
    folder); returns whether the format is binary."""
    check_name(out, "--out")
    suffix = Path(out).suffix.lower()
    if suffix not in OUT_SUFFIXES:
        raise InputError(f"--out {out}: use a .txt or .vec (word2vec text) or .bin (binary) name")
    parent = Path(out).parent
    try:  # as `train --out` does: a missing folder is created
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"--out {out}: cannot create folder {parent} ({exc.strerror or exc}); "
            "choose another place"
        ) from None
    check_output(out, "--out")  # not a device, FIFO, folder or link; not in a run folder
    try:  # before any work: can a file be created beside --out? (the save writes there first)
        fd, probe = tempfile.mkstemp(prefix=f".{Path(out).name}.", suffix=".probe", dir=parent)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write in {parent} ({exc.strerror})") from None
    os.close(fd)
    os.unlink(probe)
    return OUT_SUFFIXES[suffix]


def lock_out(out: str) -> Lock:
    """Hold the lock of --out (`.NAME.lock` beside it; see dlcli.lock), then delete what a killed
    writer of it left there (`.NAME.*.tmp`, `.NAME.*.probe`)."""
    path = Path(out)
    lock = Lock(path.with_name(f".{path.name}.lock"), f"--out {out}").acquire()
    with contextlib.suppress(OSError):
        for entry in path.parent.iterdir():
            name = entry.name
            if is_temporary(name, path.name) or (
                name.startswith(f".{path.name}.") and name.endswith(".probe")
            ):
                with contextlib.suppress(OSError):
                    entry.unlink()
    return lock


def save_vectors(wv: KeyedVectors, out: str) -> None:
    """Write word2vec text or binary format (by suffix) through `dlcli.files.atomic_write`."""
    binary = check_out_path(out)
    try:
        atomic_write(out, lambda tmp: wv.save_word2vec_format(str(tmp), binary=binary))
    except OSError as exc:
        raise RunFailure(f"cannot write --out {out}: {exc.strerror or exc}") from None


def load_vectors(path: str | os.PathLike[str]) -> KeyedVectors:
    """Load word2vec text or binary vectors (or GloVe text) as gensim KeyedVectors.

    The file is read by the one reader, `vecfile.read_word2vec` (numpy), and the arrays become
    KeyedVectors with `add_vectors`: one reader with dlcli's messages for both queries and
    `train lstm --embeddings`, which thus never imports gensim.
    """
    import numpy as np
    from gensim.models import KeyedVectors

    from dlcli.wordvec.vecfile import read_word2vec

    words, vectors = read_word2vec(path, LABEL)
    wv = KeyedVectors(vector_size=vectors.shape[1], dtype=np.float32)
    wv.add_vectors(words, vectors)
    return wv


def as_vectors(vectors: Any) -> KeyedVectors:
    """A path (str or Path) loaded with load_vectors; KeyedVectors as they are."""
    if isinstance(vectors, (str, os.PathLike)):
        return load_vectors(vectors)
    return vectors


# --------------------------------------------------------------------------- queries


@dataclass
class Neighbours:
    """`similar`: the nearest words to `word` by cosine similarity."""

    word: str
    neighbours: list[tuple[str, float]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "word": self.word,
            "neighbours": [{"word": w, "similarity": _finite(s)} for w, s in self.neighbours],
        }


@dataclass
class Analogy:
    """`analogy`: A is to B as C is to each of `answers`."""

    a: str
    b: str
    c: str
    answers: list[tuple[str, float]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "c": self.c,
            "answers": [{"word": w, "similarity": _finite(s)} for w, s in self.answers],
        }


def _unknown(wv: KeyedVectors, word: str) -> InputError:
    hint = ""
    if word.lower() != word and word.lower() in wv.key_to_index:
        hint = f" (did you mean {word.lower()!r}? the vectors were trained lower-cased)"
    return InputError(f"{word!r} is not in the vocabulary ({len(wv.index_to_key)} words){hint}")


def similar(wv: KeyedVectors, word: str, n: int = 10) -> Neighbours:
    """The n nearest words to `word` by cosine similarity."""
    if n < 1:
        raise InputError(f"-n {n}: must be at least 1")
    if word not in wv.key_to_index:
        raise _unknown(wv, word)
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):  # an all-zero vector: NaN, not noise
        found = wv.most_similar(word, topn=n)
    return Neighbours(word, [(w, float(s)) for w, s in found])


def analogy(wv: KeyedVectors, a: str, b: str, c: str, n: int = 5) -> Analogy:
    """A is to B as C is to ?: the n words nearest to B - A + C (3CosAdd, as gensim does)."""
    if n < 1:
        raise InputError(f"-n {n}: must be at least 1")
    for word in (a, b, c):
        if word not in wv.key_to_index:
            raise _unknown(wv, word)
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):  # zero vectors: NaN, not noise
        answers = wv.most_similar(positive=[b, c], negative=[a], topn=n)
    return Analogy(a, b, c, [(w, float(s)) for w, s in answers])


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


# --------------------------------------------------------------------------- evaluation


@dataclass
class Evaluation:
    """Analogy accuracy (per section, semantic vs syntactic) and word-pair correlations.

    Fractions in [0, 1]; None where nothing could be evaluated (never NaN).
    """

    analogies: str
    analogy_accuracy: float | None
    analogy_coverage: float
    analogy_questions: int
    analogy_evaluated: int
    semantic_accuracy: float | None
    syntactic_accuracy: float | None
    pairs: str
    pairs_spearman: float | None
    pairs_pearson: float | None
    pairs_coverage: float
    pairs_total: int
    pairs_evaluated: int
    vocab_size: int
    sections: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "analogies": self.analogies,
            "analogy_accuracy": _finite(self.analogy_accuracy),
            "analogy_coverage": self.analogy_coverage,
            "analogy_questions": self.analogy_questions,
            "analogy_evaluated": self.analogy_evaluated,
            "semantic_accuracy": _finite(self.semantic_accuracy),
            "syntactic_accuracy": _finite(self.syntactic_accuracy),
            "sections": self.sections,
            "pairs": self.pairs,
            "pairs_spearman": _finite(self.pairs_spearman),
            "pairs_pearson": _finite(self.pairs_pearson),
            "pairs_coverage": self.pairs_coverage,
            "pairs_total": self.pairs_total,
            "pairs_evaluated": self.pairs_evaluated,
            "vocab_size": self.vocab_size,
        }


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


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def _analogy_scores(
    wv: KeyedVectors, analogies: str, restrict_vocab: int, case_insensitive: bool
) -> dict[str, Any]:
    """gensim's evaluate_word_analogies, regrouped: per section, semantic vs syntactic, total."""
    questions = _count_questions(analogies)  # first: gensim divides by zero on an empty file
    if questions == 0:
        raise InputError(f"--analogies {analogies} holds no questions ('A B C D' lines)")
    try:
        _score, sections = wv.evaluate_word_analogies(
            analogies, restrict_vocab=restrict_vocab, case_insensitive=case_insensitive
        )
    except (ValueError, UnicodeDecodeError, ZeroDivisionError) as exc:
        raise InputError(f"--analogies {analogies}: {exc}") from exc
    rows = []
    groups = {"semantic": [0, 0], "syntactic": [0, 0]}  # [correct, evaluated]
    for s in sections[:-1]:  # the last is gensim's 'Total accuracy'
        correct, evaluated = len(s["correct"]), len(s["correct"]) + len(s["incorrect"])
        rows.append(
            {
                "section": s["section"],
                "correct": correct,
                "evaluated": evaluated,
                "accuracy": _ratio(correct, evaluated),
            }
        )
        group = groups["syntactic" if s["section"].startswith("gram") else "semantic"]
        group[0] += correct
        group[1] += evaluated
    total = sections[-1]
    correct, evaluated = len(total["correct"]), len(total["correct"]) + len(total["incorrect"])
    return {
        "analogy_accuracy": _ratio(correct, evaluated),
        "analogy_coverage": evaluated / questions,
        "analogy_questions": questions,
        "analogy_evaluated": evaluated,
        "semantic_accuracy": _ratio(*groups["semantic"]),
        "syntactic_accuracy": _ratio(*groups["syntactic"]),
        "sections": rows,
    }


def _pair_scores(
    wv: KeyedVectors, pairs: str, restrict_vocab: int, case_insensitive: bool
) -> dict[str, Any]:
    """gensim's evaluate_word_pairs, with coverage as a fraction and NaN as None."""
    import warnings

    total = _count_pairs(pairs)
    if total == 0:
        raise InputError(f"--pairs {pairs} holds no word pairs ('A<TAB>B<TAB>score' lines)")
    spearman = pearson = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on constant input; the result is NaN then
        try:
            pear, spear, oov_ratio = wv.evaluate_word_pairs(
                pairs, restrict_vocab=restrict_vocab, case_insensitive=case_insensitive
            )
            spearman, pearson = float(spear[0]), float(pear[0])
            coverage = 1.0 - oov_ratio / 100.0
        except ValueError as exc:
            if "No valid similarity judgements" not in str(exc):
                raise InputError(f"--pairs {pairs}: {exc}") from exc
            coverage = 0.0
        except UnicodeDecodeError as exc:
            raise InputError(f"--pairs {pairs}: {exc}") from exc
    return {
        "pairs_spearman": _finite(spearman),
        "pairs_pearson": _finite(pearson),
        "pairs_coverage": coverage,
        "pairs_total": total,
        "pairs_evaluated": round(coverage * total),
    }


def evaluate_vectors(
    wv: KeyedVectors,
    analogies: str | None = None,
    pairs: str | None = None,
    restrict_vocab: int = RESTRICT_VOCAB,
    case_insensitive: bool = True,
) -> Evaluation:
    """Analogy accuracy and word-pair Spearman via gensim (default sets: Google, WordSim-353)."""
    analogies = str(analogies or default_analogies())
    pairs = str(pairs or default_pairs())
    for flag, path in (("--analogies", analogies), ("--pairs", pairs)):
        check_regular(path, flag)
    return Evaluation(
        analogies=analogies,
        pairs=pairs,
        vocab_size=len(wv.index_to_key),
        **_analogy_scores(wv, analogies, restrict_vocab, case_insensitive),
        **_pair_scores(wv, pairs, restrict_vocab, case_insensitive),
    )
