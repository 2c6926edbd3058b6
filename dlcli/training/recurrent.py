"""Recurrent sequence classifiers: LSTM, GRU and the plain (Elman, tanh) RNN — `train lstm`.

    dense input   x: (B, T, F) float       T steps of F features (digits: 8 rows of 8 pixels;
                                           a CSV time series: one value per step)
    token input   x: (B, T) int64          token ids, right-padded with 0 (<pad>)
                  -> embedding (B, T, E)

    -> nn.LSTM / nn.GRU / nn.RNN, `num_layers` deep, dropout between layers, optionally
       bidirectional -> the last layer's final hidden state (B, dirs*H) -> dropout -> linear.

Variable lengths are read off the padding (`lengths = (x != 0).sum(1)`), so a batch is just the
padded id tensor and the shared training loop needs no extra field. When the lengths in a batch
differ, the embedded batch is packed (`pack_padded_sequence`): the recurrence never runs over
padding, and the final state of each sequence is the one after its own last token (for the
backward direction, after its first). Dense sequences all have one length and are not packed.

Text data (a CSV with a `text` column, or `--data imdb`) is read by `load_data` below, a hook of
this family: the vocabulary is built from the training split only and saved in the model config
(`vocab`), so `evaluate` and `predict` encode new text exactly as training did. `--embeddings`
initialises the table from word2vec vectors (train time only: afterwards the weights live in the
run folder).

The plain RNN is here to show why the LSTM's gated cell state exists: over long sequences its
gradient fades (tests/test_lstm.py, tests/bench/bench_long_memory.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from dlcli.errors import InputError
from dlcli.training.config import CELLS, RecurrentConfig  # noqa: F401 (re-exported)
from dlcli.training.models import register_model

if TYPE_CHECKING:
    import numpy as np

    from dlcli.training.data import DataConfig, Dataset

PAD_INDEX = 0
RNN_CLASSES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class RecurrentClassifier(nn.Module):
    """x: (B, T, F) float or (B, T) token ids -> class scores (B, num_classes)."""

    def __init__(
        self, config: RecurrentConfig, input_size: int, vocab_size: int, num_classes: int
    ) -> None:
        super().__init__()
        self.config = config
        self.embedding: nn.Embedding | None = None
        if vocab_size:
            self.embedding = nn.Embedding(vocab_size, config.embedding_dim, padding_idx=PAD_INDEX)
            self.embedding.weight.requires_grad_(not config.freeze_embeddings)
            input_size = config.embedding_dim
        self.rnn = RNN_CLASSES[config.cell](
            input_size,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            # PyTorch applies it between layers only; with one layer it would just warn.
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.directions = 2 if config.bidirectional else 1
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(self.directions * config.hidden_size, num_classes)
        if config.cell == "lstm":
            # Forget-gate bias 1 (Jozefowicz et al., 2015): remember by default at the start.
            # PyTorch's gate order in the bias: input, forget, cell, output.
            h = config.hidden_size
            with torch.no_grad():
                for name, param in self.rnn.named_parameters():
                    if name.startswith("bias_ih"):
                        param[h : 2 * h].fill_(1.0)

    def load_embeddings(self, vectors: torch.Tensor) -> None:
        """Copy a (vocab_size, embedding_dim) table in (pretrained word vectors)."""
        assert self.embedding is not None
        with torch.no_grad():
            self.embedding.weight.copy_(vectors)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lengths = None
        if self.embedding is not None:
            # x: (B, T) ids, right-padded. An all-padding row reads one <pad> step.
            lengths = (x != PAD_INDEX).sum(1).clamp_(min=1)  # (B,)
            longest = int(lengths.max())
            x = self.embedding(x[:, :longest])  # (B, T', E): no column is all padding
            if int(lengths.min()) == longest:
                lengths = None  # equal lengths: nothing to pack
        if lengths is not None:
            x = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, state = self.rnn(x)
        h_n = state[0] if isinstance(state, tuple) else state  # (layers*dirs, B, H)
        # The last layer's final state per direction (packing: each sequence's own), in the
        # batch's original order.
        last = h_n[-self.directions :].transpose(0, 1).reshape(h_n.shape[1], -1)
        return self.fc(self.dropout(last))  # (B, dirs*H) -> (B, classes)

    def exportable(self) -> nn.Module:
        """This classifier in a form that exporters can trace (see `UnpackedRecurrent`); dense
        sequences (one length, never packed) trace as they are."""
        return UnpackedRecurrent(self) if self.embedding is not None else self


# --- text data: the family's data hooks ---------------------------------------------------------


def is_text_csv(path: Path, text_column: str) -> bool:
    """True when `path` is a CSV whose header names `text_column` (cheap: reads one line)."""
    import csv

    from dlcli.files import open_binary, read_errors
    from dlcli.training.data import input_kind

    if input_kind(path) != "csv":
        return False
    try:
        with open_binary(path) as fh:
            first = fh.readline(1 << 20).decode("utf-8-sig", errors="replace")  # header only
        header = next(csv.reader([first]), [])
    except (*read_errors(), csv.Error):
        return False  # the shared CSV reader reports the problem with its own message
    return text_column in (h.strip() for h in header)


def is_standard_text(source: str) -> bool:
    """A standard text dataset by name (imdb), downloaded into the cache on first use."""
    from dlcli.datasets.registry import DATASETS, is_named

    return is_named(source) and DATASETS[source.strip().lower()].kind == "text"


def load_data(config: RecurrentConfig, data: DataConfig, seed: int) -> Dataset | None:
    """Text CSV or a standard text dataset (imdb: its official test set kept as the test split)
    -> a Dataset of padded token ids (N, T); None for everything else (the shared loaders read
    it: digits as 8 rows of 8 pixels, CSV time series one value per step).

    At train time (`config.vocab` empty) the vocabulary is built from the training split of the
    seeded split the loop will make, and stored in `config.vocab`; `--embeddings` are read into
    the table the builder starts from (`Dataset.init['embeddings']`, never saved). With
    `config.vocab` set (evaluate, resume) it is reused as saved.
    """
    import numpy as np

    from dlcli.training.data import Dataset, class_names_of, input_kind, split_indices
    from dlcli.training.data.text import TextTable, Vocabulary, encode, read_text_csv, tokenize

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
    if not config.vocab:
        split = split_indices(y, data.test_fraction, data.val_fraction, seed, fixed_test)
        pretrained = _build_vocabulary(
            config, [tokens[i] for i in split.train.tolist()], seed, info, notes
        )
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
    )


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


@register_model(
    "lstm",
    RecurrentConfig,
    layout="sequence",
    describe=describe,
    load_data=load_data,
    read_inputs=read_texts,
)
def build_recurrent(
    config: RecurrentConfig,
    input_shape: tuple[int, ...],
    num_classes: int,
    embeddings: np.ndarray | None = None,
) -> nn.Module:
    """(T, F) dense input or (T,) token ids (when `config.vocab` is set). `embeddings`: a
    pretrained (vocab, embedding_dim) table to start from (`load_data` gives it, train time)."""
    vocab_size = len(config.vocab)
    input_size = 1 if vocab_size else input_shape[-1]
    model = RecurrentClassifier(config, input_size, vocab_size, num_classes)
    if embeddings is not None and model.embedding is not None:
        model.load_embeddings(torch.from_numpy(embeddings))
    return model


# --- export: the same classifier without packing ------------------------------------------------


class UnpackedRecurrent(nn.Module):
    """A `RecurrentClassifier` of token ids rewritten without `pack_padded_sequence`: the same
    class scores from tensor operations alone, so that tracing exporters (ONNX, TorchScript,
    `torch.export`) keep every batch size and sequence length and bake no data-dependent shape in.

    `RecurrentClassifier.forward` slices the batch to its longest text and packs it; both read
    the lengths as Python numbers, which a trace would freeze. Here each layer and direction is a
    one-layer recurrence over the whole padded batch, (B, T, .):
      forward direction   run over the padded rows as they are; a step depends only on earlier
                          steps, so the state at the text's last token (index length-1) is the
                          packed run's final state
      backward direction  run over each row reversed within its length (padding stays at the
                          end), which makes its state at index length-1 the state after the
                          first token; reversed back, step t lines up with token t for the next
                          layer, as the packed bidirectional output does
    Weights are shared with the classifier (not copied). Inputs (B, T) int64, any T >= 1.
    """

    def __init__(self, model: RecurrentClassifier) -> None:
        super().__init__()
        assert model.embedding is not None, "dense sequences need no unpacking"
        config = model.config
        self.embedding = model.embedding
        self.fc = model.fc
        self.directions = model.directions
        cells = []
        for layer in range(config.num_layers):
            for suffix in ("", "_reverse")[: self.directions]:
                cell = RNN_CLASSES[config.cell](
                    getattr(model.rnn, f"weight_ih_l{layer}").shape[1],
                    config.hidden_size,
                    batch_first=True,
                )
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    setattr(cell, f"{name}_l0", getattr(model.rnn, f"{name}_l{layer}{suffix}"))
                cells.append(cell)
        self.cells = nn.ModuleList(cells)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        lengths = (ids != PAD_INDEX).sum(1).clamp(min=1)  # (B,): an all-padding row reads one step
        steps = torch.arange(ids.shape[1], device=ids.device)[None, :]  # (1, T)
        # reversal within each row's length: an involution that leaves the padding in place
        flip = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)  # (B, T)
        last = (lengths - 1)[:, None, None]  # (B, 1, 1): index of each row's last token
        x = self.embedding(ids)  # (B, T, E)
        finals: list[torch.Tensor] = []
        for start in range(0, len(self.cells), self.directions):
            outputs, finals = [], []
            for d in range(self.directions):
                seq = x if d == 0 else _gather_steps(x, flip)
                out, _ = self.cells[start + d](seq)  # (B, T, H)
                finals.append(out.gather(1, last.expand(-1, 1, out.shape[2])).squeeze(1))
                outputs.append(out if d == 0 else _gather_steps(out, flip))
            x = torch.cat(outputs, dim=2)  # (B, T, dirs*H): the next layer's input
        return self.fc(torch.cat(finals, dim=1))  # (B, dirs*H) -> (B, classes); dropout: eval


def _gather_steps(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """x (B, T, F) with its steps taken in `order` (B, T) per row."""
    return x.gather(1, order[:, :, None].expand(-1, -1, x.shape[2]))
