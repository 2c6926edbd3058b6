"""Everything dlcli knows of gensim's internals, in one place: per-job word counts and loss.

gensim fires callbacks only per epoch and keeps one `running_training_loss` per model, which
concurrent workers overwrite (each job copies it as a float32, adds its own loss and writes it
back) and which stops growing once a float32 total is large. So dlcli overrides two private
methods of `Word2Vec`:

- `_do_train_job` (iterator mode: one job of ~10,000 words), and
- `_do_train_epoch` (corpus_file mode: one worker's share of an epoch),

running each on a thin proxy of the model whose own `running_training_loss` starts at zero, and
adds the raw words, trained words and loss of each job to a `Tracker` under a lock. The reported
loss is then exact per epoch whatever the number of workers (equal to gensim's with one worker).

These names are private and may change in any gensim release: `tracked_model_class` checks the
version this was written for (TESTED) and that both methods exist, and otherwise returns plain
`Word2Vec` and the reason, which the caller reports as one warning and trains without the tracker
(no per-epoch loss; in-epoch progress then comes from plain sources, see train.py).
"""

from __future__ import annotations

import re
import threading
from typing import Any

TESTED = ((4, 3), (4, 4))  # gensim major.minor versions these overrides were written and tested for
INTERNALS = ("_do_train_job", "_do_train_epoch")


class Tracker:
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

    def snapshot(self) -> tuple[int, int, float]:
        with self.lock:
            return self.raw_words, self.trained_words, self.loss


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


def _version(text: str) -> tuple[int, int] | None:
    match = re.match(r"(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def unsupported_reason(version: str | None = None) -> str | None:
    """Why the tracker cannot run on this gensim (None: it can)."""
    import gensim
    from gensim.models import Word2Vec

    version = version or gensim.__version__
    parsed = _version(version)
    tested = f"tested {TESTED[0][0]}.{TESTED[0][1]}-{TESTED[1][0]}.{TESTED[1][1]}"
    plain = "training with plain gensim, without per-epoch loss and exact word counts"
    if parsed is None or parsed > TESTED[1]:
        return f"gensim {version} is newer than dlcli's progress tracking ({tested}): {plain}"
    if parsed < TESTED[0]:
        return f"gensim {version} is older than dlcli's progress tracking ({tested}): {plain}"
    missing = [name for name in INTERNALS if not callable(getattr(Word2Vec, name, None))]
    if missing:
        return f"gensim {version} has no Word2Vec.{missing[0]} ({tested}): {plain}"
    return None


_TRACKED: Any = None


def tracked_model_class() -> tuple[Any, str | None]:
    """(model class, reason): gensim's Word2Vec with the tracker, or plain Word2Vec and why.

    A tracked model reports to the `Tracker` in its `dlcli_tracker` attribute (set it before
    training).
    """
    global _TRACKED
    from gensim.models import Word2Vec

    reason = unsupported_reason()
    if reason is not None:
        return Word2Vec, reason
    if _TRACKED is None:
        _TRACKED = _make_tracked_class(Word2Vec)
    return _TRACKED, None


def _make_tracked_class(word2vec: Any) -> Any:
    class TrackedWord2Vec(word2vec):
        dlcli_tracker: Tracker

        def _do_train_job(self, sentences, alpha, inits):  # iterator mode: one 10k-word job
            proxy = _LossProxy(self)
            tally, raw = word2vec._do_train_job(proxy, sentences, alpha, inits)
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
            examples, tally, raw = word2vec._do_train_epoch(
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

    return TrackedWord2Vec
