"""The `lstm` family: a recurrent sequence classifier (LSTM, GRU or plain RNN), on dense sequences
or on text (the network itself: `nets/recurrent.py`).

Text data (a CSV with a `text` column, or `--data imdb`) is read by `load_data` below, a hook of
this family: the vocabulary is built from the training split only and saved in the model config
(`vocab`), so `evaluate` and `predict` encode new text exactly as training did. `--embeddings`
initialises the table from word2vec vectors (train time only: afterwards the weights live in the
run folder).

The plain RNN is here to show why the LSTM's gated cell state exists: over long sequences its
gradient fades (tests/training/test_lstm.py, tests/bench/bench_long_memory.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError
from dlcli.training.config import check, choice, knob
from dlcli.training.families.family import Family, Footprint, dims

if TYPE_CHECKING:
    import numpy as np

    from dlcli.training.config import DataConfig
    from dlcli.training.data import Dataset
    from dlcli.training.families.nets.recurrent import RecurrentClassifier

CELLS = ("lstm", "gru", "rnn")


@dataclass
class RecurrentConfig:
    """The recurrent family's knobs (saved in config.json; `vocab` is filled in from text)."""

    cell: str = knob(
        "lstm",
        "Recurrent cell; the plain tanh RNN shows what the LSTM's gates fix.",
        choices=CELLS,
    )
    hidden_size: int = knob(128, "Units per layer.")
    num_layers: int = knob(1, "Stacked layers.")
    bidirectional: bool = knob(
        True, "Also read each sequence backwards.", flag="--bidirectional/--unidirectional"
    )
    dropout: float = knob(0.0, "Dropout between layers and before the classifier.", metavar="P")
    # Text data only:
    embedding_dim: int = knob(64, "Text: word vector size (from the file with --embeddings).")
    embeddings: str | None = knob(
        None,
        "Text: initialise the word vectors from a word2vec text or binary file.",
        metavar="VECTORS",
    )
    freeze_embeddings: bool = knob(False, "Text: keep the pretrained vectors fixed.")
    text_column: str = knob(
        "text",
        "A CSV with this column is read as text (labels in --target, default 'label').",
        metavar="NAME",
    )
    min_count: int = knob(1, "Text: rarer words in the training split become <unk>.")
    max_length: int | None = knob(
        None, "Text: keep the first N tokens (default: all).", metavar="N"
    )
    # <pad>, <unk>, words; empty for dense sequences. Filled from the data, not a knob.
    vocab: tuple[str, ...] = field(default=(), metadata={"cli": False})

    def __post_init__(self) -> None:
        self.cell = choice("cell", self.cell, CELLS)
        for name in ("hidden_size", "num_layers", "embedding_dim", "min_count"):
            value = getattr(self, name)
            check(value >= 1, f"invalid --{name.replace('_', '-')} {value}: expected at least 1")
        check(
            self.max_length is None or self.max_length >= 1,
            f"invalid --max-length {self.max_length}: expected at least 1",
        )
        check(0.0 <= self.dropout < 1.0, f"invalid --dropout {self.dropout}: expected 0 <= P < 1")
        check(
            not self.freeze_embeddings or bool(self.embeddings),
            "--freeze-embeddings needs pretrained vectors: give --embeddings",
        )


# --- text data: the family's data hooks ---------------------------------------------------------


def is_text_csv(path: Path, text_column: str) -> bool:
    """True when `path` is a CSV whose header names `text_column` (cheap: reads one line)."""
    import csv

    from dlcli.files import open_binary, read_errors
    from dlcli.training.data import input_kind

    if input_kind(path) != "csv":
        return False
    errors: tuple[type[BaseException], ...] = (*read_errors(), csv.Error)
    try:
        with open_binary(path) as fh:
            first = fh.readline(1 << 20).decode("utf-8-sig", errors="replace")  # header only
        header = next(csv.reader([first]), [])
    except errors:
        return False  # the shared CSV reader reports the problem with its own message
    return text_column in (h.strip() for h in header)


def is_standard_text(source: str) -> bool:
    """A standard text dataset by name (imdb), downloaded into the cache on first use."""
    from dlcli.datasets.registry import DATASETS, is_named

    return is_named(source) and DATASETS[source.strip().lower()].kind == "text"


def load_data(
    config: RecurrentConfig, data: DataConfig, seed: int, regression: bool = False
) -> Dataset | None:
    """Text CSV or a standard text dataset (imdb: its official test set kept as the test split)
    -> a Dataset of padded token ids (N, T); None for everything else (the shared loaders read
    it: digits as 8 rows of 8 pixels, CSV time series one value per step).

    At train time (`config.vocab` empty) the vocabulary is built from the training split of the
    seeded split the loop will make, and stored in `config.vocab`; `--embeddings` are read into
    the table the builder starts from (`Dataset.init['embeddings']`, never saved). With
    `config.vocab` set (evaluate, resume) it is reused as saved. `regression` (numeric targets):
    the run's split is not stratified, so neither is the one the vocabulary is built from.
    """
    import numpy as np

    from dlcli.training.data import Dataset, class_names_of, input_kind
    from dlcli.training.data.text import TextTable, Vocabulary, encode, read_text_csv, tokenize
    from dlcli.training.families.nets.recurrent import PAD_INDEX

    path = Path(data.source).expanduser()
    standard = is_standard_text(data.source)
    if not (standard or config.vocab or is_text_csv(path, config.text_column)):
        if config.text_column != "text" and input_kind(path) == "csv":
            raise InputError(f"{path}: no column '{config.text_column}' (--text-column)")
        if config.embeddings:
            raise InputError(
                f"--embeddings needs text data (a CSV with a '{config.text_column}' column); "
                f"'{data.source}' is read as numeric sequences"
            )
        return None
    fixed_test = None  # a standard dataset's official test set
    if standard:
        from dlcli.datasets.api import load_texts

        named = load_texts(data.source)
        table = TextTable(named.texts, named.labels)
        fixed_test, name = named.test, named.name
        if config.max_length is None:
            table.warnings.append(
                f"{name}: the longest text sets the width of every row; --max-length 256 "
                "(say) keeps memory and time in check"
            )
    else:
        table = read_text_csv(path, config.text_column, data.target or "label")
        name = str(path)
    tokens = [tokenize(t) for t in table.texts]
    names = class_names_of(table.labels)
    index = {n: i for i, n in enumerate(names)}
    y = np.fromiter((index[v] for v in table.labels), dtype=np.int64, count=len(table.labels))
    notes = list(table.warnings)
    info: dict[str, Any] = {}
    pretrained: dict[str, Any] = {}  # for the builder, train time only (unsaved)
    if not config.vocab:  # from the training part of the split the run will make
        train = _train_rows(y, data, seed, fixed_test, regression)
        pretrained = _build_vocabulary(config, [tokens[i] for i in train], seed, info, notes)
    vocab = Vocabulary(list(config.vocab))
    ids = encode(tokens, vocab, config.max_length)
    lengths = (ids != PAD_INDEX).sum(1)
    info.setdefault("vocab_size", len(vocab))
    info["tokens_per_text"] = {"mean": round(float(lengths.mean()), 2), "max": int(ids.shape[1])}
    info["warnings"] = notes
    return Dataset(
        x=ids,
        y=y,
        class_names=names,
        name=name,
        extra={"notes": notes, "info": info},
        init=pretrained,
        fixed_test=fixed_test,
        target_names=[] if standard else [data.target or "label"],
    )


def _train_rows(
    y: np.ndarray, data: DataConfig, seed: int, fixed_test: Any, regression: bool
) -> list[int]:
    """The rows of the run's training split (`runs.spec.run_split`'s rule: stratified by class,
    or for regression seeded but not stratified)."""
    from dlcli.training.data import split_indices

    split = split_indices(
        y, data.test_fraction, data.val_fraction, seed, fixed_test, stratified=not regression
    )
    return split.train.tolist()


def _build_vocabulary(
    config: RecurrentConfig, train_tokens: list[list[str]], seed: int, info: dict, notes: list
) -> dict[str, Any]:
    """Build the vocabulary from the training split into `config.vocab`; with `--embeddings`,
    the table the builder starts from ({'embeddings': (V, E)}) and its coverage in info/notes."""
    from collections import Counter

    from dlcli.training.data.text import Vocabulary, embedding_table, read_word2vec

    vocab = Vocabulary.build(train_tokens, config.min_count)
    config.vocab = tuple(vocab.words)
    info["vocab_size"] = len(vocab)
    if not config.embeddings:
        return {}
    words, vectors = read_word2vec(config.embeddings)
    config.embedding_dim = int(vectors.shape[1])
    # Tokens per vocabulary entry in the training split (<unk> included, never covered).
    counts = Counter(vocab.words[i] for ts in train_tokens for i in vocab.ids(ts))
    init, coverage = embedding_table(vocab, words, vectors, seed, counts)
    info["embeddings"] = {"file": config.embeddings, "dim": int(vectors.shape[1])}
    info["embedding_coverage"] = coverage.to_dict()
    notes.append(
        f"embeddings {config.embeddings}: {coverage.words} of {coverage.vocab} vocabulary "
        f"words ({coverage.fraction:.1%}, {coverage.tokens:.1%} of training tokens) have "
        "a pretrained vector; the rest start as small random vectors"
        + ("; frozen" if config.freeze_embeddings else "")
    )
    return {"embeddings": init}


def read_texts(
    config: RecurrentConfig, path: Path, sample_shape: tuple[int, ...], target: str | None
) -> tuple[np.ndarray, list[str] | None] | None:
    """`evaluate --data` / `predict` inputs for a text model: a CSV with the text column (labels
    when it has the label column) or a .txt file with one text per line. Token ids (N, T) with
    T = the training width (longer texts are cut as in training); None if not text input."""
    import numpy as np

    from dlcli.training.data import input_kind
    from dlcli.training.data.text import Vocabulary, encode, read_text_csv, tokenize

    if not config.vocab:
        return None
    label_column = target or "label"
    if input_kind(path) == "text":
        from dlcli.training.data.text import decode_text

        texts = [line for line in decode_text(path).splitlines() if line.strip()]
        if not texts:
            raise InputError(f"{path}: no lines of text")
        labels = None
    elif is_text_csv(path, config.text_column):
        table = read_text_csv(path, config.text_column, label_column, training=False)
        texts, labels = table.texts, (table.labels or None)
    else:
        raise InputError(
            f"{path}: this model reads text: give a CSV with a '{config.text_column}' column "
            "or a .txt file with one text per line"
        )
    ids = encode([tokenize(t) for t in texts], Vocabulary(list(config.vocab)), sample_shape[0])
    if ids.shape[1] < sample_shape[0]:  # pad to the training width
        ids = np.pad(ids, ((0, 0), (0, sample_shape[0] - ids.shape[1])))
    return ids, labels


# --- the family ---------------------------------------------------------------------------------


def describe(config: RecurrentConfig, input_shape: tuple[int, ...], num_classes: int) -> list[dict]:
    """Rows for the table before training: embedding, each recurrent layer, classifier."""
    model = build_recurrent(config, input_shape, num_classes)
    dirs = 2 if config.bidirectional else 1
    steps = input_shape[0]
    rows: list[dict] = [{"layer": "input", "output": list(input_shape), "params": None}]
    if model.embedding is not None:
        rows.append(
            {
                "layer": f"embedding {len(config.vocab)}x{config.embedding_dim}"
                + (" (frozen)" if config.freeze_embeddings else ""),
                "output": [steps, config.embedding_dim],
                "params": model.embedding.weight.numel(),
            }
        )
    for layer in range(config.num_layers):
        params = sum(
            p.numel()
            for name, p in model.rnn.named_parameters()
            if re.search(rf"_l{layer}(_reverse)?$", name)
        )
        kind = ("bi" if dirs == 2 else "") + config.cell
        rows.append(
            {
                "layer": f"{kind} {config.hidden_size}",
                "output": [steps, dirs * config.hidden_size],
                "params": params,
            }
        )
    rows.append({"layer": "final state", "output": [dirs * config.hidden_size], "params": 0})
    rows.append(
        {
            "layer": f"linear {dirs * config.hidden_size}->{num_classes}",
            "output": [num_classes],
            "params": sum(p.numel() for p in model.fc.parameters()),
        }
    )
    return rows


def build_recurrent(
    config: RecurrentConfig,
    input_shape: tuple[int, ...],
    num_classes: int,
    embeddings: np.ndarray | None = None,
) -> RecurrentClassifier:
    """(T, F) dense input or (T,) token ids (when `config.vocab` is set). `embeddings`: a
    pretrained (vocab, embedding_dim) table to start from (`load_data` gives it, train time)."""
    import torch

    from dlcli.training.families.nets.recurrent import RecurrentClassifier

    vocab_size = len(config.vocab)
    input_size = 1 if vocab_size else input_shape[-1]
    model = RecurrentClassifier(config, input_size, vocab_size, num_classes)
    if embeddings is not None and model.embedding is not None:
        model.load_embeddings(torch.from_numpy(embeddings))
    return model


def footprint(config: RecurrentConfig, shape: tuple[int, ...], classes: int) -> Footprint:
    if config.vocab:
        dims("lstm", shape, 1, "token ids (T,)")
    else:
        dims("lstm", shape, 2, "sequences (T, F)")
    gates = {"lstm": 4, "gru": 3, "rnn": 1}.get(config.cell, 4)
    dirs = 2 if config.bidirectional else 1
    h, steps = config.hidden_size, shape[0]
    params = 0
    width = shape[-1] if len(shape) > 1 else 1
    if config.vocab:
        params += len(config.vocab) * config.embedding_dim
        width = config.embedding_dim
    for layer in range(config.num_layers):
        inputs = width if layer == 0 else dirs * h
        params += dirs * gates * h * (inputs + h + 2)  # weights and both biases
    outputs = steps * width + config.num_layers * steps * dirs * h * (gates + 1)
    return Footprint(params + (dirs * h + 1) * classes, outputs + classes)


HELP = """A recurrent sequence classifier: LSTM, GRU or plain RNN.

    Data: digits read as 8 rows of 8 pixels (the default); a CSV time series, one sequence per
    row (one value per step); or text: a CSV with 'text' and 'label' columns is tokenised, a
    vocabulary is built from the training split, and variable lengths are packed so that the
    recurrence never runs over padding.

    \b
    Examples:
      dlcli train lstm                            # digits as sequences of rows
      dlcli train lstm --cell rnn --unidirectional  # the plain RNN, to compare
      dlcli train lstm --data sample_data/reviews.csv --epochs 5
      dlcli train lstm --data imdb --max-length 256 --min-count 5
      dlcli train lstm --data reviews.csv --embeddings vec.bin --freeze-embeddings
    """

FAMILY = Family(
    name="lstm",
    config_cls=RecurrentConfig,
    build=build_recurrent,
    help=HELP,
    layout="sequence",
    footprint=footprint,
    describe=describe,
    load_data=load_data,
    read_inputs=read_texts,
    sweep_example=("cell", ("lstm", "gru", "rnn")),
    # Adam at 1e-3 leaves the digits LSTM at ~0.95 after 20 epochs; 3e-3 reaches 0.975-0.98
    # (tests/bench/bench_resnet_lstm_quality.py).
    train_defaults={"epochs": 20},
    lr={"adam": 3e-3},
)
